import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, waitForJob, type TestServer } from '../helpers/server.js';
import { silentServer } from '../helpers/net.js';
import { HashingEmbedder } from '../contract/llm-test-embedder.js';
import { contentVersion } from '../../src/core/ids.js';

/** Issue 14, items 2, 3, 4, 7 and 8: inputs found by trying the service from outside. */

const deep = (depth: number): string => `${'['.repeat(depth)}1${']'.repeat(depth)}`;
const json = { 'content-type': 'application/json' };

describe('hostile and odd inputs to a running service', () => {
  let s: TestServer;
  const logLines: string[] = [];
  beforeAll(async () => {
    s = await startServer(
      { CHUNK_TOKENS: 80, CHUNK_OVERLAP_TOKENS: 8 },
      { embedder: new HashingEmbedder() },
      { logLines },
    );
    const r = await s.call('POST', '/v1/documents', {
      id: 'harbour',
      text: 'The harbour master is called Ingrid. She logs every ship that docks at the pier.',
    });
    expect((await waitForJob(s, r.body.jobId)).state).toBe('completed');
  });
  afterAll(async () => s?.close());

  const stored = async (id: string, text: string): Promise<{ status: number; text: string | null }> => ({
    status: (await s.call('GET', `/v1/documents/${id}`)).status,
    text: await s.container.documents.getText('default', id, contentVersion(text)),
  });

  it('refuses metadata nested 5,000 deep with 400 INVALID_METADATA and keeps neither the document nor its text', async () => {
    const text = 'A small note about apples and pears.';
    const r = await s.call(
      'POST',
      '/v1/documents',
      `{"id":"deep","text":${JSON.stringify(text)},"metadata":{"a":${deep(5_000)}}}`,
      json,
    );
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('INVALID_METADATA');
    expect(await stored('deep', text)).toEqual({ status: 404, text: null });
  });

  it('refuses metadata over 64 KiB, and deep metadata in a multipart upload, the same way', async () => {
    const big = await s.call('POST', '/v1/documents', {
      id: 'big-meta',
      text: 'Plums.',
      metadata: { blob: 'm'.repeat(70 * 1024) },
    });
    expect(big.status).toBe(400);
    expect(big.body.error.code).toBe('INVALID_METADATA');
    const form = new FormData();
    form.append('file', new Blob(['Cherries are red.']), 'cherries.txt');
    form.append('id', 'deep-upload');
    form.append('metadata', `{"a":${deep(3_000)}}`);
    const up = await s.call('POST', '/v1/documents', form);
    expect(up.status).toBe(400);
    expect(up.body.error.code).toBe('INVALID_METADATA');
    expect(await stored('deep-upload', 'Cherries are red.')).toEqual({ status: 404, text: null });
    const ok = await s.call('POST', '/v1/documents', {
      id: 'fine-meta',
      text: 'Quinces.',
      metadata: { a: { b: [1, 2, { c: 'd' }] } },
    });
    expect(ok.status).toBe(202);
  });

  it('refuses a text of NULs or zero-width characters as EMPTY_TEXT, and a question of them as EMPTY_QUESTION', async () => {
    for (const text of ['\u0000'.repeat(50), '\u200b\u200c\u200d\ufeff\u2060'.repeat(20), ' \u0000\n\u200b\t']) {
      const r = await s.call('POST', '/v1/documents', { text });
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('EMPTY_TEXT');
    }
    for (const path of ['/v1/query', '/v1/retrieve', '/v1/answer']) {
      const r = await s.call('POST', path, {
        question: '\u0000',
        documentIds: ['harbour'],
        ...(path === '/v1/answer' ? { strategy: 'rag' } : {}),
      });
      expect(r.status, path).toBe(400);
      expect(r.body.error.code, path).toBe('EMPTY_QUESTION');
    }
    const batch = await s.call('POST', '/v1/query/batch', {
      questions: ['Who is the harbour master?', '\u200b'],
      documentIds: ['harbour'],
    });
    expect(batch.status).toBe(400);
    expect(batch.body.error.code).toBe('EMPTY_QUESTION');
  });

  it('refuses a JSON lone surrogate escape with INVALID_UTF8, as it refuses raw invalid UTF-8', async () => {
    const r = await s.call('POST', '/v1/documents', '{"id":"lone","text":"broken \\ud800 text"}', json);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('INVALID_UTF8');
    expect(r.body.error.details.field).toBe('body.text');
    const inKey = await s.call('POST', '/v1/documents', '{"text":"ok","metadata":{"\\udc00":1}}', json);
    expect(inKey.body.error.code).toBe('INVALID_UTF8');
    const raw = await s.call(
      'POST',
      '/v1/documents',
      Buffer.concat([Buffer.from('{"text":"broken '), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]),
      json,
    );
    expect(raw.body.error.code).toBe('INVALID_UTF8');
    // A surrogate pair written as escapes is text, and is kept.
    const pair = await s.call('POST', '/v1/documents', '{"id":"ship","text":"A ship \\ud83d\\udea2 docks."}', json);
    expect(pair.status).toBe(202);
    expect(await s.container.documents.getText('default', 'ship', contentVersion('A ship 🚢 docks.'))).toBe(
      'A ship 🚢 docks.',
    );
    expect((await s.call('GET', '/v1/documents/lone')).status).toBe(404);
  });

  it('refuses JSON declared in another charset with 415, and accepts it declared UTF-8', async () => {
    const body = JSON.stringify({ id: 'latin', text: 'Café au lait.' });
    const latin = await s.call('POST', '/v1/documents', body, { 'content-type': 'application/json; charset=latin1' });
    expect(latin.status).toBe(415);
    expect(latin.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(latin.body.error.message).toContain('latin1');
    const utf8 = await s.call('POST', '/v1/documents', body, { 'content-type': 'application/json; charset=UTF-8' });
    expect(utf8.status).toBe(202);
  });

  it('names the field in validation errors: a number out of range, an unknown property', async () => {
    const inf = await s.call('POST', '/v1/query', '{"question":"Who?","budgets":{"maxCalls":1e999}}', json);
    expect(inf.status).toBe(400);
    expect(inf.body.error.code).toBe('VALIDATION');
    expect(inf.body.error.message).toContain('body.budgets.maxCalls');
    expect(inf.body.error.message).not.toContain('null');
    const extra = await s.call('POST', '/v1/documents', { text: 'Pears.', foo: 1 });
    expect(extra.status).toBe(400);
    expect(extra.body.error.message).toContain('"foo"');
    const nested = await s.call('POST', '/v1/query', { question: 'Who?', budgets: { maxCalls: 'x' } });
    expect(nested.body.error.message).toContain('body.budgets.maxCalls');
  });

  it('logs a rejected request as one JSON line with one msg key', async () => {
    const before = logLines.length;
    await s.call('POST', '/v1/documents', { text: 'Pears.', colour: 'green' });
    const rejected = logLines.slice(before).filter((l) => l.includes('request rejected'));
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.match(/"msg":/g)).toHaveLength(1);
    expect(JSON.parse(rejected[0]!)).toMatchObject({ code: 'VALIDATION', msg: 'request rejected' });
  });
});

