import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type Database from 'better-sqlite3';
import { openSqlite, SQLITE_FILE } from '../../src/adapters/sqlite/database.js';
import { SqliteDocumentStore } from '../../src/adapters/sqlite/document-store.js';
import { SqliteVectorStore } from '../../src/adapters/sqlite/vector-store.js';
import { InProcessQueue } from '../../src/adapters/job-queue/in-process.js';
import type { JobQueue, JobRunner } from '../../src/ports/job-queue.js';
import {
  DocumentService,
  type DocumentServiceOptions,
  INGEST_JOB,
  type IngestJobData,
} from '../../src/core/ingest/document-service.js';
import { RetrievalService } from '../../src/core/retrieval/service.js';
import { HashingEmbedder } from '../contract/llm-test-embedder.js';

/** A SQLite document store on a database file of its own in `dir`, which its close() closes. */
export class OwnSqliteDocumentStore extends SqliteDocumentStore {
  readonly db: Database.Database;
  constructor(dir: string) {
    const db = openSqlite(join(dir, SQLITE_FILE));
    super({ db });
    this.db = db;
  }
  override async close(): Promise<void> {
    this.db.close();
  }
}

/** The SQLite vector store on a database connection of its own to `dir`'s file, which its close() closes. */
export class OwnSqliteVectorStore extends SqliteVectorStore {
  readonly db: Database.Database;
  constructor(dir: string) {
    const db = openSqlite(join(dir, SQLITE_FILE));
    super({ db });
    this.db = db;
  }
  override async close(): Promise<void> {
    await super.close();
    this.db.close();
  }
}

/**
 * A DocumentService whose ingestion jobs `queue` runs (the queue is not started). Sizes default to 120-token chunks
 * with 10 of overlap, documents up to 1M tokens, batches of 64 and one attempt.
 */
export function ingestingService(
  deps: Pick<DocumentServiceOptions, 'documents' | 'vectors' | 'embedder' | 'logger'> &
    Partial<DocumentServiceOptions> & { queue: JobQueue & JobRunner },
): DocumentService {
  const service = new DocumentService({
    chunkTokens: 120,
    overlapTokens: 10,
    maxDocumentTokens: 1_000_000,
    embedBatchSize: 64,
    ingestAttempts: 1,
    ...deps,
  });
  deps.queue.register<IngestJobData, unknown>(INGEST_JOB, (job) => service.process(job));
  return service;
}

/** Options of {@link openStores}: how documents are cut and how many chunks retrieval scores. */
export interface StoresOptions {
  chunkTokens: number;
  overlapTokens: number;
  maxDocumentTokens: number;
  /** Default 64. */
  embedBatchSize?: number;
  namespaceCandidates: number;
}

/**
 * The service's ingestion and retrieval wired in process over a fresh temp
 * directory: SQLite document and vector stores, in-process queue
 * running the ingest job, and the hashing embedder. Submit documents with
 * `documents.submit`, then `queue.drain()`.
 */
export interface Stores {
  dir: string;
  embedder: HashingEmbedder;
  docs: SqliteDocumentStore;
  vectors: OwnSqliteVectorStore;
  queue: InProcessQueue;
  documents: DocumentService;
  retrieval: RetrievalService;
  /** Closes everything and removes the directory. */
  close(): Promise<void>;
}

export async function openStores(prefix: string, opts: StoresOptions, logger: Logger): Promise<Stores> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const embedder = new HashingEmbedder();
  const docs = new OwnSqliteDocumentStore(dir);
  const vectors = new OwnSqliteVectorStore(dir);
  const queue = new InProcessQueue({ logger });
  const documents = ingestingService({
    documents: docs,
    vectors,
    embedder,
    queue,
    chunkTokens: opts.chunkTokens,
    overlapTokens: opts.overlapTokens,
    maxDocumentTokens: opts.maxDocumentTokens,
    embedBatchSize: opts.embedBatchSize ?? 64,
    logger,
  });
  await queue.start();
  const retrieval = new RetrievalService({
    documents: docs,
    vectors,
    embedder,
    namespaceCandidates: opts.namespaceCandidates,
    logger,
  });
  return {
    dir,
    embedder,
    docs,
    vectors,
    queue,
    documents,
    retrieval,
    async close() {
      await queue.close();
      await vectors.close();
      await docs.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
