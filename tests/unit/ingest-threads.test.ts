import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { buildContainer, type Container } from '../../src/container.js';
import { ingestingService, OwnSqliteDocumentStore, OwnSqliteVectorStore } from '../helpers/stores.js';
import { InProcessQueue } from '../../src/adapters/job-queue/in-process.js';
import { UseLiteEmbedder } from '../../src/adapters/embedder/use-lite.js';
import { chunkText } from '../../src/core/ingest/chunker.js';
import type { DocumentService, SubmitResult } from '../../src/core/ingest/document-service.js';
import { TokenPool } from '../../src/infra/token-pool.js';
import type { ChunkSizes, TokenWork } from '../../src/ports/token-work.js';
import { cl100k } from '../../src/core/tokenizer.js';
import type { Embedder } from '../../src/ports/embedder.js';
import { HashingEmbedder } from '../contract/llm-test-embedder.js';
import { LARA_DIR } from '../helpers/paths.js';

const logger = pino({ level: 'silent' });
const book = readFileSync(`${LARA_DIR}/documents/128k/book/A Room with a View.txt`, 'utf8');
const sizes: ChunkSizes = { chunkTokens: 400, overlapTokens: 40 };

/** A TokenWork that records the texts it was asked about, and may act when chunking starts. */
class Recording implements TokenWork {
  readonly counted: number[] = [];
  readonly chunked: number[] = [];
  onChunk: (() => void) | undefined;
  constructor(private readonly inner: TokenWork) {}
  count(text: string, signal?: AbortSignal): Promise<number> {
    this.counted.push(text.length);
    return this.inner.count(text, signal);
  }
  chunk(text: string, s: ChunkSizes, signal?: AbortSignal) {
    this.chunked.push(text.length);
    const out = this.inner.chunk(text, s, signal);
    this.onChunk?.();
    return out;
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('DocumentService with its tokenizer work on a TokenPool thread', () => {
  let dir: string;
  let docs: OwnSqliteDocumentStore;
  let vectors: OwnSqliteVectorStore;
  let pool: TokenPool;
  const queues: InProcessQueue[] = [];

  const service = (
    work: TokenWork,
    embedder: Embedder = new HashingEmbedder(),
  ): { service: DocumentService; queue: InProcessQueue } => {
    const queue = new InProcessQueue({ logger });
    queues.push(queue);
    const s = ingestingService({
      documents: docs,
      vectors,
      embedder,
      queue,
      ...sizes,
      maxDocumentTokens: 2_000_000,
      embedBatchSize: 16,
      tokenWork: work,
      logger,
    });
    return { service: s, queue };
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ingest-threads-'));
    docs = new OwnSqliteDocumentStore(dir);
    vectors = new OwnSqliteVectorStore(dir);
    pool = new TokenPool();
  });
  afterEach(async () => {
    for (const q of queues.splice(0)) await q.close();
    await pool.close();
    await vectors.close();
    await docs.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('stores exactly the chunks chunkText gives and the exact cl100k count, counting the book once (at submit) and chunking it once', async () => {
    const work = new Recording(pool);
    const { service: s, queue } = service(work);
    await queue.start();
    const { document } = await s.submit({ namespace: 'ns', id: 'room', text: book, source: 'json' });
    expect(document.tokens).toBe(cl100k.count(book));
    await queue.drain();

    const d = await s.get('ns', 'room');
    expect(d).toMatchObject({ status: 'ready', tokens: cl100k.count(book), chars: book.length, error: null });
    const expected = chunkText(book, sizes);
    expect(d.chunkCount).toBe(expected.length);
    const stored = (await vectors.getChunks('ns', { documentId: 'room', version: d.version! })).sort(
      (a, b) => a.order - b.order,
    );
    expect(stored.map(({ order, start, end, tokens, text }) => ({ order, start, end, tokens, text }))).toEqual(
      expected,
    );
    expect(work.counted).toEqual([book.length]);
    expect(work.chunked).toEqual([book.length]);
  });

  it('leaves a document interrupted by a shutdown while it is chunked pending, not failed, and a restart indexes it', async () => {
    const work = new Recording(pool);
    const first = service(work);
    work.onChunk = () => void first.queue.close();
    await first.queue.start();
    await first.service.submit({ namespace: 'ns', id: 'room', text: book, source: 'json' });
    await first.queue.drain().catch(() => undefined);
    await first.queue.close();

    expect(work.chunked).toEqual([book.length]);
    const stopped = await first.service.get('ns', 'room');
    expect(stopped.status).not.toBe('failed');
    expect(stopped.error).toBeNull();
    expect(stopped.pending).not.toBeNull();

    const again = service(pool);
    await again.queue.start();
    expect(await again.service.recoverPending()).toBe(1);
    await again.queue.drain();
    const d = await again.service.get('ns', 'room');
    expect(d).toMatchObject({
      status: 'ready',
      pending: null,
      tokens: cl100k.count(book),
      chunkCount: chunkText(book, sizes).length,
    });
  });

  it('leaves a document interrupted by a shutdown while USE lite embeds it pending: the embedder stops with CANCELLED (transient), and a restart indexes it', async () => {
    const text = book.slice(0, 40_000);
    const useLite = new UseLiteEmbedder({ batchSize: 4 });
    try {
      const errors: unknown[] = [];
      let first: { service: DocumentService; queue: InProcessQueue } | undefined;
      // USE lite itself, except that the first embedding call stops the queue (as a shutdown does) once under way; keeps what USE lite answered.
      const stopping: Embedder = {
        id: useLite.id,
        dimensions: () => useLite.dimensions(),
        embedQuery: (q, signal) => useLite.embedQuery(q, signal),
        health: () => useLite.health(),
        close: async () => {},
        embedDocuments: (texts, signal) => {
          const call = useLite.embedDocuments(texts, signal);
          void first?.queue.close();
          return call.catch((err: unknown) => {
            errors.push(err);
            throw err;
          });
        },
      };
      first = service(pool, stopping);
      await first.queue.start();
      await first.service.submit({ namespace: 'ns', id: 'room', text, source: 'json' });
      await first.queue.drain().catch(() => undefined);
      await first.queue.close();

      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ code: 'CANCELLED', transient: true });
      const stopped = await first.service.get('ns', 'room');
      expect(stopped.status).not.toBe('failed');
      expect(stopped.error).toBeNull();
      expect(stopped.pending).not.toBeNull();

      const again = service(pool, useLite);
      await again.queue.start();
      expect(await again.service.recoverPending()).toBe(1);
      await again.queue.drain();
      const d = await again.service.get('ns', 'room');
      expect(d).toMatchObject({
        status: 'ready',
        pending: null,
        tokens: cl100k.count(text),
        chunkCount: chunkText(text, sizes).length,
      });
    } finally {
      await useLite.close();
    }
  });
});

describe('Container.warm', () => {
  /** The threads this process starts while `fn` runs (Node announces each one on `process`, on the next tick). */
  async function threadsStartedBy(fn: () => unknown): Promise<Worker[]> {
    const started: Worker[] = [];
    const onWorker = (w: Worker): void => void started.push(w);
    process.on('worker', onWorker);
    try {
      await fn();
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('worker', onWorker);
    }
    return started;
  }

  for (const threads of [2, 0]) {
    it(`starts no tokenizer thread when the container is built, and TOKENIZER_THREADS=${threads} of them on warm()`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'container-warm-'));
      const config = loadConfig(
        {},
        { dotenvPath: null, overrides: { DATA_DIR: dir, LOG_LEVEL: 'silent', TOKENIZER_THREADS: threads } },
      );
      let container: Container | undefined;
      try {
        expect(
          await threadsStartedBy(() => (container = buildContainer(config, logger, { role: 'local' }))),
        ).toHaveLength(0);
        expect(await threadsStartedBy(() => container!.warm())).toHaveLength(threads);
        // A book uploaded next is counted on a warmed thread, not on a new one.
        const text = book.slice(0, 50_000);
        let submitted: SubmitResult | undefined;
        expect(
          await threadsStartedBy(
            async () =>
              (submitted = await container!.documentService.submit({
                namespace: 'ns',
                id: 'room',
                text,
                source: 'json',
              })),
          ),
        ).toHaveLength(0);
        expect(submitted!.document.tokens).toBe(cl100k.count(text));
      } finally {
        await container?.close();
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
