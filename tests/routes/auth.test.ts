import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, waitForJob, type TestServer } from '../helpers/server.js';

const ADMIN = 'admin-secret-for-tests-0123456789';
const text = (topic: string) =>
  Array.from({ length: 8 }, (_, i) => `Line ${i}: the ${topic} ledger records another entry.`).join(' ');

describe('tenants and API keys over HTTP', () => {
  let s: TestServer;
  const logs: string[] = [];
  let keyA = '';
  let keyB = '';
  let docJob = '';

  beforeAll(async () => {
    s = await startServer({ AUTH: 'on', ADMIN_API_KEY: ADMIN }, {}, { logLines: logs });
    const admin = { 'x-api-key': ADMIN };
    keyA = (await s.call('POST', '/v1/admin/keys', { namespace: 'team-a', name: 'alice' }, admin)).body.key;
    keyB = (await s.call('POST', '/v1/admin/keys', { namespace: 'team-b', name: 'bob' }, admin)).body.key;
    const r = await s.call('POST', '/v1/documents', { id: 'plans', text: text('secret') }, { 'x-api-key': keyA });
    expect(r.status).toBe(202);
    docJob = r.body.jobId;
    await waitForJob(s, docJob, { 'x-api-key': keyA });
  });
  afterAll(async () => s?.close());

  it('answers 401 without a key or with a wrong one, on every API route', async () => {
    for (const [method, path] of [
      ['GET', '/v1/documents'],
      ['POST', '/v1/retrieve'],
      ['GET', '/v1/jobs/x'],
      ['GET', '/v1/admin/keys'],
    ] as const) {
      const none = await s.call(method, path, method === 'POST' ? { question: 'q' } : undefined);
      expect(none.status).toBe(401);
      expect(none.body.error.code).toBe('UNAUTHORIZED');
      const wrong = await s.call(method, path, method === 'POST' ? { question: 'q' } : undefined, {
        'x-api-key': 'air_not-a-real-key',
      });
      expect(wrong.status).toBe(401);
    }
  });

  it('keeps probes and the API description public', async () => {
    expect((await s.call('GET', '/healthz')).status).toBe(200);
    expect((await s.call('GET', '/openapi.json')).status).toBe(200);
  });

  it('lets a key see its own namespace only, by id, by listing, by job and by retrieval', async () => {
    const a = { 'x-api-key': keyA };
    const b = { 'x-api-key': keyB, authorization: 'ignored' };
    expect((await s.call('GET', '/v1/documents/plans', undefined, a)).status).toBe(200);
    expect((await s.call('GET', '/v1/documents/plans', undefined, b)).status).toBe(404);
    expect((await s.call('GET', '/v1/documents', undefined, b)).body.total).toBe(0);
    expect((await s.call('GET', `/v1/jobs/${docJob}`, undefined, b)).status).toBe(404);
    const crafted = await s.call('POST', '/v1/retrieve', { question: 'secret ledger', documentIds: ['plans'] }, b);
    expect(crafted.status).toBe(404);
    expect(crafted.body.error.code).toBe('DOCUMENTS_NOT_FOUND');
    const whole = await s.call('POST', '/v1/retrieve', { question: 'secret ledger' }, b);
    expect(whole.status).toBe(404);
    expect(whole.body.error.code).toBe('NO_DOCUMENTS');
    expect(
      (await s.call('POST', '/v1/retrieve', { question: 'secret ledger', documentIds: ['plans'] }, a)).status,
    ).toBe(200);
  });

  it('refuses a key that asks for another namespace with 404, as if it did not exist', async () => {
    const r = await s.call('GET', '/v1/documents/plans', undefined, { 'x-api-key': keyB, 'x-namespace': 'team-a' });
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('NAMESPACE_NOT_FOUND');
  });

  it('does not let another tenant delete a document', async () => {
    expect((await s.call('DELETE', '/v1/documents/plans', undefined, { 'x-api-key': keyB })).status).toBe(404);
    expect((await s.call('GET', '/v1/documents/plans', undefined, { 'x-api-key': keyA })).status).toBe(200);
  });

  it('keeps key management to the admin, and a revoked key stops working', async () => {
    expect((await s.call('GET', '/v1/admin/keys', undefined, { 'x-api-key': keyA })).status).toBe(403);
    const admin = { 'x-api-key': ADMIN };
    const listed = await s.call('GET', '/v1/admin/keys', undefined, admin);
    expect(listed.body.items.map((k: any) => k.namespace).sort()).toEqual(['team-a', 'team-b']);
    expect(JSON.stringify(listed.body)).not.toContain(keyA);
    const temp = await s.call('POST', '/v1/admin/keys', { namespace: 'team-c' }, admin);
    expect((await s.call('GET', '/v1/documents', undefined, { authorization: `Bearer ${temp.body.key}` })).status).toBe(
      200,
    );
    expect((await s.call('DELETE', `/v1/admin/keys/${temp.body.record.id}`, undefined, admin)).status).toBe(204);
    expect((await s.call('GET', '/v1/documents', undefined, { authorization: `Bearer ${temp.body.key}` })).status).toBe(
      401,
    );
    const ns = await s.call('GET', '/v1/admin/namespaces', undefined, admin);
    expect(ns.body.items.find((n: any) => n.namespace === 'team-a')).toMatchObject({ documents: 1, keys: 1 });
  });

  it('never writes a key into the logs', async () => {
    expect(logs.length).toBeGreaterThan(10);
    const all = logs.join('\n');
    for (const secret of [ADMIN, keyA, keyB]) expect(all).not.toContain(secret);
  });
});
