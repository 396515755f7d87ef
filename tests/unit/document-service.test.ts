import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ingestingService, OwnSqliteDocumentStore, OwnSqliteVectorStore } from '../helpers/stores.js';
import { InProcessQueue } from '../../src/adapters/job-queue/in-process.js';
import type { DocumentService } from '../../src/core/ingest/document-service.js';
import { contentVersion } from '../../src/core/ids.js';
import { RetrievalService, type RetrieveInput } from '../../src/core/retrieval/service.js';
import { cl100k } from '../../src/core/tokenizer.js';
import { HashingEmbedder } from '../contract/llm-test-embedder.js';

const logger = pino({ level: 'silent' });
const NS = 'sizes';

function story(sentences: number): string {
  return Array.from(
    { length: sentences },
    (_, i) => `Sentence ${i} tells how the harbour boat number ${i} drifted past the harbour wall at dawn.`,
  ).join(' ');
}

describe('DocumentService: the sizes on a document record', () => {
  let dir: string;
  let documents: OwnSqliteDocumentStore;
  let vectors: OwnSqliteVectorStore;
  let retrieval: RetrievalService;
  const queues: InProcessQueue[] = [];

  /** A service with its own in-process queue; jobs wait until the queue is started. */
  const service = (): { service: DocumentService; queue: InProcessQueue } => {
    const queue = new InProcessQueue({ logger });
    queues.push(queue);
    const s = ingestingService({ documents, vectors, embedder: new HashingEmbedder(), queue, logger });
    return { service: s, queue };
  };

  const retrieve = (): Promise<Awaited<ReturnType<RetrievalService['retrieve']>>> => {
    const input: RetrieveInput = {
      namespace: NS,
      question: 'Which boat drifted past the wall?',
      documentIds: ['doc'],
      method: { kind: 'top-k', k: 3 },
      score: 'bm25',
      hybridAlpha: 0.3,
      denseScores: false,
    };
    return retrieval.retrieve(input);
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'document-service-'));
    documents = new OwnSqliteDocumentStore(dir);
    vectors = new OwnSqliteVectorStore(dir);
    retrieval = new RetrievalService({
      documents,
      vectors,
      embedder: new HashingEmbedder(),
      namespaceCandidates: 200,
      logger,
    });
  });
  afterEach(async () => {
    for (const q of queues.splice(0)) await q.close();
    await vectors.close();
    await documents.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("keeps the live version's sizes on the record while a replacement of the same length is indexed, the replacement's on pending, and moves them over when it goes live", async () => {
    const live = story(40);
    // Same length, other words: the sizes in characters agree, the token counts do not.
    const next = live.replace(/harbour/g, 'hqxbzur');
    expect(next.length).toBe(live.length);
    expect(cl100k.count(next)).not.toBe(cl100k.count(live));

    const first = service();
    await first.queue.start();
    await first.service.submit({ namespace: NS, id: 'doc', text: live, source: 'json' });
    await first.queue.drain();

    // The replacement's job waits in a queue not started yet: the record is as readers see it mid-ingestion.
    const second = service();
    const { document: submitted } = await second.service.submit({
      namespace: NS,
      id: 'doc',
      text: next,
      source: 'json',
    });
    const liveSizes = { chars: live.length, tokens: cl100k.count(live) };
    const nextSizes = { chars: next.length, tokens: cl100k.count(next) };
    const pendingView = { version: contentVersion(next), ...nextSizes };
    expect(submitted).toMatchObject({
      status: 'ready',
      version: contentVersion(live),
      ...liveSizes,
      pending: pendingView,
    });
    expect(await second.service.get(NS, 'doc')).toMatchObject({ ...liveSizes, pending: pendingView });

    const during = await retrieve();
    expect(during.scope.documents).toMatchObject([{ version: contentVersion(live), ...liveSizes }]);
    expect(during.tokens.documents).toBe(liveSizes.tokens);
    expect(during.passages.map((p) => p.text).join(' ')).toContain('harbour');

    await second.queue.start();
    await second.queue.drain();
    const after = await second.service.get(NS, 'doc');
    expect(after).toMatchObject({ status: 'ready', version: contentVersion(next), pending: null, ...nextSizes });
    const flipped = await retrieve();
    expect(flipped.scope.documents).toMatchObject([{ version: contentVersion(next), ...nextSizes }]);
    expect(flipped.tokens.documents).toBe(nextSizes.tokens);
  });

  it('puts the live document back, with its text and no trace of the new one, when the replacement cannot be enqueued (503)', async () => {
    const live = story(12);
    const next = story(13);
    const first = service();
    await first.queue.start();
    const before = (
      await first.service.submit({ namespace: NS, id: 'doc', text: live, source: 'json', metadata: { v: 1 } })
    ).document;
    await first.queue.drain();
    const ready = await first.service.get(NS, 'doc');

    // The queue is down: the replacement is refused (503) and must leave the record and texts as they were.
    const down = service();
    await down.queue.close();
    const err = await down.service
      .submit({ namespace: NS, id: 'doc', text: next, source: 'json', metadata: { v: 2 } })
      .catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('QUEUE_UNAVAILABLE');
    expect(await down.service.get(NS, 'doc')).toEqual(ready);
    expect(ready).toMatchObject({ version: contentVersion(live), pending: null, metadata: { v: 1 } });
    expect(await documents.getText(NS, 'doc', contentVersion(live))).toBe(live);
    expect(await documents.getText(NS, 'doc', contentVersion(next))).toBeNull();
    expect(before.id).toBe('doc');

    // A first-time document refused the same way leaves nothing at all.
    const err2 = await down.service
      .submit({ namespace: NS, id: 'new', text: next, source: 'json' })
      .catch((e: unknown) => e);
    expect((err2 as { code?: string }).code).toBe('QUEUE_UNAVAILABLE');
    await expect(down.service.get(NS, 'new')).rejects.toMatchObject({ code: 'DOCUMENT_NOT_FOUND' });
    expect(await documents.getText(NS, 'new', contentVersion(next))).toBeNull();
  });

  it('gives a first-time document its own sizes while it waits, with the same sizes on pending, and keeps them when it goes live', async () => {
    const text = story(25);
    const sizes = { chars: text.length, tokens: cl100k.count(text) };
    const { service: s, queue } = service();
    const { document } = await s.submit({ namespace: NS, id: 'doc', text, source: 'json' });
    expect(document).toMatchObject({
      status: 'pending',
      version: null,
      ...sizes,
      pending: { version: contentVersion(text), ...sizes },
    });

    await queue.start();
    await queue.drain();
    expect(await s.get(NS, 'doc')).toMatchObject({
      status: 'ready',
      version: contentVersion(text),
      pending: null,
      ...sizes,
    });
  });

  it("keeps the live version's sizes when its replacement fails for good", async () => {
    const live = story(30);
    const first = service();
    await first.queue.start();
    await first.service.submit({ namespace: NS, id: 'doc', text: live, source: 'json' });
    await first.queue.drain();

    const next = story(50);
    const second = service();
    const { document } = await second.service.submit({ namespace: NS, id: 'doc', text: next, source: 'json' });
    // The replacement's text vanishes before its job runs: a permanent failure.
    await documents.deleteTexts(NS, 'doc', { keepVersion: contentVersion(live) });
    await second.queue.start();
    await second.queue.drain();
    expect(await second.service.get(NS, 'doc')).toMatchObject({
      status: 'ready',
      version: contentVersion(live),
      chars: live.length,
      tokens: cl100k.count(live),
      pending: { version: document.pending!.version, chars: next.length, tokens: cl100k.count(next) },
      error: { code: 'INGEST_FAILED' },
    });
  });
});
