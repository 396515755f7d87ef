import { resolve } from 'node:path';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { type Connections, openConnections } from './adapters/connections.js';
import { documentStores } from './adapters/document-store/index.js';
import { createEmbedder } from './adapters/embedder/index.js';
import { embeddingCaches } from './adapters/embedding-cache/index.js';
import { InProcessQueue } from './adapters/job-queue/in-process.js';
import { jobQueues, type ProcessRole, type QueueAndRunner } from './adapters/job-queue/index.js';
import { jobStores } from './adapters/job-store/index.js';
import { keyStores } from './adapters/key-store/index.js';
import { createLlm } from './adapters/llm/index.js';
import type { PgDatabase } from './adapters/postgres/database.js';
import { lookup } from './adapters/registry.js';
import { type Import01Summary, type ImportOnceOptions, importOnce } from './adapters/sqlite/import-0.1.js';
import { vectorStores } from './adapters/vector-store/index.js';
import type { Config } from './config.js';
import { DocumentService, INGEST_JOB, type IngestJobData } from './core/ingest/document-service.js';
import { inlineTokenWork } from './core/ingest/inline-token-work.js';
import { createLimits, type Limits, limitChains, limitLlm } from './core/limits.js';
import { vectorReadiness } from './core/readiness.js';
import type { AdaptiveKSettings } from './core/retrieval/defaults.js';
import { RetrievalService } from './core/retrieval/service.js';
import { QUERY_BATCH_JOB, queryBatchProcessor } from './core/routing/batch.js';
import { parseCueNames } from './core/routing/cues.js';
import { QueryService, type ReaderChoices } from './core/routing/query-service.js';
import type { RouterSettings } from './core/routing/settings.js';
import { AnswerService } from './core/strategies/answer-service.js';
import { TokenPool } from './infra/token-pool.js';
import { Metrics } from './metrics.js';
import type { DocumentStore } from './ports/document-store.js';
import type { Embedder } from './ports/embedder.js';
import type { EmbeddingCacheStore } from './ports/embedding-cache.js';
import type { JobQueue, JobRunner } from './ports/job-queue.js';
import type { JobStore } from './ports/job-store.js';
import type { KeyStore } from './ports/key-store.js';
import type { LlmProvider } from './ports/llm.js';
import type { TokenWork } from './ports/token-work.js';
import type { VectorStore } from './ports/vector-store.js';

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

/** The readers a request may choose among, and how to build one. */
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
  role: ProcessRole;
  /** Replace adapters (tests). */
  overrides?: Partial<Pick<Container, 'documents' | 'vectors' | 'embedder' | 'llm' | 'queue'>>;
}

/** The registry name of each port's adapter (see {@link adapterNames}). */
export interface AdapterNames {
  /** Documents, texts, the in-process queue's jobs and the embedding cache: PostgreSQL or DATA_DIR's SQLite database. */
  database: 'embedded' | 'postgres';
  keys: 'embedded' | 'postgres' | 'redis';
  queue: 'in-process' | 'bullmq';
  vectors: Config['VECTOR_STORE'];
  embedder: Config['EMBEDDER'];
  llm: Config['LLM_PROVIDER'];
}

/**
 * The one place the config picks adapters, by the names of their registries
 * (`src/adapters/<port>/index.ts`). DATABASE_URL moves every store to
 * PostgreSQL; without it they live in DATA_DIR's database. API keys go to
 * Redis when it is configured without PostgreSQL, so every API replica sees
 * them. REDIS_URL puts the jobs on BullMQ except for local tools (CLI, eval),
 * which run them in process.
 */
export function adapterNames(config: Config, role: ProcessRole): AdapterNames {
  const database = config.DATABASE_URL ? 'postgres' : 'embedded';
  return {
    database,
    keys: config.REDIS_URL !== '' && database === 'embedded' ? 'redis' : database,
    queue: config.REDIS_URL !== '' && role !== 'local' ? 'bullmq' : 'in-process',
    vectors: config.VECTOR_STORE,
    embedder: config.EMBEDDER,
    llm: config.LLM_PROVIDER,
  };
}

/**
 * The stores of the catalogue (documents, versions, texts), API keys and the
 * in-process queue's jobs, and the database connections they share in this
 * process. Closed last, after everything that uses them.
 */
export interface Stores {
  readonly documents: DocumentStore;
  /** The keys of the store's database (release 0.1's keys are imported there); the container's may be Redis's. */
  readonly keys: KeyStore;
  readonly jobs: JobStore;
  /** The durable part of the embedding cache (chunk vectors by model and text digest). */
  readonly embeddingCache: EmbeddingCacheStore;
  /** The connections the stores opened, shared with the vector store. */
  readonly connections: Connections;
  /** The process's one PostgreSQL pool when DATABASE_URL is set, else null. */
  readonly database: PgDatabase | null;
  /** DATA_DIR's SQLite database, opened once per process, when a store lives there; the other SQLite adapters share it. */
  readonly sqlite: Database.Database | null;
  close(): Promise<void>;
}

