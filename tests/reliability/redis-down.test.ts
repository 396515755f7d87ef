import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, silentServer } from '../helpers/net.js';
import { startServer, type TestServer } from '../helpers/server.js';

const ADMIN = 'admin-secret-for-redis-down-tests-0123';

/** A Redis that is stuck rather than gone. */
async function silentRedis(): Promise<{ url: string; close: () => Promise<void> }> {
  const s = await silentServer();
  return { url: `redis://127.0.0.1:${s.port}`, close: s.close };
}

describe.each([
  ['refuses connections', async () => ({ url: `redis://127.0.0.1:${await freePort()}`, close: async () => {} })],
  ['accepts connections but never answers', silentRedis],
] as const)('the API while its Redis %s', (_what, makeRedis) => {
  let redis: { url: string; close: () => Promise<void> };
  let s: TestServer;

  beforeAll(async () => {
    redis = await makeRedis();
    s = await startServer({ REDIS_URL: redis.url, AUTH: 'on', ADMIN_API_KEY: ADMIN, REDIS_TIMEOUT_MS: 300 });
  });
  afterAll(async () => {
    await s?.close();
    await redis?.close();
  });

  it('answers an API-key lookup with 503 KEY_STORE_UNAVAILABLE and a Retry-After, not 500', async () => {
    const r = await s.call('GET', '/v1/documents', undefined, { 'x-api-key': 'air_some-tenant-key' });
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('KEY_STORE_UNAVAILABLE');
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('fails an enqueue with 503 QUEUE_UNAVAILABLE and a Retry-After instead of hanging the request', async () => {
    const r = await s.call(
      'POST',
      '/v1/documents',
      { id: 'memo', text: 'The ferry left at noon.' },
      { 'x-api-key': ADMIN },
    );
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('QUEUE_UNAVAILABLE');
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('fails a job lookup the same way', async () => {
    const r = await s.call('GET', '/v1/jobs/some-job', undefined, { 'x-api-key': ADMIN });
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('QUEUE_UNAVAILABLE');
  });
});
