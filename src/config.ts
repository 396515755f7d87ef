import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { DEFAULTS, SCORE_KINDS } from './core/retrieval/defaults.js';
import { DOCUMENT_PICK_DEFAULTS, LIBRARY_DEFAULTS } from './core/retrieval/library.js';
import { AppError } from './errors.js';

/**
 * Every setting of the service, in one table: name, type, default, doc.
 * `.env.example` is generated from it (`npm run env:example`) and a test checks
 * that they agree, so the documentation cannot drift from the code.
 * Nothing but this file reads process.env.
 */
type Spec =
  | {
      type: 'string';
      default: string;
      doc: string;
      choices?: readonly string[];
      /**
       * Settings a choice cannot work without, by choice: `loadConfig` fails "EMBEDDER=openai needs EMBEDDER_URL"
       * when one is empty. Declared beside the choice rather than in the adapter registries so that checking a
       * config does not load every adapter (pg, better-sqlite3, ...).
       */
      needs?: Readonly<Record<string, readonly string[]>>;
      secret?: boolean;
    }
  | { type: 'int'; default: number; doc: string; min?: number; max?: number }
  | { type: 'number'; default: number; doc: string; min?: number; max?: number }
  | { type: 'bool'; default: boolean; doc: string };

export const CONFIG_SPEC = {
  // Server
  HOST: { type: 'string', default: '127.0.0.1', doc: 'Interface the HTTP server listens on (0.0.0.0 in containers).' },
  PORT: { type: 'int', default: 3000, min: 0, max: 65535, doc: 'HTTP port.' },
  LOG_LEVEL: {
    type: 'string',
    default: 'info',
    choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    doc: 'pino log level.',
  },
  DATA_DIR: {
    type: 'string',
    default: './data',
    doc: 'Directory of the embedded stores: one SQLite database (adaptive-reader.db) for documents, texts, API keys and in-process jobs, and the vector store and embedding cache.',
  },
  SHUTDOWN_TIMEOUT_MS: {
    type: 'int',
    default: 10_000,
    min: 0,
    doc: 'On SIGTERM/SIGINT, how long in-flight requests and jobs may run before the process exits. A worker stops jobs still running a fifth of it (at most 2 s) before; the queue runs them again.',
  },
  BODY_LIMIT_BYTES: {
    type: 'int',
    default: 20 * 1024 * 1024,
    min: 1024,
    doc: 'Largest accepted request body (JSON or upload), in bytes.',
  },
  MAX_DOCUMENT_TOKENS: { type: 'int', default: 2_000_000, min: 1, doc: 'Largest accepted document, in cl100k tokens.' },
  MAX_QUESTION_CHARS: { type: 'int', default: 4_000, min: 1, doc: 'Longest accepted question, in characters.' },

  // Chunking
  CHUNK_TOKENS: {
    type: 'int',
    default: 400,
    min: 16,
    max: 8192,
    doc: 'Target chunk size in cl100k tokens (chunks end on sentence or paragraph boundaries, so they vary around it).',
  },
  CHUNK_OVERLAP_TOKENS: {
    type: 'int',
    default: 40,
    min: 0,
    max: 4096,
    doc: 'Tokens of the previous chunk repeated at the start of the next (whole sentences).',
  },
  TOKENIZER_THREADS: {
    type: 'int',
    default: 1,
    min: 0,
    max: 64,
    doc: 'Worker threads that count and chunk large documents (on upload and in the ingestion job), so that BPE over a book (~0.4 s for 1.4M tokens to count, ~0.6 s to chunk) does not stall every other request of the process. The API server and the ingest worker start them at start-up (other tools on the first large text); idle ones never keep the process alive. 0: on the event loop.',
  },
  TOKENIZER_INLINE_CHARS: {
    type: 'int',
    default: 4_000,
    min: 0,
    doc: 'Texts shorter than this many characters are counted and chunked on the event loop even with TOKENIZER_THREADS: ~1k tokens cost less there than a trip to a thread, and the costliest text this short (random CJK without punctuation) holds the loop ~10 ms.',
  },
  TOKENIZER_TIMEOUT_MS: {
    type: 'int',
    default: 60_000,
    min: 100,
    doc: 'Longest run of one count or chunking on a tokenizer thread; past it the thread is stopped and the upload is refused with 422 TEXT_TOO_COMPLEX before anything is stored (or the ingestion job fails with it). Counting is linear in the text (~0.3 s per MB of prose, ~1 s per MB of DNA or base64), so only a slow or overloaded machine gets near it.',
  },

  // Embedding
  EMBEDDER: {
    type: 'string',
    default: 'use-lite-static',
    choices: ['use-lite-static', 'use-lite', 'transformers', 'openai'],
    needs: { transformers: ['EMBEDDER_MODEL'], openai: ['EMBEDDER_URL'] },
    doc: "Embedding model: use-lite-static (static token vectors distilled from USE lite, Model2Vec-style: offline, no model run per text, default; the table is assets/use-lite-static.bin), use-lite (Universal Sentence Encoder lite itself, offline), transformers (ONNX model from a local directory), openai (any OpenAI-compatible /v1/embeddings endpoint). At start the API server embeds again, with this embedder, every live document version that has no vectors of its size (a DATA_DIR filled by another embedder, e.g. use-lite before use-lite-static was the default) and then drops the other size's vectors; two embedders with vectors of the same size are not told apart.",
  },
  EMBEDDER_THREADS: {
    type: 'int',
    default: 1,
    min: 1,
    max: 64,
    doc: 'use-lite: worker threads, each with its own model copy (~30 MB); the TF.js WebAssembly backend is single-threaded, so this is how one process uses more cores. Use 1 per worker process when running one worker per core.',
  },
  EMBEDDER_QUERY_THREAD: {
    type: 'bool',
    default: true,
    doc: 'use-lite: one more worker thread (~30 MB, started on the first query) that embeds only questions, so a question never waits behind a document batch being ingested (~1.2 s for 16 chunks). Processes that only ingest never start it.',
  },
  EMBEDDING_CACHE_MB: {
    type: 'int',
    default: 64,
    min: 1,
    max: 65_536,
    doc: 'Chunk vectors kept in memory by the embedding cache, in MiB (~30 000 USE-lite vectors at 64), least recently used dropped first. Every vector stays in the embedded database (<DATA_DIR>/adaptive-reader.db) and is read back from there, not embedded again. use-lite-static has no cache: it embeds faster than the cache looks up.',
  },
  EMBED_BATCH_SIZE: { type: 'int', default: 16, min: 1, max: 2048, doc: 'Chunks embedded per call.' },
  EMBEDDER_MODEL_DIR: {
    type: 'string',
    default: './models',
    doc: 'transformers: directory that holds local models (one folder per model, Hugging Face layout with onnx/).',
  },
  EMBEDDER_MODEL: {
    type: 'string',
    default: '',
    doc: 'transformers: model folder name under EMBEDDER_MODEL_DIR (e.g. bge-small-en-v1.5); openai: model name.',
  },
  EMBEDDER_POOLING: {
    type: 'string',
    default: 'mean',
    choices: ['mean', 'cls'],
    doc: 'transformers: pooling of token vectors (bge uses cls, e5/gte/nomic mean).',
  },
  EMBEDDER_QUERY_PREFIX: {
    type: 'string',
    default: '',
    doc: 'Text put before every query (e5: "query: ", nomic: "search_query: ").',
  },
  EMBEDDER_DOCUMENT_PREFIX: {
    type: 'string',
    default: '',
    doc: 'Text put before every chunk (e5: "passage: ", nomic: "search_document: ").',
  },
  EMBEDDER_URL: {
    type: 'string',
    default: '',
    doc: 'openai: base URL of the embeddings endpoint, e.g. http://localhost:8080/v1.',
  },
  EMBEDDER_API_KEY: {
    type: 'string',
    default: '',
    secret: true,
    doc: 'openai: bearer key for the embeddings endpoint.',
  },
  EMBEDDER_TIMEOUT_MS: { type: 'int', default: 60_000, min: 100, doc: 'openai: timeout of one embeddings call.' },

  // Vector store
  VECTOR_STORE: {
    type: 'string',
    default: 'embedded',
    choices: ['embedded', 'qdrant', 'postgres'],
    needs: { qdrant: ['QDRANT_URL'], postgres: ['DATABASE_URL'] },
    doc: 'embedded (SQLite in DATA_DIR: exact scores, FTS5 lexical search), qdrant, or postgres (chunks, vectors and a full-text index in DATABASE_URL, exact scores and BM25 at the store; for deployments without Qdrant).',
  },
  QDRANT_URL: { type: 'string', default: '', doc: 'qdrant: server URL, e.g. http://localhost:6333.' },
  QDRANT_API_KEY: { type: 'string', default: '', secret: true, doc: 'qdrant: API key, if the server requires one.' },
  QDRANT_COLLECTION: {
    type: 'string',
    default: 'chunks',
    doc: 'qdrant: collection name (the vector size is suffixed to it).',
  },
  QDRANT_TIMEOUT_MS: {
    type: 'int',
    default: 10_000,
    min: 100,
    doc: "qdrant: timeout of one call to the server (503 VECTOR_STORE_UNAVAILABLE when exceeded). Bulk upserts wait for indexing, so keep it well above a query's time.",
  },

  // Database
  DATABASE_URL: {
    type: 'string',
    default: '',
    secret: true,
    doc: 'PostgreSQL for the documents (catalogue, versions, texts), API keys, the embedding cache and job bookkeeping, shared by every API replica and worker, e.g. postgres://user:pass@db:5432/reader. Empty: files in DATA_DIR. Migrations are applied at start.',
  },
  DATABASE_POOL_SIZE: {
    type: 'int',
    default: 10,
    min: 1,
    max: 1000,
    doc: 'Connections to PostgreSQL one process opens at most (one pool per process).',
  },
  DATABASE_TIMEOUT_MS: {
    type: 'int',
    default: 2000,
    min: 100,
    doc: 'How long a call waits for a PostgreSQL connection (connecting included) before it fails with 503 DATABASE_UNAVAILABLE and a Retry-After.',
  },

  // Queue
  REDIS_URL: {
    type: 'string',
    default: '',
    doc: 'Redis for the BullMQ job queue, e.g. redis://127.0.0.1:6379. Empty: an in-process queue runs the same processors (no separate worker needed).',
  },
  QUEUE_PREFIX: { type: 'string', default: 'air', doc: 'Key prefix of the BullMQ queues in Redis.' },
  REDIS_TIMEOUT_MS: {
    type: 'int',
    default: 2000,
    min: 100,
    doc: 'API process: how long an enqueue, a job lookup or an API-key lookup may wait for Redis (connecting included) before it fails with 503 QUEUE_UNAVAILABLE / KEY_STORE_UNAVAILABLE and a Retry-After. Workers block on Redis without it.',
  },
  INGEST_ATTEMPTS: {
    type: 'int',
    default: 3,
    min: 1,
    max: 50,
    doc: 'Tries of an ingestion job on transient failures (exponential backoff).',
  },
  WORKER_CONCURRENCY: {
    type: 'int',
    default: 1,
    min: 1,
    max: 64,
    doc: 'Jobs one worker process runs at once. Embedding is CPU-bound: run one worker per core instead.',
  },
  WORKER_METRICS_PORT: {
    type: 'int',
    default: 0,
    min: 0,
    max: 65535,
    doc: 'Worker process: serve its Prometheus metrics (job durations, ingestion chunks, LLM calls of query batches) at http://HOST:PORT/metrics. 0: off. The API serves its own at /metrics.',
  },
  WORKER_LOCK_MS: {
    type: 'int',
    default: 30_000,
    min: 1000,
    doc: 'Job lock (lease): a job whose process died (no renewal for this long) is taken up again by another, counting an attempt. BullMQ workers, and the in-process queue shared by the processes on one DATA_DIR.',
  },

  // LLM
  LLM_PROVIDER: {
    type: 'string',
    default: 'extractive',
    choices: ['extractive', 'openai', 'llama-cpp'],
    needs: { openai: ['LLM_BASE_URL', 'LLM_MODEL'], 'llama-cpp': ['LLAMA_MODEL_PATH'] },
    doc: 'extractive (no LLM: quotes the best sentences, default), openai (any OpenAI-compatible chat endpoint), llama-cpp (GGUF in process).',
  },
  LLM_BASE_URL: { type: 'string', default: '', doc: 'openai: base URL, e.g. http://localhost:8000/v1.' },
  LLM_API_KEY: { type: 'string', default: '', secret: true, doc: 'openai: bearer key.' },
  LLM_MODEL: { type: 'string', default: '', doc: 'openai: model name.' },
  LLM_CONTEXT_WINDOW: {
    type: 'int',
    default: 8192,
    min: 256,
    doc: 'Context window of the model in tokens (prompt + answer). llama-cpp: the context size to allocate.',
  },
  LLM_MAX_ANSWER_TOKENS: { type: 'int', default: 512, min: 1, doc: 'Tokens reserved for each answer or note.' },
  LLM_TIMEOUT_MS: {
    type: 'int',
    default: 120_000,
    min: 100,
    doc: 'Timeout of one LLM call (504 LLM_TIMEOUT when exceeded).',
  },
  LLM_MAX_RETRIES: {
    type: 'int',
    default: 3,
    min: 0,
    max: 10,
    doc: 'Retries on 429 and 5xx, with backoff; Retry-After is honoured.',
  },
  LLAMA_MODEL_PATH: { type: 'string', default: '', doc: 'llama-cpp: path of the GGUF model.' },
  LLAMA_THREADS: {
    type: 'int',
    default: 1,
    min: 1,
    max: 64,
    doc: 'llama-cpp: CPU threads (1–2 on a 2-core machine; more is much slower there).',
  },

  // Retrieval
  RETRIEVAL_SCORE: {
    type: 'string',
    default: DEFAULTS.score,
    choices: SCORE_KINDS,
    doc: 'Scores Adaptive-k cuts by default. bm25 served LaRA dev best (docs/retrieval.md has the numbers).',
  },
  ADAPTIVE_K_A: {
    type: 'number',
    default: DEFAULTS.adaptiveK.a,
    min: 0,
    max: 0.999,
    doc: 'Adaptive-k: fraction of the top of the sorted scores skipped when looking for the largest gap.',
  },
  ADAPTIVE_K_B: {
    type: 'number',
    default: DEFAULTS.adaptiveK.b,
    min: 0,
    max: 0.999,
    doc: 'Adaptive-k: fraction of the bottom skipped.',
  },
  ADAPTIVE_K_BUFFER: {
    type: 'int',
    default: DEFAULTS.adaptiveK.buffer,
    min: 0,
    max: 1000,
    doc: "Adaptive-k: chunks added after the cut (the paper's buffer; ignored when ADAPTIVE_K_BUFFER_TOKENS > 0).",
  },
  ADAPTIVE_K_BUFFER_TOKENS: {
    type: 'int',
    default: DEFAULTS.adaptiveK.bufferTokens,
    min: 0,
    max: 1_000_000,
    doc: "Adaptive-k: buffer measured in tokens instead of chunks (0 = the paper's chunk buffer). 4000 served LaRA dev best: coverage 0.977 vs 0.930 with 5 chunks.",
  },
  ADAPTIVE_K_BUFFER_MAX_SHARE: {
    type: 'number',
    default: DEFAULTS.adaptiveK.bufferMaxShare,
    min: 0,
    max: 1,
    doc: "Adaptive-k: caps the token buffer at this share of the candidate chunks' tokens, so a buffer measured on LaRA's long documents (12k–130k tokens) does not read the whole of a small one (a 3k-token document gets 600 tokens, not all of it). 1 = no cap; no effect on the chunk buffer.",
  },
  NAMESPACE_CANDIDATES: {
    type: 'int',
    default: 200,
    min: 1,
    max: 10_000,
    doc: 'Whole-namespace queries: chunks the store returns from each of its searches (lexical, and dense when the score uses it) before the documents are picked.',
  },
  LIBRARY_DOCUMENT_SCORE: {
    type: 'string',
    default: LIBRARY_DEFAULTS.aggregate,
    choices: ['max', 'top3'],
    doc: "Whole-namespace queries: a document's score from its candidate chunks, whose curve Adaptive-k cuts to pick the documents read: max (its best chunk) or top3 (the sum of its three best). top3 was chosen on LaRA dev by document-level cross-validation (4 of 5 folds; docs/library.md).",
  },
  LIBRARY_TERM_WEIGHTS: {
    type: 'string',
    default: LIBRARY_DEFAULTS.termWeights,
    choices: ['document', 'chunk'],
    doc: "Whole-namespace queries: question terms weighted by idf over the namespace's documents (document) or as the store's chunk-level search weights them (chunk); see docs/library.md.",
  },
  LIBRARY_TERM_PHRASES: {
    type: 'bool',
    default: LIBRARY_DEFAULTS.phrases,
    doc: 'Whole-namespace queries with document term weights: also score the question\'s adjacent pairs of terms ("China Foods", "table understanding") as terms, weighted by how few of the candidate documents hold them side by side. Chosen on LaRA dev by document-level cross-validation (docs/library.md).',
  },
  LIBRARY_MAX_DOCUMENTS: {
    type: 'int',
    default: DOCUMENT_PICK_DEFAULTS.maxDocuments,
    min: 1,
    max: 1000,
    doc: "Whole-namespace queries: most documents read, whatever the documents' score curve says. 16 was chosen on LaRA dev by document-level cross-validation (docs/library.md).",
  },
  LIBRARY_READ_ALIKE: {
    type: 'bool',
    default: LIBRARY_DEFAULTS.readAlike,
    doc: "Whole-namespace queries: when the question's terms do not single out the first document (another candidate document holds every one of them), also read each document that holds them all, at most LIBRARY_MAX_DOCUMENTS in all; each document's chunks are cut at their own largest gap and read in turns within LIBRARY_MAX_TOKENS. Chosen on LaRA dev by document-level cross-validation (docs/library.md).",
  },
  LIBRARY_MAX_TOKENS: {
    type: 'int',
    default: LIBRARY_DEFAULTS.maxTokens,
    min: 0,
    max: 10_000_000,
    doc: 'Whole-namespace queries: most tokens selected within the picked documents (their best chunks; the response says when it cuts); 0 = no cap.',
  },
  LIBRARY_DOCUMENT_BUFFER: {
    type: 'int',
    default: DOCUMENT_PICK_DEFAULTS.buffer,
    min: 0,
    max: 100,
    doc: "Whole-namespace queries: documents picked after the largest gap of the documents' score curve.",
  },

  // Access and limits
  AUTH: {
    type: 'string',
    default: 'auto',
    choices: ['auto', 'on', 'off'],
    doc: 'API keys: on, off, or auto (off in the embedded local mode, on when Redis, Qdrant or PostgreSQL is configured).',
  },
  ADMIN_API_KEY: {
    type: 'string',
    default: '',
    secret: true,
    doc: 'Key of the admin, who manages namespaces and keys. Required when auth is on.',
  },
  RATE_LIMIT_PER_MINUTE: {
    type: 'int',
    default: 600,
    min: 0,
    doc: 'Requests per minute per API key (or per IP without auth); 0 turns the limit off.',
  },
  AUTH_FAILURES_PER_MINUTE: {
    type: 'int',
    default: 30,
    min: 0,
    doc: 'Failed authentications (no key, or an unknown one) allowed per client address and minute; past it the address gets 429 RATE_LIMITED, before any key lookup, until the minute ends (the admin key still passes). Counted per API process; 0 turns the limit off.',
  },
  MAX_CONCURRENT_LLM_CALLS: { type: 'int', default: 8, min: 1, doc: 'LLM calls in flight at once across the process.' },
  CORS_ORIGINS: {
    type: 'string',
    default: '',
    doc: 'Browser origins allowed to call the API (CORS), comma-separated, e.g. https://chat.example.com,http://localhost:8080; * allows any. Empty: CORS off (browsers on other origins are refused).',
  },
  MAX_CONCURRENT_CHAINS: { type: 'int', default: 4, min: 1, doc: 'Chain-of-Agents runs at once across the process.' },
  CHAT_EXPLANATION: {
    type: 'string',
    default: 'off',
    choices: ['off', 'footer'] as const,
    doc: "footer: /v1/chat/completions ends each answer's text with how it was read (the strategy and why, document tokens read against the whole, the documents read, any fallback), for chat UIs that show only the message text; a request's `explain` field overrides it. off: that stays in the response's own fields (decision, reading, conversation).",
  },

  // Router (POST /v1/query, strategy auto). How each default was measured: docs/calibration.md (`npm run replay`).
  ROUTER_MIN_RELATIVE_GAP: {
    type: 'number',
    default: 0.1,
    min: 0,
    max: 1,
    doc: 'Evidence counts as concentrated (read by retrieval) only when the largest score gap is at least this share of the score range.',
  },
  ROUTER_MAX_ABOVE_CUT: {
    type: 'int',
    default: 8,
    min: 1,
    doc: 'Evidence counts as concentrated only when at most this many chunks stand above the largest gap.',
  },
  ROUTER_MAX_SELECTED_SHARE: {
    type: 'number',
    default: 0.35,
    min: 0,
    max: 1,
    doc: 'A selection reading more than this share of the documents reads them whole instead.',
  },
  ROUTER_MAX_SPREAD: {
    type: 'number',
    default: 1,
    min: 0,
    max: 1,
    doc: 'Selected chunks spread over more than this share of their documents count as diffuse evidence (1 = rule off).',
  },
  ROUTER_DIFFUSE_CUES: {
    type: 'string',
    default: 'comparison,aggregation,global',
    doc: 'Question cues (comparison, aggregation, global; comma-separated, may be empty) that send a question to a whole-text strategy.',
  },
  ROUTER_MAX_QUESTION_WORDS: {
    type: 'int',
    default: 20,
    min: 0,
    doc: 'A question of more than this many words usually asks several things or for reasoning across the text: read it whole (0 = rule off).',
  },
  ROUTER_MIN_ABSENT_TERMS: {
    type: 'int',
    default: 2,
    min: 0,
    doc: 'A question using at least this many terms the documents never use may have no answer there: read it by retrieval, without Self-Route escalation (0 = rule off).',
  },
  ROUTER_SELF_ROUTE: {
    type: 'bool',
    default: false,
    doc: 'Self-Route escalation: when auto picks retrieval, let the model reply UNANSWERABLE and then read the whole text (generative readers only; replaces the retrieval probe). Off: it lowered routed accuracy on LaRA dev for the three models replayed.',
  },
  ROUTER_PROBE: {
    type: 'bool',
    default: true,
    doc: 'Retrieval probe (generative readers, strategy auto): answer from retrieval first; keep that answer when it says the text does not hold the answer or is short (ROUTER_PROBE_MAX_ANSWER_TOKENS), else read the whole text as the policy chose. ROUTER_SELF_ROUTE=true turns it off.',
  },
  ROUTER_PROBE_MAX_ANSWER_TOKENS: {
    type: 'int',
    default: 40,
    min: 0,
    doc: 'Retrieval probe: a retrieval answer of at most this many tokens (citations not counted) is kept; a longer one is escalated to a whole-text strategy (0 = keep only declines).',
  },
  ROUTER_PREFERENCE: {
    type: 'number',
    default: 0.5,
    min: 0,
    max: 1,
    doc: "Cost against accuracy, 0 (cheapest) to 1 (most accurate); per request `preference`. Sets the retrieval probe's answer-length limit: ROUTER_PROBE_MAX_ANSWER_TOKENS at 0.5, ten times it at 0, 0 (keep only declines) at 1 (docs/calibration.md has the frontier).",
  },
  ROUTER_DIRECT_CUES: {
    type: 'string',
    default: '',
    doc: 'Question cues (comparison, aggregation, global; comma-separated) that skip the retrieval probe when the policy chose a whole-text strategy: read whole at once. Empty = rule off.',
  },
  ROUTER_DIRECT_MAX_RELATIVE_GAP: {
    type: 'number',
    default: 0,
    min: 0,
    max: 1,
    doc: 'Skip the retrieval probe (read whole at once) when the policy chose a whole-text strategy and the largest score gap is below this share of the score range (0 = rule off).',
  },
  ROUTER_TRUST_MIN_RELATIVE_GAP: {
    type: 'number',
    default: 0,
    min: 0,
    max: 1,
    doc: "Keep a retrieval answer without the probe's length test when the policy chose retrieval, the largest score gap is at least this share of the score range and the best chunk covers ROUTER_TRUST_MIN_TOP_COVERAGE of the question's terms (0 = rule off).",
  },
  ROUTER_TRUST_MIN_TOP_COVERAGE: {
    type: 'number',
    default: 1,
    min: 0,
    max: 1,
    doc: "See ROUTER_TRUST_MIN_RELATIVE_GAP: share of the question's terms (those the documents use) the best chunk must hold.",
  },
  ROUTER_LATENCY_MS_PER_CALL: {
    type: 'number',
    default: 1500,
    min: 0,
    doc: 'Latency model for maxLatencyMs budgets: milliseconds per sequential LLM call (a rough default; set it for your deployment).',
  },
  ROUTER_LATENCY_MS_PER_1K_TOKENS: {
    type: 'number',
    default: 150,
    min: 0,
    doc: 'Latency model for maxLatencyMs budgets: milliseconds per 1000 prompt tokens.',
  },
  ROUTER_ALLOWED_MODELS: {
    type: 'string',
    default: '',
    doc: 'openai: model names (comma-separated) a request may pick instead of LLM_MODEL, on the same endpoint.',
  },
  ROUTER_MAX_BATCH: { type: 'int', default: 1000, min: 1, doc: 'Most questions in one POST /v1/query/batch.' },
  ROUTER_INLINE_BATCH: {
    type: 'int',
    default: 10,
    min: 0,
    doc: 'Batches up to this many questions are answered inline; larger ones run as a background job.',
  },
  ROUTER_BATCH_ATTEMPTS: {
    type: 'int',
    default: 3,
    min: 1,
    max: 50,
    doc: 'Runs of a background batch job (exponential backoff): it is run again, every question afresh, when an upstream outage or a worker shutdown stops it.',
  },
} as const satisfies Record<string, Spec>;

