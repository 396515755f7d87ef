import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/net.js';
import { OwnPostgres } from '../helpers/postgres.js';
import { BullMqQueue, QUEUE_NAME_FOR_TESTS } from '../integration/worker-helpers.js';
import { exited, spawnTs, until, untilServing } from './helpers.js';

const doc = (topic: string, n: number) =>
  Array.from({ length: n }, (_, i) => `Entry ${i} of the ${topic} register notes shipment ${i * 13} in detail.`).join(
    ' ',
  );

async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const t = await res.text();
  return { status: res.status, body: t ? JSON.parse(t) : null, headers: res.headers };
}

describe('PostgreSQL restarted during ingestion (own cluster: initdb in a temp dir, own port)', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterAll(async () => {
    for (const f of cleanups.reverse()) await f();
  });

  it('answers 503 DATABASE_UNAVAILABLE with Retry-After while it is down; afterwards every job resumes and every document is indexed once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'air-pg-restart-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const db = new OwnPostgres(await freePort(), dir);
    await db.init();
    cleanups.push(() => db.kill());
    await db.start();

    const port = await freePort();
    const api = `http://127.0.0.1:${port}`;
    const env = {
      DATABASE_URL: db.url,
      VECTOR_STORE: 'postgres',
      DATABASE_TIMEOUT_MS: '1000',
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: `air-pg-restart-${randomUUID().slice(0, 8)}`,
      AUTH: 'off',
      LOG_LEVEL: 'error',
      CHUNK_TOKENS: '60',
      CHUNK_OVERLAP_TOKENS: '6',
      EMBED_BATCH_SIZE: '4',
      INGEST_ATTEMPTS: '12',
      TOKENIZER_THREADS: '0',
      EMBEDDER_QUERY_THREAD: 'false',
      // USE lite itself: slow enough that PostgreSQL stops in the middle of the batch (the static default may index all six first).
      EMBEDDER: 'use-lite',
    };
    cleanups.push(async () => {
      const q = new BullMqQueue({ url: env.REDIS_URL, queueName: QUEUE_NAME_FOR_TESTS, prefix: env.QUEUE_PREFIX });
      await q.obliterate().catch(() => undefined);
      await q.close();
    });
    const server = spawnTs('src/server.ts', { ...env, DATA_DIR: join(dir, 'api'), PORT: String(port) }, 'api');
    const worker = spawnTs('workers/ingest-worker.ts', { ...env, DATA_DIR: join(dir, 'worker') }, 'worker');
    for (const child of [server, worker]) {
      cleanups.push(async () => {
        if (child.exitCode === null) child.kill('SIGTERM');
        await exited(child);
      });
    }
    await untilServing(api, 'the API', { path: '/readyz', everyMs: 200 });

    const texts = new Map(Array.from({ length: 6 }, (_, i) => [`register-${i}`, doc(`port${i}`, 60)]));
    const jobIds: string[] = [];
    for (const [id, text] of texts) {
      const r = await call(api, 'POST', '/v1/documents', { id, text });
      expect(r.status).toBe(202);
      jobIds.push(r.body.jobId);
    }

    // A process that dies (a lost connection thrown from an emitter did, once) fails the test at once, not at its timeout.
    const alive = () => {
      for (const [what, child] of [
        ['API', server],
        ['worker', worker],
      ] as const)
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`the ${what} exited (${child.exitCode ?? child.signalCode})`);
    };
    const ready = async () => {
      alive();
      const page = await call(api, 'GET', '/v1/documents?limit=50');
      return page.status === 200 ? page.body.items.filter((d: any) => d.status === 'ready' && !d.pending).length : -1;
    };
    // Stop the server while the worker is in the middle of the batch: some documents done, some not.
    await until(
      async () => {
        const n = await ready();
        if (n === texts.size) throw new Error('the worker finished before PostgreSQL could be stopped');
        return n >= 1;
      },
      'the first document to be indexed',
      90_000,
      25,
    );
    await db.stop('immediate');

    for (const [method, path, body] of [
      ['GET', '/v1/documents', undefined],
      ['GET', '/v1/documents/register-0', undefined],
      ['POST', '/v1/documents', { id: 'while-down', text: doc('outage', 5) }],
    ] as const) {
      const r = await call(api, method, path, body);
      expect(r.status, `${method} ${path}`).toBe(503);
      expect(r.body.error.code).toBe('DATABASE_UNAVAILABLE');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    expect((await call(api, 'GET', '/readyz')).status).toBe(503);
    // Long enough for the worker's current job to fail an attempt against the missing server.
    await new Promise((r) => setTimeout(r, 3000));
    await db.start();

    await until(async () => (await ready()) === texts.size, 'every document indexed after the restart', 120_000, 250);

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    cleanups.push(() => client.end());
    const docs = (await call(api, 'GET', '/v1/documents?limit=50')).body.items as any[];
    expect(docs.map((d) => d.id).sort()).toEqual([...texts.keys()].sort());
    for (const d of docs) {
      // Nothing lost: the stored text is the submitted one, and its chunks cover it in order.
      expect(d.chars).toBe(texts.get(d.id)!.length);
      const rows = (
        await client.query<{ version: string; ord: number; start_at: number; end_at: number; body: Buffer }>(
          'SELECT version, ord, start_at, end_at, body FROM chunks WHERE namespace = $1 AND document_id = $2 ORDER BY ord',
          ['default', d.id],
        )
      ).rows;
      // Nothing duplicated: one row per chunk of the live version, and none of any other.
      expect(rows).toHaveLength(d.chunkCount);
      expect(rows.map((r) => r.ord)).toEqual(Array.from({ length: d.chunkCount }, (_, i) => i));
      expect(new Set(rows.map((r) => r.version))).toEqual(new Set([d.version]));
      const text = texts.get(d.id)!;
      for (const r of rows) expect(r.body.toString('utf8')).toBe(text.slice(r.start_at, r.end_at));
      expect(rows.at(-1)!.end_at).toBe(text.length);
    }
    const stored = await client.query('SELECT count(*)::int AS n FROM documents');
    expect(stored.rows[0].n).toBe(texts.size);
    // The outage really hit a job: one attempt failed against the missing server and a later one finished it.
    const jobs = await Promise.all(jobIds.map(async (id) => (await call(api, 'GET', `/v1/jobs/${id}`)).body));
    expect(jobs.every((j) => j.state === 'completed')).toBe(true);
    expect(Math.max(...jobs.map((j) => j.attempts))).toBeGreaterThanOrEqual(2);
    alive();
  }, 300_000);
});
