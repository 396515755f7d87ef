import type { ChoiceOf } from '../../config.js';
import type { VectorStore } from '../../ports/vector-store.js';
import type { StoreDeps } from '../connections.js';
import { PostgresVectorStore } from '../postgres/vector-store.js';
import type { Registry } from '../registry.js';
import { SqliteVectorStore } from '../sqlite/vector-store.js';
import { QdrantVectorStore } from './qdrant.js';

/** The vector stores by VECTOR_STORE name; one line per adapter. */
export const vectorStores: Registry<ChoiceOf<'VECTOR_STORE'>, StoreDeps, VectorStore> = Object.freeze({
  embedded: ({ connections }) => new SqliteVectorStore({ db: connections.sqlite() }),
  postgres: ({ connections }) => new PostgresVectorStore({ db: connections.postgres() }),
  qdrant: ({ config }) =>
    new QdrantVectorStore({
      url: config.QDRANT_URL,
      apiKey: config.QDRANT_API_KEY || undefined,
      collection: config.QDRANT_COLLECTION,
      timeoutMs: config.QDRANT_TIMEOUT_MS,
    }),
});
