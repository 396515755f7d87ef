import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InProcessQueue } from '../../src/adapters/job-queue/in-process.js';
import type { DocumentService } from '../../src/core/ingest/document-service.js';
import { contentVersion, ingestJobId } from '../../src/core/ids.js';
import { AppError } from '../../src/errors.js';
import { HashingEmbedder } from '../contract/llm-test-embedder.js';
import { ingestingService, OwnSqliteDocumentStore, OwnSqliteVectorStore } from '../helpers/stores.js';

const logger = pino({ level: 'silent' });
const NS = 'cleanup';

/** Dies (once, when armed) at the first clean-up after a version went live: the run that made it live stops there. */
class DiesAfterGoingLive extends OwnSqliteVectorStore {
  armed = false;
  onDeath: () => Promise<void> = async () => undefined;
  override async deleteDocument(namespace: string, documentId: string, opts?: { keepVersion?: string }): Promise<void> {
    if (this.armed && opts?.keepVersion) {
      this.armed = false;
      await this.onDeath();
      throw new AppError('VECTOR_STORE_UNAVAILABLE', ['the process died between going live and the clean-up'], {
        transient: true,
      });
    }
    return super.deleteDocument(namespace, documentId, opts);
  }
}

const text = (word: string) =>
  Array.from({ length: 30 }, (_, i) => `Line ${i} of the ${word} text, about the harbour and its boats.`).join(' ');

describe('DocumentService: replacing a version survives a death between going live and removing the old one (issue 14, item 6)', () => {
  let dir: string;
  let documents: OwnSqliteDocumentStore;
  let vectors: DiesAfterGoingLive;
  let queue: InProcessQueue;
  let service: DocumentService;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'version-cleanup-'));
    documents = new OwnSqliteDocumentStore(dir);
    vectors = new DiesAfterGoingLive(dir);
    queue = new InProcessQueue({ logger, backoffMs: 10 });
    service = ingestingService({
      documents,
      vectors,
      embedder: new HashingEmbedder(),
      queue,
      chunkTokens: 60,
      overlapTokens: 6,
      embedBatchSize: 16,
      ingestAttempts: 2,
      logger,
    });
    await queue.start();
  });
  afterEach(async () => {
    await queue.close();
    await vectors.close();
    await documents.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('drops the old text in the step that makes the new version live, and the re-run removes the old chunks', async () => {
    const v1 = contentVersion(text('first'));
    const v2 = contentVersion(text('second'));
    await service.submit({ namespace: NS, id: 'doc', text: text('first'), source: 'json' });
    await queue.drain();
    expect((await vectors.getChunks(NS, { documentId: 'doc', version: v1 })).length).toBeGreaterThan(0);

    let atDeath: { live: string | null; oldText: string | null; newText: string | null } | null = null;
    vectors.onDeath = async () => {
      atDeath = {
        live: (await documents.get(NS, 'doc'))?.version ?? null,
        oldText: await documents.getText(NS, 'doc', v1),
        newText: await documents.getText(NS, 'doc', v2),
      };
    };
    vectors.armed = true;
    await service.submit({ namespace: NS, id: 'doc', text: text('second'), source: 'json' });
    await queue.drain();

    // At the moment of death the new version was live and the old text already gone: they changed together.
    expect(atDeath).toEqual({ live: v2, oldText: null, newText: text('second') });
    // The job ran again (the death cost an attempt) and found the version live: it still cleaned up.
    const job = await queue.get(ingestJobId(NS, 'doc', v2));
    expect(job).toMatchObject({ state: 'completed', attempts: 2, result: { skipped: 'already-indexed' } });
    expect(await vectors.getChunks(NS, { documentId: 'doc', version: v1 })).toEqual([]);
    expect((await vectors.getChunks(NS, { documentId: 'doc', version: v2 })).length).toBeGreaterThan(0);
    expect(await documents.get(NS, 'doc')).toMatchObject({ status: 'ready', version: v2, pending: null });
  });
});
