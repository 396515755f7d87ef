import type { Logger } from 'pino';
import type { ChoiceOf, Config } from '../../config.js';
import type { Embedder } from '../../ports/embedder.js';
import type { EmbeddingCacheStore } from '../../ports/embedding-cache.js';
import { lookup, type Registry } from '../registry.js';
import { CachingEmbedder } from './cached.js';
import { OpenAiEmbedder } from './openai.js';
import { TransformersEmbedder } from './transformers.js';
import { UseLiteEmbedder } from './use-lite.js';
import { UseLiteStaticEmbedder } from './use-lite-static.js';

/** What an embedder is built from: the EMBEDDER_* settings and a logger. */
export interface EmbedderDeps {
  config: Config;
  logger: Logger | undefined;
}

/** The embedders by EMBEDDER name; one line per adapter. */
export const embedders: Registry<ChoiceOf<'EMBEDDER'>, EmbedderDeps, Embedder> = Object.freeze({
  'use-lite-static': ({ logger }) => new UseLiteStaticEmbedder({ logger }),
  'use-lite': ({ config, logger }) =>
    new UseLiteEmbedder({
      batchSize: config.EMBED_BATCH_SIZE,
      threads: config.EMBEDDER_THREADS,
      queryThread: config.EMBEDDER_QUERY_THREAD,
      logger,
    }),
  transformers: ({ config, logger }) =>
    new TransformersEmbedder({
      modelDir: config.EMBEDDER_MODEL_DIR,
      model: config.EMBEDDER_MODEL,
      pooling: config.EMBEDDER_POOLING,
      queryPrefix: config.EMBEDDER_QUERY_PREFIX,
      documentPrefix: config.EMBEDDER_DOCUMENT_PREFIX,
      batchSize: config.EMBED_BATCH_SIZE,
      logger,
    }),
  openai: ({ config, logger }) =>
    new OpenAiEmbedder({
      baseUrl: config.EMBEDDER_URL,
      model: config.EMBEDDER_MODEL,
      apiKey: config.EMBEDDER_API_KEY,
      batchSize: config.EMBED_BATCH_SIZE,
      timeoutMs: config.EMBEDDER_TIMEOUT_MS,
      queryPrefix: config.EMBEDDER_QUERY_PREFIX,
      documentPrefix: config.EMBEDDER_DOCUMENT_PREFIX,
      logger,
    }),
});

/**
 * Adapters whose vectors cost less to compute than to look up: a static table
 * embeds a chunk in about the time the cache takes to hash it and store its
 * vector, and the cache would hold a kilobyte per chunk (a gigabyte for a
 * million-chunk library) that saves nothing.
 */
const UNCACHED: ReadonlySet<string> = new Set<ChoiceOf<'EMBEDDER'>>(['use-lite-static']);

/**
 * The embedder chosen by `cfg.EMBEDDER`, behind a cache of chunk vectors
 * (EMBEDDING_CACHE_MB of them in memory, all of them in `opts.cache` when
 * given: the container passes the embedded database's or PostgreSQL's) and a
 * small in-memory cache of query vectors, unless it is one of the UNCACHED.
 * Nothing is loaded until first use.
 */
export function createEmbedder(cfg: Config, opts: { logger?: Logger; cache?: EmbeddingCacheStore } = {}): Embedder {
  const factory = lookup(embedders, 'EMBEDDER', cfg.EMBEDDER);
  const logger = opts.logger?.child({ component: 'embedder' });
  const embedder = factory({ config: cfg, logger });
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
