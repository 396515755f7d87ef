import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SQLITE_FILE } from '../../src/adapters/sqlite/database.js';
import { freePort } from '../helpers/net.js';
import { freshSchema, type TestSchema } from '../helpers/postgres.js';
import { exited, spawnTs, until, untilServing } from '../reliability/helpers.js';
import { BullMqQueue, QUEUE_NAME_FOR_TESTS } from './worker-helpers.js';

const ADMIN = 'scale-out-admin-key';
const text = (topic: string) =>
  Array.from(
    { length: 40 },
    (_, i) => `Entry ${i}: the ${topic} keeper logged ${i * 7} ships and the weather at the ${topic} station.`,
  ).join(' ');

async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const t = await res.text();
  return { status: res.status, body: t ? JSON.parse(t) : null };
}

describe('scale-out: two API processes and a worker, each with its own DATA_DIR, sharing only PostgreSQL and Redis', () => {
  let root: string;
  let schema: TestSchema;
  const env: Record<string, string> = {};
  const children: ReturnType<typeof spawnTs>[] = [];
  let apiA = '';
  let apiB = '';

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'air-scale-out-'));
    schema = await freshSchema();
    Object.assign(env, {
      DATABASE_URL: schema.url,
      VECTOR_STORE: 'postgres',
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: `air-scale-${randomUUID().slice(0, 8)}`,
      AUTH: 'on',
      ADMIN_API_KEY: ADMIN,
      LOG_LEVEL: 'error',
      CHUNK_TOKENS: '80',
      CHUNK_OVERLAP_TOKENS: '8',
      TOKENIZER_THREADS: '0',
      EMBEDDER_QUERY_THREAD: 'false',
    });
    const ports = [await freePort(), await freePort()];
    for (const [i, name] of ['a', 'b'].entries()) {
      children.push(
        spawnTs(
          'src/server.ts',
          { ...env, DATA_DIR: join(root, `api-${name}`), PORT: String(ports[i]) },
          `api-${name}`,
        ),
      );
    }
    children.push(spawnTs('workers/ingest-worker.ts', { ...env, DATA_DIR: join(root, 'worker') }, 'worker'));
    apiA = `http://127.0.0.1:${ports[0]}`;
    apiB = `http://127.0.0.1:${ports[1]}`;
    for (const base of [apiA, apiB]) {
      await untilServing(base, `${base} ready`, { path: '/readyz', everyMs: 200 });
    }
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(children.map((c) => exited(c)));
    const q = new BullMqQueue({ url: env.REDIS_URL!, queueName: QUEUE_NAME_FOR_TESTS, prefix: env.QUEUE_PREFIX! });
    await q.obliterate().catch(() => undefined);
    await q.close();
    await schema?.drop();
    await rm(root, { recursive: true, force: true });
  });

  it('a document ingested through one API is ready, retrievable and deletable through the other, with a key made on the first', async () => {
    const key = (
      await call(apiA, 'POST', '/v1/admin/keys', { namespace: 'harbour', name: 'ops' }, { 'x-api-key': ADMIN })
    ).body.key as string;
    const auth = { 'x-api-key': key };
    expect((await call(apiB, 'GET', '/v1/documents', undefined, auth)).status).toBe(200);

    const submitted = await call(
      apiA,
      'POST',
      '/v1/documents',
      { id: 'log', title: 'Station log', text: text('lighthouse') },
      auth,
    );
    expect(submitted.status).toBe(202);
    // The job runs in the worker; the other API reads its state from Redis.
    let job: any;
    await until(
      async () => {
        job = (await call(apiB, 'GET', `/v1/jobs/${submitted.body.jobId}`, undefined, auth)).body;
        return job?.state === 'completed' || job?.state === 'failed';
      },
      'the ingestion job',
      120_000,
      200,
    );
    expect(job.state).toBe('completed');

    const doc = await call(apiB, 'GET', '/v1/documents/log', undefined, auth);
    expect(doc.body).toMatchObject({ id: 'log', status: 'ready', title: 'Station log' });
    expect(doc.body.chunkCount).toBeGreaterThan(2);
    const listed = await call(apiB, 'GET', '/v1/documents', undefined, auth);
    expect(listed.body.items.map((d: any) => d.id)).toEqual(['log']);
    const ret = await call(
      apiB,
      'POST',
      '/v1/retrieve',
      { question: 'How many ships did the keeper log?', documentIds: ['log'] },
      auth,
    );
    expect(ret.status).toBe(200);
    expect(ret.body.curve).toHaveLength(doc.body.chunkCount);
    expect(ret.body.selected.length).toBeGreaterThan(0);

    expect((await call(apiB, 'DELETE', '/v1/documents/log', undefined, auth)).status).toBe(204);
    expect((await call(apiA, 'GET', '/v1/documents/log', undefined, auth)).status).toBe(404);
    expect((await call(apiA, 'GET', '/v1/documents', undefined, auth)).body.items).toEqual([]);

    // No process kept a document, a text, a chunk or a key on its own disk.
    for (const dir of ['api-a', 'api-b', 'worker']) {
      const files = existsSync(join(root, dir)) ? await readdir(join(root, dir)) : [];
      expect(
        files.filter((f) => ['documents', 'vectors', 'api-keys.json', 'jobs', SQLITE_FILE].includes(f)),
        dir,
      ).toEqual([]);
    }
  });
});

