import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { SqliteEmbeddingCache } from '../../src/adapters/sqlite/embedding-cache.js';
import { openSqlite } from '../../src/adapters/sqlite/database.js';
import { PgDatabase } from '../../src/adapters/postgres/database.js';
import { PostgresEmbeddingCache } from '../../src/adapters/postgres/embedding-cache.js';
import { schemaPools } from '../helpers/postgres.js';
import { embeddingCacheContract } from './embedding-cache.contract.js';

embeddingCacheContract('SqliteEmbeddingCache', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'emb-cache-sqlite-'));
  const file = join(dir, 'test.db');
  const dbs: Database.Database[] = [openSqlite(file)];
  const store = new SqliteEmbeddingCache({ db: dbs[0]! });
  return {
    store,
    async reopen() {
      const db = openSqlite(file);
      dbs.push(db);
      return new SqliteEmbeddingCache({ db });
    },
    async cleanup() {
      await store.close();
      for (const db of dbs) db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

embeddingCacheContract('PostgresEmbeddingCache', async () => {
  const pools = await schemaPools();
  const store = new PostgresEmbeddingCache({ db: pools.dbs[0]! });
  return {
    store,
    async reopen() {
      const db = new PgDatabase({ url: pools.schema.url });
      pools.dbs.push(db);
      return new PostgresEmbeddingCache({ db });
    },
    async cleanup() {
      await store.close();
      await pools.cleanup();
    },
  };
});
