import type { KeyStore } from '../../ports/key-store.js';
import type { StoreDeps } from '../connections.js';
import { PostgresKeyStore } from '../postgres/key-store.js';
import type { Registry } from '../registry.js';
import { SqliteKeyStore } from '../sqlite/key-store.js';
import { RedisKeyStore } from './redis.js';

/** The API key stores (hashed keys) by backend; one line per adapter. */
export const keyStores: Registry<'embedded' | 'postgres' | 'redis', StoreDeps, KeyStore> = Object.freeze({
  embedded: ({ connections }) => new SqliteKeyStore({ db: connections.sqlite() }),
  postgres: ({ connections }) => new PostgresKeyStore({ db: connections.postgres() }),
  redis: ({ config }) =>
    new RedisKeyStore({ url: config.REDIS_URL, prefix: config.QUEUE_PREFIX, timeoutMs: config.REDIS_TIMEOUT_MS }),
});