/** Opens the stores in `database` (by default the one DATABASE_URL picks: PostgreSQL, else DATA_DIR's SQLite). */
export function openStores(config: Config, database = adapterNames(config, 'local').database): Stores {
  const connections = openConnections(config);
  const deps = { config, connections };
  const jobs = jobStores[database](deps);
  return {
    documents: documentStores[database](deps),
    keys: keyStores[database](deps),
    jobs,
    embeddingCache: embeddingCaches[database](deps),
    connections,
    get database() {
      return connections.opened.postgres;
    },
    get sqlite() {
      return connections.opened.sqlite;
    },
    async close() {
      // The SQLite job store's write thread has a connection of its own to the file (the document store's closes with it).
      try {
        await jobs.close();
      } finally {
        await connections.close();
      }
    },
  };
}

/** The vector store VECTOR_STORE names, on the process's connections in `stores`. */
export function createVectorStore(cfg: Config, stores: Pick<Stores, 'connections'>): VectorStore {
  return lookup(vectorStores, 'VECTOR_STORE', cfg.VECTOR_STORE)({ config: cfg, connections: stores.connections });
}

export function buildContainer(config: Config, logger: Logger, opts: ContainerOptions): Container {
  const adapters = openAdapters(config, logger, opts);
  const { stores, documents, vectors, embedder, queue, runner, keys } = adapters;
  const tokenizer = createTokenizer(config, logger);
  // MAX_CONCURRENT_LLM_CALLS and MAX_CONCURRENT_CHAINS hold across every request and job of the process.
  const limits = createLimits(config);
  const metrics = new Metrics();
  const services = buildServices(config, logger, { ...adapters, tokenWork: tokenizer.work }, limits, metrics);
  const { llm } = services;
  metrics.watchQueue(queue);
  if (runner) registerJobs(runner, services, metrics);

  return {
    config,
    logger,
    stores,
    database: stores.database,
    documents,
    vectors,
    embedder,
    queue,
    runner,
    keys,
    // The metered and limited reader, not the adapter's.
    llm,
    ready: services.ready,
    documentService: services.documentService,
    retrieval: services.retrieval,
    answers: services.answers,
    query: services.query,
    limits,
    metrics,
    warm: tokenizer.warm,
    importLegacy: (importOpts) => importLegacy(config, logger, { stores, documents, vectors, embedder }, importOpts),
    close: closeInOrder(logger, [
      // Stop taking jobs first, then close what they use.
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
      ['tokenizer', () => tokenizer.work.close()],
      ['vectors', () => vectors.close()],
      ['documents', () => documents.close()],
      ['stores', () => stores.close()],
    ]),
  };
}

/** The adapter of every port, as {@link adapterNames} picks it (or as a test gives it). */
type Adapters = Pick<Container, 'stores' | 'documents' | 'vectors' | 'embedder' | 'llm' | 'queue' | 'runner' | 'keys'>;

function openAdapters(config: Config, logger: Logger, opts: ContainerOptions): Adapters {
  const o = opts.overrides ?? {};
  const names = adapterNames(config, opts.role);
  const stores = openStores(config, names.database);
  const embedder = o.embedder ?? createEmbedder(config, { logger, cache: stores.embeddingCache });
  return {
    stores,
    documents: o.documents ?? stores.documents,
    vectors: o.vectors ?? createVectorStore(config, stores),
    embedder,
    llm: o.llm ?? createLlm(config, { embedder, logger }),
    ...(o.queue ? givenQueue(o.queue) : jobQueues[names.queue]({ config, role: opts.role, jobs: stores.jobs, logger })),
    // The stores' own key store unless the keys live elsewhere (Redis).
    keys:
      names.keys === names.database ? stores.keys : keyStores[names.keys]({ config, connections: stores.connections }),
  };
}

type Services = Pick<Container, 'llm' | 'ready' | 'documentService' | 'retrieval' | 'answers' | 'query'>;

/**
 * The core services over the adapters. Every LLM call (the configured reader
 * and those a request picks) is metered and counted against
 * MAX_CONCURRENT_LLM_CALLS; every strategy run against MAX_CONCURRENT_CHAINS.
 */
