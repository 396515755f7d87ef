import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { openSqlite, SQLITE_FILE } from '../../src/adapters/sqlite/database.js';
import { SqliteKeyStore } from '../../src/adapters/sqlite/key-store.js';
import { RedisKeyStore } from '../../src/adapters/key-store/redis.js';
import { PostgresKeyStore } from '../../src/adapters/postgres/key-store.js';
import { schemaPools } from '../helpers/postgres.js';
import { keyStoreContract } from './key-store.contract.js';

// Two connections on one database file: what two processes on one DATA_DIR have.
keyStoreContract('SQLite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'air-keys-'));
  const a = openSqlite(join(dir, SQLITE_FILE));
  const b = openSqlite(join(dir, SQLITE_FILE));
  return {
    store: new SqliteKeyStore({ db: a }),
    other: new SqliteKeyStore({ db: b }),
    cleanup: async () => {
      a.close();
      b.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

// Real Redis on 127.0.0.1:6379 (.ci/run starts it); each test gets its own prefix, deleted afterwards.
const REDIS_URL = 'redis://127.0.0.1:6379';
keyStoreContract('Redis', async () => {
  const prefix = `air-test-${randomUUID()}`;
  const store = new RedisKeyStore({ url: REDIS_URL, prefix });
  const other = new RedisKeyStore({ url: REDIS_URL, prefix });
  return {
    store,
    other,
    cleanup: async () => {
      await store.close();
      await other.close();
      const r = new Redis(REDIS_URL);
      await r.del(`${prefix}:api-keys`);
      r.disconnect();
    },
  };
});

// Two pools on one schema of the real server (127.0.0.1:5432): what two API replicas have.
keyStoreContract('PostgreSQL', async () => {
  const pools = await schemaPools(2);
  return {
    store: new PostgresKeyStore({ db: pools.dbs[0]! }),
    other: new PostgresKeyStore({ db: pools.dbs[1]! }),
    cleanup: pools.cleanup,
  };
});