type SpecTable = typeof CONFIG_SPEC;
/** A setting's value type; a setting with `choices` is the union of them, so no reader has to cast it. */
type ValueOf<S> = S extends { type: 'bool' }
  ? boolean
  : S extends { type: 'int' | 'number' }
    ? number
    : S extends { choices: readonly (infer C)[] }
      ? C
      : string;
export type Config = { readonly [K in keyof SpecTable]: ValueOf<SpecTable[K]> };
/** The names a setting with `choices` allows, as a type: the adapter registries are keyed by them (src/adapters/registry.ts). */
export type ChoiceOf<K extends keyof SpecTable> = SpecTable[K] extends { choices: readonly (infer C)[] } ? C : never;
/** The settings whose `needs` is keyed by a name that is not one of their choices, or names a setting that does not exist. */
type BadNeeds = {
  [K in keyof SpecTable]: SpecTable[K] extends { needs: infer N }
    ? [keyof N] extends [ChoiceOf<K>]
      ? [N[keyof N]] extends [readonly (keyof SpecTable)[]]
        ? never
        : K
      : K
    : never;
}[keyof SpecTable];
// Fails tsc, naming the setting, when a `needs` is wrong.
true satisfies [BadNeeds] extends [never] ? true : BadNeeds;

function parseValue(name: string, spec: Spec, raw: string): string | number | boolean {
  switch (spec.type) {
    case 'string':
      if (spec.choices && !spec.choices.includes(raw)) {
        throw new AppError('CONFIG_INVALID', [`${name}=${raw} is not one of ${spec.choices.join(', ')}`]);
      }
      return raw;
    case 'bool':
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      throw new AppError('CONFIG_INVALID', [`${name}=${raw} is not a boolean`]);
    case 'int':
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n) || (spec.type === 'int' && !Number.isInteger(n))) {
        throw new AppError('CONFIG_INVALID', [
          `${name}=${raw} is not ${spec.type === 'int' ? 'an integer' : 'a number'}`,
        ]);
      }
      if (spec.min !== undefined && n < spec.min)
        throw new AppError('CONFIG_INVALID', [`${name}=${raw} is below ${spec.min}`]);
      if (spec.max !== undefined && n > spec.max)
        throw new AppError('CONFIG_INVALID', [`${name}=${raw} is above ${spec.max}`]);
      return n;
    }
  }
}

