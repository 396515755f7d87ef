import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PgDatabase } from '../../src/adapters/postgres/database.js';
import { PostgresDocumentStore } from '../../src/adapters/postgres/document-store.js';
import { PostgresKeyStore } from '../../src/adapters/postgres/key-store.js';
import type { ApiKeyRecord } from '../../src/ports/key-store.js';
import { freshSchema, schemaUrl, type TestSchema, schemaPools } from '../helpers/postgres.js';
import { freePort, silentServer } from '../helpers/net.js';
import { documentStoreContract, makeRecord } from './document-store.contract.js';
import { appErrorOf } from '../helpers/errors.js';

documentStoreContract('PostgresDocumentStore', async () => {
  const pools = await schemaPools();
  const store = new PostgresDocumentStore({ db: pools.dbs[0]! });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await pools.cleanup();
    },
  };
});

function key(over: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  const id = over.id ?? `key_${randomUUID().slice(0, 8)}`;
  return {
    id,
    hash: `h-${id}`,
    namespace: 'ns',
    name: `name of ${id}`,
    createdAt: '2026-01-01T00:00:00.000Z',
    ...over,
  };
}

describe('PostgreSQL stores on the real server', () => {
  let schema: TestSchema;
  const opened: PgDatabase[] = [];
  const open = (url = schema.url) => {
    const db = new PgDatabase({ url });
    opened.push(db);
    return db;
  };

  beforeEach(async () => {
    schema = await freshSchema();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((db) => db.close()));
    await schema.drop();
  });

  it('applies each migration once when several processes start at the same time', async () => {
    const dbs = Array.from({ length: 4 }, () => open());
    await Promise.all(dbs.map((db) => db.ready()));
    const { rows } = await dbs[0]!.query<{ version: number; n: string }>(
      'test',
      'SELECT version, count(*) AS n FROM schema_migrations GROUP BY version ORDER BY version',
    );
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.n === '1')).toBe(true);
    expect(rows.map((r) => r.version)[0]).toBe(1);
    // Another start finds them all applied and applies nothing again.
    await open().ready();
    const again = await dbs[0]!.query<{ n: string }>('test', 'SELECT count(*) AS n FROM schema_migrations');
    expect(Number(again.rows[0]!.n)).toBe(rows.length);
  });

  it('serialises updates of one record made through separate pools: no increment is lost', async () => {
    const a = new PostgresDocumentStore({ db: open() });
    const b = new PostgresDocumentStore({ db: open() });
    await a.put(makeRecord('ns', 'counter', { chunkCount: 0 }));
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        (i % 2 ? a : b).update('ns', 'counter', (cur) => ({ ...cur!, chunkCount: cur!.chunkCount + 1 })),
      ),
    );
    expect((await b.get('ns', 'counter'))?.chunkCount).toBe(30);
  });

  it('creates a record once when two pools race to create it', async () => {
    const a = new PostgresDocumentStore({ db: open() });
    const b = new PostgresDocumentStore({ db: open() });
    const created: string[] = [];
    await Promise.all(
      [a, b, a, b].map((s, i) =>
        s.update('ns', 'new', (cur) => {
          if (cur) return cur;
          created.push(String(i));
          return makeRecord('ns', 'new', { title: `by ${i}` });
        }),
      ),
    );
    expect(created).toHaveLength(1);
    expect((await a.get('ns', 'new'))?.title).toBe(`by ${created[0]}`);
  });

  it('keeps texts, titles and metadata holding U+0000 exactly', async () => {
    const store = new PostgresDocumentStore({ db: open() });
    const text = 'before\u0000after ünï 🚀';
    await store.put(makeRecord('ns', 'nul', { title: 'a\u0000b', metadata: { k: 'x\u0000y' } }));
    await store.putText('ns', 'nul', 'v1', text);
    expect(await store.getText('ns', 'nul', 'v1')).toBe(text);
    expect(await store.get('ns', 'nul')).toMatchObject({ title: 'a\u0000b', metadata: { k: 'x\u0000y' } });
  });

  it('orders pages by code unit whatever the server collation (B before a)', async () => {
    const store = new PostgresDocumentStore({ db: open() });
    for (const id of ['a', 'B', '_', 'Z']) await store.put(makeRecord('ns', id));
    const page = await store.list('ns', { limit: 10 });
    expect(page.items.map((r) => r.id)).toEqual(['B', 'Z', '_', 'a']);
  });

  it('key store: finds a key by hash, lists per namespace in creation order, removes by id', async () => {
    const keys = new PostgresKeyStore({ db: open() });
    const k1 = key({ id: 'k1', namespace: 'a', createdAt: '2026-01-02T00:00:00.000Z' });
    const k2 = key({ id: 'k2', namespace: 'b', createdAt: '2026-01-01T00:00:00.000Z' });
    const k3 = key({ id: 'k3', namespace: 'a', createdAt: '2026-01-03T00:00:00.000Z', name: 'nul\u0000name' });
    for (const k of [k1, k2, k3]) await keys.add(k);
    expect(await keys.findByHash(k1.hash)).toEqual(k1);
    expect(await keys.findByHash('nope')).toBeNull();
    expect(await keys.list()).toEqual([k2, k1, k3]);
    expect(await keys.list('a')).toEqual([k1, k3]);
    expect(await keys.remove('k1')).toBe(true);
    expect(await keys.remove('k1')).toBe(false);
    expect(await keys.findByHash(k1.hash)).toBeNull();
    // Another replica's pool sees the same keys.
    expect(await new PostgresKeyStore({ db: open() }).list()).toEqual([k2, k3]);
  });

  it('a server nobody listens on is 503 DATABASE_UNAVAILABLE with Retry-After, the connection error kept as cause', async () => {
    const port = await freePort();
    const store = new PostgresDocumentStore({
      db: open(schemaUrl(schema.schema, `postgres://postgres@127.0.0.1:${port}/postgres`)),
    });
    const err = await appErrorOf(store.get('ns', 'doc'));
    expect(err.code).toBe('DATABASE_UNAVAILABLE');
    expect(err.statusCode).toBe(503);
    expect(err.transient).toBe(true);
    expect(err.retryAfter).toBeGreaterThan(0);
    expect((err.cause as { code?: string }).code).toBe('ECONNREFUSED');
    const keys = await appErrorOf(
      new PostgresKeyStore({
        db: open(schemaUrl(schema.schema, `postgres://postgres@127.0.0.1:${port}/postgres`)),
      }).findByHash('x'),
    );
    expect(keys.code).toBe('DATABASE_UNAVAILABLE');
  });

  it('a server that accepts and never answers is DATABASE_UNAVAILABLE within the timeout, not a hung request', async () => {
    const silent = await silentServer();
    try {
      const db = new PgDatabase({ url: `postgres://postgres@127.0.0.1:${silent.port}/postgres`, timeoutMs: 300 });
      opened.push(db);
      const err = await appErrorOf(new PostgresDocumentStore({ db }).get('ns', 'doc'));
      expect(err.code).toBe('DATABASE_UNAVAILABLE');
    } finally {
      await silent.close();
    }
  });

  it('a statement the server refuses is DATABASE_ERROR (500, not transient) with its SQLSTATE kept as cause', async () => {
    const db = open();
    const err = await appErrorOf(db.query('test', 'SELECT * FROM no_such_table'));
    expect(err.code).toBe('DATABASE_ERROR');
    expect(err.statusCode).toBe(500);
    expect(err.transient).toBe(false);
    expect((err.cause as { code?: string }).code).toBe('42P01');
  });
});
