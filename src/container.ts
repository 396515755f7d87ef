import { join, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { DocumentStore } from './ports/document-store.js';
import type { Embedder } from './ports/embedder.js';
import type { JobQueue, JobRunner } from './ports/job-queue.js';
import type { LlmProvider } from './ports/llm.js';
import type { VectorStore } from './ports/vector-store.js';
import type { EmbeddingCacheStore } from './ports/embedding-cache.js';
import type { KeyStore } from './ports/key-store.js';
import type { JobStore } from './ports/job-store.js';
import { RedisKeyStore } from './adapters/key-store/redis.js';
import { SQLITE_FILE, openSqlite } from './adapters/sqlite/database.js';
import { SqliteDocumentStore } from './adapters/sqlite/document-store.js';
import { SqliteKeyStore } from './adapters/sqlite/key-store.js';
import { SqliteJobStore } from './adapters/sqlite/job-store.js';
import { importOnce, type Import01Summary, type ImportOnceOptions } from './adapters/sqlite/import-0.1.js';
import { SqliteVectorStore } from './adapters/sqlite/vector-store.js';
import { SqliteEmbeddingCache } from './adapters/sqlite/embedding-cache.js';
import { QdrantVectorStore } from './adapters/vector-store/qdrant.js';
import { PgDatabase } from './adapters/postgres/database.js';
import { PostgresDocumentStore } from './adapters/postgres/document-store.js';
import { PostgresJobStore } from './adapters/postgres/job-store.js';
import { PostgresKeyStore } from './adapters/postgres/key-store.js';
import { PostgresVectorStore } from './adapters/postgres/vector-store.js';
import { PostgresEmbeddingCache } from './adapters/postgres/embedding-cache.js';
import { AppError } from './errors.js';
import { createEmbedder } from './adapters/embedder/index.js';
import { createLlm } from './adapters/llm/index.js';
import { Metrics } from './metrics.js';
import { InProcessQueue } from './adapters/job-queue/in-process.js';
import { BullMqQueue, BullMqRunner } from './adapters/job-queue/bullmq.js';
import { DocumentService, INGEST_JOB, type IngestJobData } from './core/ingest/document-service.js';
import { TokenPool } from './infra/token-pool.js';
import { inlineTokenWork } from './core/ingest/inline-token-work.js';
import type { TokenWork } from './ports/token-work.js';
import { RetrievalService } from './core/retrieval/service.js';
import type { AdaptiveKSettings } from './core/retrieval/defaults.js';
import type { DocumentAggregate } from './core/retrieval/library.js';
import { vectorReadiness } from './core/readiness.js';
import { AnswerService } from './core/strategies/answer-service.js';
import { QueryService, type ReaderChoices } from './core/routing/query-service.js';
import { parseCueNames } from './core/routing/cues.js';
import type { RouterSettings } from './core/routing/settings.js';
import { QUERY_BATCH_JOB, queryBatchProcessor } from './core/routing/batch.js';
import { createLimits, limitChains, limitLlm, type Limits } from './core/limits.js';

/** The router's settings (ROUTER_*), typed for the core. */
export function routerSettings(cfg: Config): RouterSettings {
  return {
    thresholds: {
      minRelativeGap: cfg.ROUTER_MIN_RELATIVE_GAP,
      maxAboveCut: cfg.ROUTER_MAX_ABOVE_CUT,
      maxSelectedShare: cfg.ROUTER_MAX_SELECTED_SHARE,
      maxSpread: cfg.ROUTER_MAX_SPREAD,
      diffuseCues: parseCueNames(cfg.ROUTER_DIFFUSE_CUES),
      maxQuestionWords: cfg.ROUTER_MAX_QUESTION_WORDS,
      minAbsentTerms: cfg.ROUTER_MIN_ABSENT_TERMS,
      latencyMsPerCall: cfg.ROUTER_LATENCY_MS_PER_CALL,
      latencyMsPerKiloToken: cfg.ROUTER_LATENCY_MS_PER_1K_TOKENS,
    },
    escalation: cfg.ROUTER_SELF_ROUTE ? 'self-route' : cfg.ROUTER_PROBE ? 'probe' : 'none',
    probeMaxAnswerTokens: cfg.ROUTER_PROBE_MAX_ANSWER_TOKENS,
    preference: cfg.ROUTER_PREFERENCE,
    zones: {
      directCues: parseCueNames(cfg.ROUTER_DIRECT_CUES),
      directMaxRelativeGap: cfg.ROUTER_DIRECT_MAX_RELATIVE_GAP,
      trustMinRelativeGap: cfg.ROUTER_TRUST_MIN_RELATIVE_GAP,
      trustMinTopCoverage: cfg.ROUTER_TRUST_MIN_TOP_COVERAGE,
    },
  };
}

/** The readers a request may choose among, and how to build one. */
/** The Adaptive-k selection the service runs by default (ADAPTIVE_K_*). */
export function adaptiveKSettings(cfg: Config): AdaptiveKSettings {
  return {
    kind: 'adaptive-k',
    a: cfg.ADAPTIVE_K_A,
    b: cfg.ADAPTIVE_K_B,
    buffer: cfg.ADAPTIVE_K_BUFFER,
    bufferTokens: cfg.ADAPTIVE_K_BUFFER_TOKENS,
    bufferMaxShare: cfg.ADAPTIVE_K_BUFFER_MAX_SHARE,
  };
}

export function readerChoices(cfg: Config, create?: ReaderChoices['create']): ReaderChoices {
  return {
    provider: cfg.LLM_PROVIDER,
    model: cfg.LLM_MODEL,
    allowedModels: cfg.ROUTER_ALLOWED_MODELS.split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
    ...(create ? { create } : {}),
  };
}

/** Everything the service is made of, picked from the config in one place. */
export interface Container {
  readonly config: Config;
  readonly logger: Logger;
  readonly documents: DocumentStore;
  readonly vectors: VectorStore;
  readonly embedder: Embedder;
  readonly llm: LlmProvider;
  readonly queue: JobQueue;
  /** API keys (hashed): in PostgreSQL (DATABASE_URL) or else Redis when configured, so every API replica sees them; else in DATA_DIR's database. */
  readonly keys: KeyStore;
  /** Where documents, texts, keys and the in-process queue's jobs are kept (see openStores). */
  readonly stores: Stores;
  /** The process's one PostgreSQL pool (DATABASE_URL), shared by the PostgreSQL adapters; null without it. */
  readonly database: PgDatabase | null;
  /** Runs jobs in this process: the in-process queue, or a BullMQ worker in the worker process. Null in an API process backed by Redis. */
  readonly runner: JobRunner | null;
  readonly documentService: DocumentService;
  readonly retrieval: RetrievalService;
  /** Answers questions by one reading strategy (rag, coa, full). */
  readonly answers: AnswerService;
  /** Routes each question to retrieval, Chain-of-Agents or full context (POST /v1/query). */
  readonly query: QueryService;
  /** Process-wide caps on LLM calls and Chain-of-Agents runs (MAX_CONCURRENT_LLM_CALLS, MAX_CONCURRENT_CHAINS). */
  readonly limits: Limits;
  /** The process's Prometheus metrics (GET /metrics): LLM calls, decisions, document tokens, jobs, queue depth. */
  readonly metrics: Metrics;
  /** Prepares the vector store for the embedder's vector size (loads the model once). Memoised; retried after a failure. */
  ready(): Promise<void>;
  /**
   * Starts the tokenizer threads (TOKENIZER_THREADS) in the background, so the
   * first large upload does not wait for one to load. They never keep the
   * process alive. Called by the process entries only: tests and one-off
   * tools that never tokenize a large text do not pay for the threads.
   */
  warm(): void;
  /**
   * Imports what release 0.1 left in DATA_DIR (its file stores) into the
   * embedded stores, once per DATA_DIR, even with several processes starting
   * together (src/adapters/sqlite/import-0.1.ts). The process entries call it
   * before they serve or run jobs. Null when there was nothing to import: no
   * 0.1 files, imported before, or the stores are not DATA_DIR's (DATABASE_URL).
   */
  importLegacy(opts?: ImportOnceOptions): Promise<Import01Summary | null>;
  /** Closes everything, each step even if an earlier one failed. Idempotent. */
  close(): Promise<void>;
}

export interface ContainerOptions {
  /** 'api' serves HTTP (runs jobs itself only without Redis); 'worker' runs jobs from Redis; 'local' always runs jobs in process (CLI, eval). */
  role: 'api' | 'worker' | 'local';
  /** Replace adapters (tests). */
  overrides?: Partial<Pick<Container, 'documents' | 'vectors' | 'embedder' | 'llm' | 'queue'>>;
}

export const QUEUE_NAME = 'jobs';

/**
 * The stores of the catalogue (documents, versions, texts), API keys and the
 * in-process queue's jobs, and the database connections they share in this
 * process. Closed last, after everything that uses them.
 */
export interface Stores {
  readonly documents: DocumentStore;
  readonly keys: KeyStore;
  readonly jobs: JobStore;
  /** The durable part of the embedding cache (chunk vectors by model and text digest). */
  readonly embeddingCache: EmbeddingCacheStore;
  /** The process's one PostgreSQL pool when DATABASE_URL is set, else null. */
  readonly database: PgDatabase | null;
  /** DATA_DIR's SQLite database, opened once per process, when a store lives there; the other SQLite adapters share it. */
  readonly sqlite: Database.Database | null;
  close(): Promise<void>;
}

/**
 * Opens the stores: PostgreSQL at DATABASE_URL, else SQLite in DATA_DIR (the
 * embedded default). Each store is one line per backend here.
 */
export function openStores(config: Config): Stores {
  const sqliteFile = join(resolve(config.DATA_DIR), SQLITE_FILE);
  if (config.DATABASE_URL) {
    // One pool per process; its migrations run before its first query. Nothing is kept in DATA_DIR.
    const database = new PgDatabase({
      url: config.DATABASE_URL,
      poolSize: config.DATABASE_POOL_SIZE,
      timeoutMs: config.DATABASE_TIMEOUT_MS,
    });
    // Unless VECTOR_STORE=embedded keeps the chunks in DATA_DIR's database.
    const sqlite = config.VECTOR_STORE === 'embedded' ? openSqlite(sqliteFile) : null;
    return {
      documents: new PostgresDocumentStore({ db: database }),
      keys: new PostgresKeyStore({ db: database }),
      jobs: new PostgresJobStore({ db: database }),
      embeddingCache: new PostgresEmbeddingCache({ db: database }),
      database,
      sqlite,
      close: async () => {
        sqlite?.close();
        await database.close();
      },
    };
  }
  const sqlite = openSqlite(sqliteFile);
  const jobs = new SqliteJobStore({ db: sqlite });
  return {
    documents: new SqliteDocumentStore({ db: sqlite }),
    keys: new SqliteKeyStore({ db: sqlite }),
    jobs,
    embeddingCache: new SqliteEmbeddingCache({ db: sqlite }),
    database: null,
    sqlite,
    close: async () => {
      // The job store's write thread has a connection of its own to the file (the document store's closes with it).
      await jobs.close();
      sqlite.close();
    },
  };
}

/** The vector store VECTOR_STORE names, on the process's connections in `stores`. */
export function createVectorStore(cfg: Config, stores: Pick<Stores, 'database' | 'sqlite'>): VectorStore {
  switch (cfg.VECTOR_STORE) {
    case 'postgres':
      if (!stores.database) throw new AppError('CONFIG_INVALID', ['VECTOR_STORE=postgres needs DATABASE_URL']);
      return new PostgresVectorStore({ db: stores.database });
    case 'qdrant':
      return new QdrantVectorStore({
        url: cfg.QDRANT_URL,
        apiKey: cfg.QDRANT_API_KEY || undefined,
        collection: cfg.QDRANT_COLLECTION,
        timeoutMs: cfg.QDRANT_TIMEOUT_MS,
      });
    default:
      if (!stores.sqlite) throw new AppError('CONFIG_INVALID', ['VECTOR_STORE=embedded needs the DATA_DIR database']);
      return new SqliteVectorStore({ db: stores.sqlite });
  }
}

export function buildContainer(config: Config, logger: Logger, opts: ContainerOptions): Container {
  const o = opts.overrides ?? {};
  const stores = openStores(config);
  const database = stores.database;
  const documents = o.documents ?? stores.documents;
  const vectors = o.vectors ?? createVectorStore(config, stores);
  const embedder = o.embedder ?? createEmbedder(config, { logger, cache: stores.embeddingCache });
  // MAX_CONCURRENT_LLM_CALLS and MAX_CONCURRENT_CHAINS hold across every request and job of the process.
  const limits = createLimits(config);
  const metrics = new Metrics();
  const llm = limitLlm(metrics.meterLlm(o.llm ?? createLlm(config, { embedder, logger })), limits.llmCalls);

  let queue: JobQueue;
  let runner: JobRunner | null = null;
  const useRedis = config.REDIS_URL !== '' && opts.role !== 'local';
  if (o.queue) {
    queue = o.queue;
    if (o.queue instanceof InProcessQueue) runner = o.queue;
  } else if (useRedis) {
    const bull = {
      url: config.REDIS_URL,
      queueName: QUEUE_NAME,
      prefix: config.QUEUE_PREFIX,
      timeoutMs: config.REDIS_TIMEOUT_MS,
      logger,
    };
    queue = new BullMqQueue(bull);
    // The worker process exits at SHUTDOWN_TIMEOUT_MS; jobs still running are stopped a little before (a fifth of it, at most 2 s),
    // so they stop and their queue retries them at once rather than when their lock expires.
    const stopJobsAfterMs = config.SHUTDOWN_TIMEOUT_MS - Math.min(2000, Math.floor(config.SHUTDOWN_TIMEOUT_MS / 5));
    if (opts.role === 'worker')
      runner = new BullMqRunner({
        ...bull,
        concurrency: config.WORKER_CONCURRENCY,
        lockDurationMs: config.WORKER_LOCK_MS,
        stopJobsAfterMs,
      });
  } else {
    // Every process on DATA_DIR shares one job table: each run is claimed by one of them (see InProcessQueue).
    const q = new InProcessQueue({
      concurrency: config.WORKER_CONCURRENCY,
      logger,
      store: stores.jobs,
      leaseMs: config.WORKER_LOCK_MS,
    });
    queue = q;
    runner = q;
  }

  const ready = vectorReadiness(vectors, embedder);
  const tokenPool =
    config.TOKENIZER_THREADS > 0
      ? new TokenPool({
          threads: config.TOKENIZER_THREADS,
          inlineBelowChars: config.TOKENIZER_INLINE_CHARS,
          timeoutMs: config.TOKENIZER_TIMEOUT_MS,
          logger,
        })
      : null;
  const tokenWork: TokenWork = tokenPool ?? inlineTokenWork;

  const documentService = new DocumentService({
    ready,
    documents,
    vectors,
    embedder,
    queue,
    chunkTokens: config.CHUNK_TOKENS,
    overlapTokens: config.CHUNK_OVERLAP_TOKENS,
    maxDocumentTokens: config.MAX_DOCUMENT_TOKENS,
    embedBatchSize: config.EMBED_BATCH_SIZE,
    ingestAttempts: config.INGEST_ATTEMPTS,
    tokenWork,
    logger,
  });
  const keys: KeyStore =
    config.REDIS_URL !== '' && !database
      ? new RedisKeyStore({ url: config.REDIS_URL, prefix: config.QUEUE_PREFIX, timeoutMs: config.REDIS_TIMEOUT_MS })
      : stores.keys;
  const retrieval = new RetrievalService({
    ready,
    documents,
    vectors,
    embedder,
    namespaceCandidates: config.NAMESPACE_CANDIDATES,
    library: {
      aggregate: config.LIBRARY_DOCUMENT_SCORE as DocumentAggregate,
      maxDocuments: config.LIBRARY_MAX_DOCUMENTS,
      buffer: config.LIBRARY_DOCUMENT_BUFFER,
    },
    logger,
  });
  const answers = metrics.meterAnswers(
    limitChains(
      new AnswerService({ retrieval, llm, maxAnswerTokens: config.LLM_MAX_ANSWER_TOKENS, logger }),
      limits.chains,
    ),
  );
  const query = metrics.meterQueries(
    new QueryService({
      retrieval,
      answers,
      router: routerSettings(config),
      readers: readerChoices(config, (provider, model) =>
        limitLlm(
          metrics.meterLlm(
            createLlm({ ...config, LLM_PROVIDER: provider, LLM_MODEL: model } as Config, { embedder, logger }),
          ),
          limits.llmCalls,
        ),
      ),
      logger,
    }),
  );
  metrics.watchQueue(queue);
  runner?.register(QUERY_BATCH_JOB, metrics.timeJob(QUERY_BATCH_JOB, queryBatchProcessor(query)));
  runner?.register<IngestJobData, unknown>(
    INGEST_JOB,
    metrics.timeJob(INGEST_JOB, (job) => documentService.process(job)),
  );

  let closing: Promise<void> | null = null;
  return {
    config,
    logger,
    documents,
    vectors,
    embedder,
    llm,
    queue,
    keys,
    stores,
    database,
    runner,
    documentService,
    retrieval,
    answers,
    query,
    limits,
    metrics,
    ready,
    warm() {
      tokenPool?.warm();
    },
    async importLegacy(importOpts) {
      if (database || !stores.sqlite) return null;
      const ctx = {
        dataDir: resolve(config.DATA_DIR),
        documents,
        keys: stores.keys,
        jobs: stores.jobs,
        vectors,
        embeddingCache: stores.embeddingCache,
        embedder,
        chunking: { chunkTokens: config.CHUNK_TOKENS, overlapTokens: config.CHUNK_OVERLAP_TOKENS },
        sqlite: stores.sqlite,
        logger,
      };
      const summary = await importOnce(ctx, { leaseMs: config.WORKER_LOCK_MS, ...importOpts });
      if (summary)
        logger.info({ summary }, 'imported the data of release 0.1 found in DATA_DIR (its files are left in place)');
      return summary;
    },
    close() {
      // Stop taking jobs first, then close what they use. Every step runs even if one fails.
      closing ??= (async () => {
        const steps: Array<[string, () => Promise<void>]> = [
          [
            'runner',
            async () => {
              if (runner && (runner as unknown) !== queue) await runner.close();
            },
          ],
          ['queue', () => queue.close()],
          ['keys', () => keys.close()],
          ['llm', () => llm.close()],
          ['embedder', () => embedder.close()],
          ['tokenizer', () => tokenWork.close()],
          ['vectors', () => vectors.close()],
          ['documents', () => documents.close()],
          ['stores', () => stores.close()],
        ];
        for (const [name, step] of steps) {
          try {
            await step();
          } catch (err) {
            logger.error({ err, component: name }, 'close failed');
          }
        }
      })();
      return closing;
    },
  };
}
