import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import { AppError } from '../../errors.js';
import type { Embedder } from '../../ports/embedder.js';
import type { EmbeddingCacheStore } from '../../ports/embedding-cache.js';
import { CachingEmbedder } from './cached.js';
import { OpenAiEmbedder } from './openai.js';
import { TransformersEmbedder, type Pooling } from './transformers.js';
import { UseLiteEmbedder } from './use-lite.js';
import { UseLiteStaticEmbedder } from './use-lite-static.js';

type Factory = (cfg: Config, logger: Logger | undefined) => Embedder;

/** One line per adapter; `EMBEDDER` in config.ts lists the same names. */
const ADAPTERS: Record<string, Factory> = {
  'use-lite-static': (_cfg, logger) => new UseLiteStaticEmbedder({ logger }),
  'use-lite': (cfg, logger) =>
    new UseLiteEmbedder({
      batchSize: cfg.EMBED_BATCH_SIZE,
      threads: cfg.EMBEDDER_THREADS,
      queryThread: cfg.EMBEDDER_QUERY_THREAD,
      logger,
    }),
  transformers: (cfg, logger) =>
    new TransformersEmbedder({
      modelDir: cfg.EMBEDDER_MODEL_DIR,
      model: cfg.EMBEDDER_MODEL,
      pooling: cfg.EMBEDDER_POOLING as Pooling,
      queryPrefix: cfg.EMBEDDER_QUERY_PREFIX,
      documentPrefix: cfg.EMBEDDER_DOCUMENT_PREFIX,
      batchSize: cfg.EMBED_BATCH_SIZE,
      logger,
    }),
  openai: (cfg, logger) =>
    new OpenAiEmbedder({
      baseUrl: cfg.EMBEDDER_URL,
      model: cfg.EMBEDDER_MODEL,
      apiKey: cfg.EMBEDDER_API_KEY,
      batchSize: cfg.EMBED_BATCH_SIZE,
      timeoutMs: cfg.EMBEDDER_TIMEOUT_MS,
      queryPrefix: cfg.EMBEDDER_QUERY_PREFIX,
      documentPrefix: cfg.EMBEDDER_DOCUMENT_PREFIX,
      logger,
    }),
};

/**
 * Adapters whose vectors cost less to compute than to look up: a static table
 * embeds a chunk in about the time the cache takes to hash it and store its
 * vector, and the cache would hold a kilobyte per chunk (a gigabyte for a
 * million-chunk library) that saves nothing.
 */
const UNCACHED = new Set(['use-lite-static']);

/**
 * The embedder chosen by `cfg.EMBEDDER`, behind a cache of chunk vectors
 * (EMBEDDING_CACHE_MB of them in memory, all of them in `opts.cache` when
 * given: the container passes the embedded database's or PostgreSQL's) and a
 * small in-memory cache of query vectors, unless it is one of the UNCACHED.
 * Nothing is loaded until first use.
 */
export function createEmbedder(cfg: Config, opts: { logger?: Logger; cache?: EmbeddingCacheStore } = {}): Embedder {
  const factory = ADAPTERS[cfg.EMBEDDER];
  if (!factory)
    throw new AppError('CONFIG_INVALID', [
      `EMBEDDER=${cfg.EMBEDDER} is not one of ${Object.keys(ADAPTERS).join(', ')}`,
    ]);
  const logger = opts.logger?.child({ component: 'embedder' });
  const embedder = factory(cfg, logger);
  if (UNCACHED.has(cfg.EMBEDDER)) return embedder;
  return new CachingEmbedder(embedder, {
    ...(opts.cache ? { store: opts.cache } : {}),
    maxBytes: cfg.EMBEDDING_CACHE_MB * 1024 * 1024,
    logger,
  });
}

export { CachingEmbedder } from './cached.js';
export { OpenAiEmbedder } from './openai.js';
export { TransformersEmbedder } from './transformers.js';
export { UseLiteEmbedder } from './use-lite.js';
export { UseLiteStaticEmbedder } from './use-lite-static.js';
