import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgDatabase } from '../../src/adapters/postgres/database.js';
import { freePort } from '../helpers/net.js';
import { OwnPostgres } from '../helpers/postgres.js';

/**
 * node-postgres emits 'error' on a client whose server goes away, and the pool listens only while the client is idle:
 * a connection checked out for a transaction, lost between two statements, would throw from the emitter and end the
 * process. These tests lose the server in each place a transaction can be and expect a translated rejection instead.
 */
describe('PgDatabase when its server stops under a checked-out connection (own cluster)', () => {
  let dir: string;
  let server: OwnPostgres;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'air-pg-lost-'));
    server = new OwnPostgres(await freePort(), dir);
    await server.init();
    await server.start();
  });
  afterAll(async () => {
    await server?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  for (const where of ['between two statements', 'during a statement'] as const) {
    it(`rejects with DATABASE_UNAVAILABLE when it is lost ${where}, and the pool serves again after the restart`, async () => {
      const db = new PgDatabase({ url: server.url, timeoutMs: 1000, migrations: [] });
      try {
        await db.query('create', 'CREATE TABLE IF NOT EXISTS t (v int)');
        let entered!: () => void;
        const inside = new Promise<void>((r) => (entered = r));
        const tx = db.transaction('test', async (c) => {
          await c.query('INSERT INTO t VALUES (1)');
          entered();
          if (where === 'during a statement') await c.query('SELECT pg_sleep(30)');
          else await new Promise((r) => setTimeout(r, 2000));
          await c.query('INSERT INTO t VALUES (2)');
        });
        const outcome = tx.then(
          () => null,
          (err: unknown) => err,
        );
        await inside;
        await server.stop('immediate');
        const err = (await outcome) as { code?: string } | null;
        expect(err?.code).toBe('DATABASE_UNAVAILABLE');
        await server.start();
        // Nothing of the lost transaction was kept, and the pool hands out working connections.
        const rows = await db.query<{ n: number }>('count', 'SELECT count(*)::int AS n FROM t');
        expect(rows.rows[0]!.n).toBe(0);
        await db.transaction('after', (c) => c.query('INSERT INTO t VALUES (3)'));
        expect((await db.query<{ n: number }>('count', 'SELECT count(*)::int AS n FROM t')).rows[0]!.n).toBe(1);
        await db.query('drop', 'DROP TABLE t');
      } finally {
        await db.close();
      }
    });
  }
});
