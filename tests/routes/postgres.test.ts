import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, waitForJob, type TestServer } from '../helpers/server.js';
import { freshSchema, type TestSchema } from '../helpers/postgres.js';
import { freePort } from '../helpers/net.js';

const ADMIN = 'admin-secret-for-tests';
const text = (topic: string) =>
  Array.from(
    { length: 25 },
    (_, i) => `Entry ${i} of the ${topic} log records how the ${topic} crew kept watch through the night.`,
  ).join(' ');

describe('the API with DATABASE_URL and VECTOR_STORE=postgres: documents, texts, chunks and API keys in PostgreSQL (real server, own schema)', () => {
  let schema: TestSchema;
  let s: TestServer;
  let key: string;
  beforeAll(async () => {
    schema = await freshSchema();
    s = await startServer({
      DATABASE_URL: schema.url,
      VECTOR_STORE: 'postgres',
      AUTH: 'on',
      ADMIN_API_KEY: ADMIN,
      CHUNK_TOKENS: 100,
      CHUNK_OVERLAP_TOKENS: 10,
    });
    key = (await s.call('POST', '/v1/admin/keys', { namespace: 'crew', name: 'ops' }, { 'x-api-key': ADMIN })).body.key;
  });
  afterAll(async () => {
    await s?.close();
    await schema?.drop();
  });

  it('ingests, serves, retrieves and deletes a document whose record, text and key live in the database', async () => {
    const auth = { 'x-api-key': key };
    const body = text('lighthouse');
    const r = await s.call('POST', '/v1/documents', { id: 'log', title: 'Lighthouse log', text: body }, auth);
    expect(r.status).toBe(202);
    expect((await waitForJob(s, r.body.jobId, auth)).state).toBe('completed');
    const doc = await s.call('GET', '/v1/documents/log', undefined, auth);
    expect(doc.body).toMatchObject({ id: 'log', status: 'ready', chars: body.length });
    expect(doc.body.chunkCount).toBeGreaterThan(1);
    const { rows } = await s.container.database!.query<{ n: string }>(
      'test',
      "SELECT count(*) AS n FROM documents WHERE namespace = 'crew'",
    );
    expect(rows[0]!.n).toBe('1');
    const chunks = await s.container.database!.query<{ n: string }>(
      'test',
      "SELECT count(*) AS n FROM chunks WHERE namespace = 'crew' AND document_id = 'log'",
    );
    expect(Number(chunks.rows[0]!.n)).toBe(doc.body.chunkCount);
    expect(await s.container.documents.getText('crew', 'log', doc.body.version)).toBe(body);
    const ret = await s.call(
      'POST',
      '/v1/retrieve',
      { question: 'Who kept watch through the night?', documentIds: ['log'] },
      auth,
    );
    expect(ret.status).toBe(200);
    expect(ret.body.selected.length).toBeGreaterThan(0);
    expect(ret.body.curve).toHaveLength(doc.body.chunkCount);
    expect((await s.call('DELETE', '/v1/documents/log', undefined, auth)).status).toBe(204);
    expect((await s.call('GET', '/v1/documents/log', undefined, auth)).status).toBe(404);
    expect(await s.container.documents.getText('crew', 'log', doc.body.version)).toBeNull();
    expect(await s.container.vectors.getChunks('crew', { documentId: 'log', version: doc.body.version })).toEqual([]);
  });
});

describe('the API with DATABASE_URL while PostgreSQL is down', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({
      DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/postgres`,
      AUTH: 'off',
      DATABASE_TIMEOUT_MS: 500,
    });
  });
  afterAll(async () => s?.close());

  it('answers 503 DATABASE_UNAVAILABLE with Retry-After, and stores nothing', async () => {
    for (const [method, path, body] of [
      ['POST', '/v1/documents', { id: 'doc', text: text('harbour') }],
      ['GET', '/v1/documents', undefined],
      ['GET', '/v1/documents/doc', undefined],
    ] as const) {
      const r = await s.call(method, path, body);
      expect(r.status, `${method} ${path}`).toBe(503);
      expect(r.body.error.code).toBe('DATABASE_UNAVAILABLE');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    const ready = await s.call('GET', '/readyz');
    expect(ready.status).toBe(503);
  });
});
