import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OwnSqliteDocumentStore, OwnSqliteVectorStore } from '../helpers/stores.js';
import { InProcessQueue } from '../../src/adapters/job-queue/in-process.js';
import { DocumentService, INGEST_JOB, type IngestJobData } from '../../src/core/ingest/document-service.js';
import { ingestJobId } from '../../src/core/ids.js';
import type { DocumentRecord, ListPage } from '../../src/ports/document-store.js';
import { HashingEmbedder } from '../contract/llm-test-embedder.js';

const logger = pino({ level: 'silent' });
const NS = 'rerun';
const TEXT = Array.from({ length: 30 }, (_, i) => `Line ${i}: the lighthouse keeper logged ${i} ships.`).join(' ');

/**
 * A document store that runs `afterRead` (once) right after a list or get has read its answer and before the caller
 * sees it: the caller then holds a record that another process's run has made stale, as a loaded machine makes it
 * between two statements.
 */
class StaleReads extends OwnSqliteDocumentStore {
  afterRead: (() => Promise<void>) | null = null;
  private async spend(): Promise<void> {
    const f = this.afterRead;
    this.afterRead = null;
    await f?.();
  }
  override async list(namespace: string, opts: Parameters<OwnSqliteDocumentStore['list']>[1]) {
    const page: ListPage<DocumentRecord> = await super.list(namespace, opts);
    await this.spend();
    return page;
  }
  override async get(namespace: string, id: string): Promise<DocumentRecord | null> {
    const doc = await super.get(namespace, id);
    await this.spend();
    return doc;
  }
}

describe('DocumentService: a job that has completed is not run again on a stale document record', () => {
  let dir: string;
  let documents: StaleReads;
  let vectors: OwnSqliteVectorStore;
  let queue: InProcessQueue;
  let service: DocumentService;
  /** The ingestion runs, by job id and attempt, in the order they started. */
  let runs: string[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'document-rerun-'));
    documents = new StaleReads(dir);
    vectors = new OwnSqliteVectorStore(dir);
    queue = new InProcessQueue({ logger });
    service = new DocumentService({
      documents,
      vectors,
      embedder: new HashingEmbedder(),
      queue,
      logger,
      chunkTokens: 60,
      overlapTokens: 6,
      maxDocumentTokens: 1_000_000,
      embedBatchSize: 64,
      ingestAttempts: 1,
    });
    runs = [];
    queue.register<IngestJobData, unknown>(INGEST_JOB, (job) => {
      runs.push(`${job.id}#${job.attempt}`);
      return service.process(job);
    });
  });
  afterEach(async () => {
    await queue.close();
    await vectors.close();
    await documents.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs every waiting job to its end: what another process on the DATA_DIR does meanwhile. */
  const runTheJobs = async () => {
    await queue.start();
    await queue.drain();
  };

  it('recoverPending leaves alone a job that completed after the page listing its document as pending was read', async () => {
    await service.submit({ namespace: NS, id: 'log', text: TEXT, source: 'json' });
    const jobId = (await documents.get(NS, 'log'))!.pending!.jobId;
    documents.afterRead = runTheJobs;

    expect(await service.recoverPending()).toBe(0);
    await queue.drain();

    expect(runs).toEqual([`${jobId}#1`]);
    expect(await queue.get(jobId)).toMatchObject({ state: 'completed', attempts: 1 });
    expect(await documents.get(NS, 'log')).toMatchObject({ status: 'ready', pending: null });
  });

  it('a re-submission of the pending text leaves alone a job that completed after the submit read the record', async () => {
    const first = await service.submit({ namespace: NS, id: 'log', text: TEXT, source: 'json' });
    documents.afterRead = runTheJobs;

    const again = await service.submit({ namespace: NS, id: 'log', text: TEXT, source: 'json' });
    await queue.drain();

    expect(again).toMatchObject({ unchanged: true, jobId: first.jobId });
    expect(runs).toEqual([`${first.jobId}#1`]);
    expect(await queue.get(first.jobId)).toMatchObject({ state: 'completed', attempts: 1 });
  });

  it('still runs the job again when the document waits for it after it finished (deleted, then the same text again)', async () => {
    await queue.start();
    const jobId = ingestJobId(
      NS,
      'log',
      (await service.submit({ namespace: NS, id: 'log', text: TEXT, source: 'json' })).document.pending!.version,
    );
    await queue.drain();
    await service.delete(NS, 'log');

    await service.submit({ namespace: NS, id: 'log', text: TEXT, source: 'json' });
    await queue.drain();

    expect(runs).toEqual([`${jobId}#1`, `${jobId}#1`]);
    expect(await documents.get(NS, 'log')).toMatchObject({ status: 'ready', pending: null });
  });

  it('recoverPending does not run again a replacement that failed for good while the old version stays live', async () => {
    await queue.start();
    const v1 = (await service.submit({ namespace: NS, id: 'log', text: TEXT, source: 'json' })).document.pending!
      .version;
    await queue.drain();
    // The replacement's text cannot be read by its run (as if lost): INGEST_FAILED, for good (one attempt).
    const getText = documents.getText.bind(documents);
    documents.getText = async (ns, id, version) => (version === v1 ? getText(ns, id, version) : null);
    const replaced = await service.submit({ namespace: NS, id: 'log', text: `${TEXT} A new line.`, source: 'json' });
    await queue.drain();
    const doc = await documents.get(NS, 'log');
    expect(doc).toMatchObject({ status: 'ready', version: v1, error: { code: 'INGEST_FAILED' } });
    expect(doc!.pending?.jobId).toBe(replaced.jobId);
    expect(await queue.get(replaced.jobId)).toMatchObject({ state: 'failed' });

    // A restart does not run it again: it failed for good, as a new document's failed run is not run again.
    const before = runs.length;
    expect(await service.recoverPending()).toBe(0);
    await queue.drain();
    expect(runs.length).toBe(before);
  });
});