describe('scale-out without Redis: two API processes with their own DATA_DIR run the in-process queue on PostgreSQL', () => {
  let root: string;
  let schema: TestSchema;
  const children: ReturnType<typeof spawnTs>[] = [];
  const apis: string[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'air-scale-pg-'));
    schema = await freshSchema();
    const env = {
      DATABASE_URL: schema.url,
      VECTOR_STORE: 'postgres',
      AUTH: 'off',
      LOG_LEVEL: 'error',
      CHUNK_TOKENS: '80',
      CHUNK_OVERLAP_TOKENS: '8',
      TOKENIZER_THREADS: '0',
      EMBEDDER_QUERY_THREAD: 'false',
    };
    for (const name of ['a', 'b']) {
      const port = await freePort();
      children.push(
        spawnTs('src/server.ts', { ...env, DATA_DIR: join(root, name), PORT: String(port) }, `api-${name}`),
      );
      apis.push(`http://127.0.0.1:${port}`);
    }
    for (const base of apis) await untilServing(base, `${base} ready`, { path: '/readyz', everyMs: 200 });
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(children.map((c) => exited(c)));
    await schema?.drop();
    await rm(root, { recursive: true, force: true });
  });

  it('jobs accepted by either API are run once, by one of them, and read through both', async () => {
    const [a, b] = apis as [string, string];
    const jobs: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await call(i % 2 ? b : a, 'POST', '/v1/documents', { id: `doc-${i}`, text: text(`station${i}`) });
      expect(r.status).toBe(202);
      jobs.push(r.body.jobId);
    }
    for (const id of jobs) {
      let job: any;
      await until(
        async () => {
          job = (await call(id.length % 2 ? a : b, 'GET', `/v1/jobs/${id}`)).body;
          return job?.state === 'completed' || job?.state === 'failed';
        },
        `job ${id}`,
        120_000,
        200,
      );
      expect(job).toMatchObject({ state: 'completed', attempts: 1 });
      expect((await call(a, 'GET', `/v1/jobs/${id}`)).body).toEqual((await call(b, 'GET', `/v1/jobs/${id}`)).body);
    }
    for (const base of [a, b]) {
      const listed = await call(base, 'GET', '/v1/documents');
      expect(listed.body.items.map((d: any) => [d.id, d.status])).toEqual(
        [0, 1, 2, 3].map((i) => [`doc-${i}`, 'ready']),
      );
    }
    for (const dir of ['a', 'b']) {
      const files = existsSync(join(root, dir)) ? await readdir(join(root, dir)) : [];
      expect(
        files.filter((f) => ['documents', 'vectors', 'api-keys.json', 'jobs', SQLITE_FILE].includes(f)),
        dir,
      ).toEqual([]);
    }
  });
});
