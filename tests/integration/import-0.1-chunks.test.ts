import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UseLiteEmbedder } from '../../src/adapters/embedder/use-lite.js';
import { cacheFileName01, decodeCacheRecords01 } from '../../src/adapters/sqlite/import-0.1-chunks.js';
import { loadConfig } from '../../src/config.js';
import { buildContainer, type Container } from '../../src/container.js';
import { createLogger } from '../../src/logger.js';
import type { Embedder } from '../../src/ports/embedder.js';
import { HashingEmbedder } from '../contract/llm-test-embedder.js';
import { ROOT } from '../helpers/paths.js';

const FIXTURE = join(ROOT, 'tests/fixtures/data-0.1');
const expected = JSON.parse(await readFile(`${FIXTURE}.expected.json`, 'utf8'));

/** USE lite for questions, and a failure for any chunk: the import must find every chunk's vector in the imported cache. */
class QueriesOnly implements Embedder {
  constructor(private readonly model: UseLiteEmbedder) {}
  get id(): string {
    return this.model.id;
  }
  dimensions(): Promise<number> {
    return this.model.dimensions();
  }
  async embedDocuments(texts: readonly string[]): Promise<Float32Array[]> {
    throw new Error(`embedded again: ${texts.length} chunks`);
  }
  embedQuery(text: string): Promise<Float32Array> {
    return this.model.embedQuery(text);
  }
  health(): Promise<void> {
    return this.model.health();
  }
  async close(): Promise<void> {}
}

/** A 0.1 cache record, as 0.1 wrote it. */
function record01(hash: Buffer, vector: Float32Array): Buffer {
  const buf = Buffer.alloc(40 + vector.length * 4 + 4);
  buf.write('EMB1', 0, 'latin1');
  buf.writeUInt32LE(vector.length, 4);
  hash.copy(buf, 8);
  for (const [i, x] of vector.entries()) buf.writeFloatLE(x, 40 + i * 4);
  buf.writeUInt32LE(crc32(buf.subarray(4, 40 + vector.length * 4)), 40 + vector.length * 4);
  return buf;
}

describe('import of 0.1 data: the embedding cache and the chunks rebuilt from it', () => {
  const model = new UseLiteEmbedder();
  const cleanups: Array<() => Promise<unknown>> = [];
  beforeAll(async () => {
    await model.dimensions();
  });
  afterEach(async () => {
    for (const f of cleanups.splice(0).reverse()) await f();
  });
  afterAll(async () => {
    await model.close();
  });

  async function open(embedder: Embedder): Promise<Container> {
    const dir = await mkdtemp(join(tmpdir(), 'air-import-chunks-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await cp(FIXTURE, dir, { recursive: true });
    const c = buildContainer(
      loadConfig(
        {},
        { dotenvPath: null, overrides: { DATA_DIR: dir, LOG_LEVEL: 'silent', REDIS_URL: '', DATABASE_URL: '' } },
      ),
      createLogger('silent'),
      {
        role: 'local',
        overrides: { embedder },
      },
    );
    cleanups.push(() => c.close());
    return c;
  }

  it("names 0.1's cache file of the configured model as 0.1 did", () => {
    expect(cacheFileName01(model.id)).toBe('use-lite_0.2.0-d559b776d22f9ba3.bin');
  });

  it("imports every vector of the cache and rebuilds each live version's chunks with them, embedding nothing; retrieval then finds them", async () => {
    const c = await open(new QueriesOnly(model));
    const cacheBytes = (await readFile(join(FIXTURE, 'embedding-cache', cacheFileName01(model.id)))).length;
    const summary = (await c.importLegacy())!;
    expect(summary.steps.embeddingCache).toEqual({
      vectors: cacheBytes / (40 + 512 * 4 + 4),
      damagedBytes: 0,
      otherModelFiles: 0,
    });
    expect(summary.steps.chunks).toMatchObject({
      documents: expected.documents.length,
      alreadyThere: 0,
      embedded: 0,
      missingTexts: 0,
    });
    const ns: string = expected.namespace;
    for (const doc of expected.documents as Array<{ id: string; version: string; chunkCount: number }>) {
      const text = (await c.documents.getText(ns, doc.id, doc.version))!;
      const chunks = await c.vectors.getChunks(ns, { documentId: doc.id, version: doc.version });
      // Cut as 0.1 cut them: as many chunks as its record says, each the text between its offsets.
      expect(chunks).toHaveLength(doc.chunkCount);
      chunks.forEach((ch, i) => {
        expect(ch.order).toBe(i);
        expect(ch.text).toBe(text.slice(ch.start, ch.end));
      });
      // The vectors are the model's for those texts (USE lite is deterministic): each chunk scores 1 against its own text.
      const [own] = await model.embedDocuments([chunks[0]!.text]);
      const scored = await c.vectors.scoreAll(ns, [{ documentId: doc.id, version: doc.version }], own!);
      expect(scored.find((s) => s.chunk.order === 0)!.score).toBeCloseTo(1, 5);
    }
    const hits = await c.vectors.searchText!(
      ns,
      [{ documentId: 'orchard', version: expected.documents.find((d: { id: string }) => d.id === 'orchard').version }],
      'When is cider pressed?',
      5,
    );
    expect(hits.length).toBeGreaterThan(0);
    // A second run adds nothing.
    const again = (await c.importLegacy({ force: true }))!;
    expect(again.steps.chunks).toMatchObject({ documents: 0, alreadyThere: expected.documents.length, embedded: 0 });
  });

  it("embeds, and counts, the chunks whose vectors the cache lacks (another model's file is not read)", async () => {
    const other = new HashingEmbedder();
    const c = await open(other);
    const summary = (await c.importLegacy())!;
    expect(summary.steps.embeddingCache).toEqual({ vectors: 0, damagedBytes: 0, otherModelFiles: 1 });
    expect(summary.steps.chunks).toMatchObject({
      documents: expected.documents.length,
      fromCache: 0,
      embedded: expected.documents.length,
    });
  });

  it('decodes whole records only: a torn record at the end is left for the next read, garbage between records is skipped', () => {
    const a = record01(Buffer.alloc(32, 1), Float32Array.from([1, 2, 3]));
    const b = record01(Buffer.alloc(32, 2), Float32Array.from([-1, 0.5]));
    const { records, consumed, skippedBytes } = decodeCacheRecords01(
      Buffer.concat([a, Buffer.from('EMB1garbage'), b, b.subarray(0, 20)]),
    );
    expect(records.map((r) => [r.key.slice(0, 4), [...r.vector]])).toEqual([
      ['0101', [1, 2, 3]],
      ['0202', [-1, 0.5]],
    ]);
    expect(skippedBytes).toBe(11);
    expect(consumed).toBe(a.length + 11 + b.length);
    const damaged = Buffer.from(a);
    damaged[45] = damaged[45]! ^ 0xff;
    expect(decodeCacheRecords01(Buffer.concat([damaged, b])).records.map((r) => r.key.slice(0, 4))).toEqual(['0202']);
  });
});