describe('failed authentication is rate limited per client address', () => {
  const ADMIN = 'admin-secret-for-the-auth-failure-test';
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer(
      { AUTH: 'on', ADMIN_API_KEY: ADMIN, AUTH_FAILURES_PER_MINUTE: 5 },
      { embedder: new HashingEmbedder() },
    );
  });
  afterAll(async () => s?.close());

  it('answers 401 to the first failures and 429 with Retry-After after them, to missing and wrong keys alike; the admin key still passes', async () => {
    const tenant = (await s.call('POST', '/v1/admin/keys', { namespace: 't1', name: 'x' }, { 'x-api-key': ADMIN })).body
      .key as string;
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++)
      statuses.push(
        (await s.call('GET', '/v1/documents', undefined, i % 2 ? { 'x-api-key': `air_wrong${i}` } : {})).status,
      );
    expect(statuses).toEqual([401, 401, 401, 401, 401]);
    const limited = await s.call('GET', '/v1/documents', undefined, { 'x-api-key': 'air_wrong_again' });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('RATE_LIMITED');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await s.call('GET', '/v1/documents')).status).toBe(429);
    // Blocked before the key lookup: even a valid tenant key from this address waits out the minute.
    expect((await s.call('GET', '/v1/documents', undefined, { 'x-api-key': tenant })).status).toBe(429);
    expect((await s.call('GET', '/v1/documents', undefined, { 'x-api-key': ADMIN })).status).toBe(200);
  });
});

describe('with Redis stuck (connections accepted, nothing answered)', () => {
  let s: TestServer;
  let redis: Awaited<ReturnType<typeof silentServer>>;
  beforeAll(async () => {
    redis = await silentServer();
    s = await startServer(
      {
        REDIS_URL: `redis://127.0.0.1:${redis.port}`,
        AUTH: 'off',
        RATE_LIMIT_PER_MINUTE: 600,
        REDIS_TIMEOUT_MS: 500,
        QUEUE_PREFIX: `t14-${process.pid}`,
      },
      { embedder: new HashingEmbedder() },
    );
  });
  afterAll(async () => {
    await s?.close();
    await redis?.close();
  });

  it('serves requests that need no Redis: the rate limiter lets them through instead of waiting on it', async () => {
    // ioredis with its defaults held these forever; a deadline far above REDIS_TIMEOUT_MS tells a hang from an answer.
    const r = await fetch(`${s.url}/v1/documents`, { signal: AbortSignal.timeout(30_000) });
    expect(r.status).toBe(200);
  });

  it('answers an upload 503 QUEUE_UNAVAILABLE with Retry-After and leaves nothing behind: no document, no text', async () => {
    const text = 'The ferry leaves at dawn. It carries salt and wool to the island.';
    const r = await fetch(`${s.url}/v1/documents`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ id: 'ferry', text }),
      signal: AbortSignal.timeout(30_000),
    });
    expect(r.status).toBe(503);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('QUEUE_UNAVAILABLE');
    expect(r.headers.get('retry-after')).toBeTruthy();
    expect((await s.call('GET', '/v1/documents/ferry')).status).toBe(404);
    expect(await s.container.documents.getText('default', 'ferry', contentVersion(text))).toBeNull();
    expect((await s.call('GET', '/v1/documents')).body.total).toBe(0);
  });
});