function buildServices(
  config: Config,
  logger: Logger,
  a: Adapters & { tokenWork: TokenWork },
  limits: Limits,
  metrics: Metrics,
): Services {
  const { documents, vectors, embedder } = a;
  const reader = (llm: LlmProvider): LlmProvider => limitLlm(metrics.meterLlm(llm), limits.llmCalls);
  const llm = reader(a.llm);
  const ready = vectorReadiness(vectors, embedder);
  const documentService = new DocumentService({
    ready,
    documents,
    vectors,
    embedder,
    queue: a.queue,
    chunkTokens: config.CHUNK_TOKENS,
    overlapTokens: config.CHUNK_OVERLAP_TOKENS,
    maxDocumentTokens: config.MAX_DOCUMENT_TOKENS,
    embedBatchSize: config.EMBED_BATCH_SIZE,
    ingestAttempts: config.INGEST_ATTEMPTS,
    tokenWork: a.tokenWork,
    logger,
  });
  const retrieval = new RetrievalService({
    ready,
    documents,
    vectors,
    embedder,
    namespaceCandidates: config.NAMESPACE_CANDIDATES,
    library: {
      aggregate: config.LIBRARY_DOCUMENT_SCORE,
      termWeights: config.LIBRARY_TERM_WEIGHTS,
      phrases: config.LIBRARY_TERM_PHRASES,
      maxTokens: config.LIBRARY_MAX_TOKENS,
      maxDocuments: config.LIBRARY_MAX_DOCUMENTS,
      readAlike: config.LIBRARY_READ_ALIKE,
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
        reader(createLlm(config, { embedder, logger, provider, model })),
      ),
      logger,
    }),
  );
  return { llm, ready, documentService, retrieval, answers, query };
}

/** The jobs this process runs: query batches and ingestion, each timed. */
function registerJobs(
  runner: JobRunner,
  services: Pick<Services, 'query' | 'documentService'>,
  metrics: Metrics,
): void {
  runner.register(QUERY_BATCH_JOB, metrics.timeJob(QUERY_BATCH_JOB, queryBatchProcessor(services.query)));
  runner.register<IngestJobData, unknown>(
    INGEST_JOB,
    metrics.timeJob(INGEST_JOB, (job) => services.documentService.process(job)),
  );
}

/** A queue given by a test: an in-process one runs its own jobs. */
function givenQueue(queue: JobQueue): QueueAndRunner {
  return { queue, runner: queue instanceof InProcessQueue ? queue : null };
}

/**
 * Counting and chunking: on TOKENIZER_THREADS threads (started by `warm()`
 * or the first large text), or on the event loop when it is 0.
 */
function createTokenizer(config: Config, logger: Logger): { work: TokenWork; warm(): void } {
  if (config.TOKENIZER_THREADS === 0) return { work: inlineTokenWork, warm() {} };
  const pool = new TokenPool({
    threads: config.TOKENIZER_THREADS,
    inlineBelowChars: config.TOKENIZER_INLINE_CHARS,
    timeoutMs: config.TOKENIZER_TIMEOUT_MS,
    logger,
  });
  return { work: pool, warm: () => pool.warm() };
}

/** Container.importLegacy: release 0.1's files into DATA_DIR's database; null with PostgreSQL (nothing of DATA_DIR is used). */
async function importLegacy(
  config: Config,
  logger: Logger,
  parts: { stores: Stores; documents: DocumentStore; vectors: VectorStore; embedder: Embedder },
  opts: ImportOnceOptions | undefined,
): Promise<Import01Summary | null> {
  const { stores } = parts;
  if (stores.database || !stores.sqlite) return null;
  const ctx = {
    dataDir: resolve(config.DATA_DIR),
    documents: parts.documents,
    keys: stores.keys,
    jobs: stores.jobs,
    vectors: parts.vectors,
    embeddingCache: stores.embeddingCache,
    embedder: parts.embedder,
    chunking: { chunkTokens: config.CHUNK_TOKENS, overlapTokens: config.CHUNK_OVERLAP_TOKENS },
    sqlite: stores.sqlite,
    logger,
  };
  const summary = await importOnce(ctx, { leaseMs: config.WORKER_LOCK_MS, ...opts });
  if (summary)
    logger.info({ summary }, 'imported the data of release 0.1 found in DATA_DIR (its files are left in place)');
  return summary;
}

/** A close() that runs `steps` in order, each even if an earlier one failed (logged), once however often it is called. */
function closeInOrder(
  logger: Logger,
  steps: ReadonlyArray<readonly [string, () => Promise<void>]>,
): () => Promise<void> {
  let closing: Promise<void> | null = null;
  return () => {
    closing ??= (async () => {
      for (const [name, step] of steps) {
        try {
          await step();
        } catch (err) {
          logger.error({ err, component: name }, 'close failed');
        }
      }
    })();
    return closing;
  };
}