/**
 * Builds the config from an environment (process.env by default), with a
 * `.env` file in the working directory filling what the environment lacks.
 * The result is validated and frozen.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  opts: { dotenvPath?: string | null; overrides?: Partial<Record<keyof SpecTable, string | number | boolean>> } = {},
): Config {
  const dotenvPath = opts.dotenvPath === undefined ? resolve('.env') : opts.dotenvPath;
  const fileVars = dotenvPath && existsSync(dotenvPath) ? parseDotenv(readFileSync(dotenvPath)) : {};
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(CONFIG_SPEC) as [string, Spec][]) {
    const override = opts.overrides?.[name as keyof SpecTable];
    const raw = override !== undefined ? String(override) : (env[name] ?? fileVars[name]);
    out[name] = raw === undefined || raw === '' ? spec.default : parseValue(name, spec, raw);
  }
  const cfg = out as Config;
  crossValidate(cfg);
  return Object.freeze(cfg);
}

function crossValidate(cfg: Config): void {
  const fail = (msg: string): never => {
    throw new AppError('CONFIG_INVALID', [msg]);
  };
  if (cfg.CHUNK_OVERLAP_TOKENS >= cfg.CHUNK_TOKENS) fail('CHUNK_OVERLAP_TOKENS must be smaller than CHUNK_TOKENS');
  if (cfg.ADAPTIVE_K_A + cfg.ADAPTIVE_K_B >= 1) fail('ADAPTIVE_K_A + ADAPTIVE_K_B must be below 1');
  const unmet = unmetNeeds(cfg);
  if (unmet) fail(unmet);
  if (cfg.DATABASE_URL && !/^postgres(ql)?:\/\//.test(cfg.DATABASE_URL))
    fail('DATABASE_URL must be a postgres:// or postgresql:// URL');
  if (cfg.LLM_MAX_ANSWER_TOKENS >= cfg.LLM_CONTEXT_WINDOW)
    fail('LLM_MAX_ANSWER_TOKENS must be below LLM_CONTEXT_WINDOW');
  if (authEnabled(cfg) && !cfg.ADMIN_API_KEY)
    fail('auth is on (AUTH=on, or Redis/Qdrant configured with AUTH=auto): set ADMIN_API_KEY, or AUTH=off');
}

/** The first chosen adapter that lacks a setting it needs (its choice's `needs`), as a message; null if none. */
function unmetNeeds(cfg: Config): string | null {
  const values: Readonly<Record<string, unknown>> = cfg;
  for (const [name, spec] of Object.entries(CONFIG_SPEC) as [string, Spec][]) {
    if (spec.type !== 'string' || !spec.needs) continue;
    const choice = String(values[name]);
    const needed = Object.hasOwn(spec.needs, choice) ? spec.needs[choice]! : [];
    if (needed.some((setting) => !values[setting])) return `${name}=${choice} needs ${needed.join(' and ')}`;
  }
  return null;
}

/** Auth is on unless the service runs in its local embedded mode, or AUTH says otherwise. */
export function authEnabled(cfg: Config): boolean {
  if (cfg.AUTH === 'on') return true;
  if (cfg.AUTH === 'off') return false;
  return cfg.REDIS_URL !== '' || cfg.VECTOR_STORE === 'qdrant' || cfg.DATABASE_URL !== '';
}

/** The origins CORS_ORIGINS allows: false when CORS is off, true for any (*), else the list. */
export function corsOrigins(cfg: Config): false | true | string[] {
  const list = cfg.CORS_ORIGINS.split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (list.length === 0) return false;
  return list.includes('*') ? true : list;
}

/** The text of `.env.example`, generated from CONFIG_SPEC. */
export function renderEnvExample(): string {
  const lines = ['# Generated from src/config.ts (npm run env:example). Every setting, with its default.', ''];
  for (const [name, spec] of Object.entries(CONFIG_SPEC) as [string, Spec][]) {
    lines.push(`# ${spec.doc}${'choices' in spec && spec.choices ? ` One of: ${spec.choices.join(', ')}.` : ''}`);
    lines.push(`${name}=${String(spec.default)}`);
    lines.push('');
  }
  return lines.join('\n');
}
