import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite, SQLITE_FILE } from '../../src/adapters/sqlite/database.js';
import { SqliteJobStore } from '../../src/adapters/sqlite/job-store.js';
import { PostgresJobStore } from '../../src/adapters/postgres/job-store.js';
import { schemaPools } from '../helpers/postgres.js';
import { jobStoreContract } from './job-store.contract.js';

// Two connections on one database file: what two processes on one DATA_DIR have. Results are recorded on the
// write thread from 1 Mi characters; the second run sends every result there.
for (const [name, opts] of [
  ['SQLite', {}],
  ['SQLite, every result recorded on the write thread', { writeThreadMinChars: 1 }],
] as const) {
  jobStoreContract(name, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'air-jobstore-'));
    const a = openSqlite(join(dir, SQLITE_FILE));
    const b = openSqlite(join(dir, SQLITE_FILE));
    const store = new SqliteJobStore({ db: a, ...opts });
    const other = new SqliteJobStore({ db: b, ...opts });
    return {
      store,
      other,
      cleanup: async () => {
        await store.close();
        await other.close();
        a.close();
        b.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  });
}

// Two pools on one schema of the real server: what two API processes of a deployment have.
jobStoreContract('PostgreSQL', async () => {
  const pools = await schemaPools(2);
  return {
    store: new PostgresJobStore({ db: pools.dbs[0]! }),
    other: new PostgresJobStore({ db: pools.dbs[1]! }),
    cleanup: pools.cleanup,
  };
});
