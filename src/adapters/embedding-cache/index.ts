import type { EmbeddingCacheStore } from '../../ports/embedding-cache.js';
import type { StoreDeps } from '../connections.js';
import { PostgresEmbeddingCache } from '../postgres/embedding-cache.js';
import type { Registry } from '../registry.js';
import { SqliteEmbeddingCache } from '../sqlite/embedding-cache.js';

/** The durable embedding caches (chunk vectors by model and text digest) by database; one line per adapter. */
export const embeddingCaches: Registry<'embedded' | 'postgres', StoreDeps, EmbeddingCacheStore> = Object.freeze({
  embedded: ({ connections }) => new SqliteEmbeddingCache({ db: connections.sqlite() }),
  postgres: ({ connections }) => new PostgresEmbeddingCache({ db: connections.postgres() }),
});
