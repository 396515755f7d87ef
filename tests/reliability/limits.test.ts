import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, waitForJob, type TestServer } from '../helpers/server.js';
import { startOpenAiServer, type OpenAiFixture } from '../fixtures/openai-server.js';
import { HashingEmbedder } from '../contract/llm-test-embedder.js';
import { ConcurrencyLimiter } from '../../src/core/limits.js';
import { abortablePost, until } from './helpers.js';

const ADMIN = 'admin-secret-for-limit-tests-0123456789';
const TEXT = Array.from(
  { length: 40 },
  (_, i) => `Record ${i}: the mill ground ${i * 11 + 5} sacks of rye for the ${['abbey', 'village', 'castle'][i % 3]}.`,
).join(' ');

async function ingest(s: TestServer, headers: Record<string, string> = {}): Promise<void> {
  const r = await s.call('POST', '/v1/documents', { id: 'mill', title: 'Mill records', text: TEXT }, headers);
  expect(r.status).toBe(202);
  expect((await waitForJob(s, r.body.jobId, headers)).state).toBe('completed');
}

/** Sends a request that the fake LLM holds, so the test can abort it. */
const held = (s: TestServer, path: string, body: unknown) => abortablePost(s.url, path, body);

describe('ConcurrencyLimiter', () => {
  it('admits max holders, queues up to maxQueue in order, refuses the next with OVERLOADED and a Retry-After', async () => {
    const l = new ConcurrencyLimiter({ max: 2, maxQueue: 1, what: 'things', retryAfterSec: 3 });
    const r1 = await l.acquire();
    const r2 = await l.acquire();
    let third = false;
    const p3 = l.acquire().then((r) => {
      third = true;
      return r;
    });
    expect(l.queued).toBe(1);
    await expect(l.acquire()).rejects.toMatchObject({
      code: 'OVERLOADED',
      statusCode: 503,
      retryAfter: 3,
      message: expect.stringContaining('things'),
    });
    expect(third).toBe(false);
    r1();
    r1(); // a second release of the same slot changes nothing
    const r3 = await p3;
    expect(l.inFlight).toBe(2);
    r2();
    r3();
    expect(l.inFlight).toBe(0);
  });

  it('drops a waiter whose signal fires, so it neither holds a place nor a slot later', async () => {
    const l = new ConcurrencyLimiter({ max: 1, maxQueue: 1, what: 'things' });
    const r1 = await l.acquire();
    const ac = new AbortController();
    const waiting = l.acquire(ac.signal);
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(l.queued).toBe(0);
    r1();
    expect(l.inFlight).toBe(0);
  });

  it('gives the slot back when the work throws', async () => {
    const l = new ConcurrencyLimiter({ max: 1, what: 'things' });
    await expect(
      l.run(async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(l.inFlight).toBe(0);
  });
});

describe('request limits over HTTP', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer(
      { MAX_QUESTION_CHARS: 60, MAX_DOCUMENT_TOKENS: 1500, CHUNK_TOKENS: 100, CHUNK_OVERLAP_TOKENS: 10 },
      { embedder: new HashingEmbedder() },
    );
    await ingest(s);
  });
  afterAll(async () => s?.close());

  it('refuses a question over MAX_QUESTION_CHARS with 400 QUESTION_TOO_LONG on every question route', async () => {
    const question = 'How many sacks of rye did the mill grind for the abbey in total?'.padEnd(61, '?');
    for (const [path, body] of [
      ['/v1/retrieve', { question }],
      ['/v1/answer', { question, strategy: 'rag' }],
      ['/v1/query', { question }],
      ['/v1/query/batch', { questions: ['fine?', question] }],
    ] as const) {
      const r = await s.call('POST', path, body);
      expect(r.status, path).toBe(400);
      expect(r.body.error.code, path).toBe('QUESTION_TOO_LONG');
    }
    expect((await s.call('POST', '/v1/retrieve', { question: question.slice(0, 60) })).status).toBe(200);
  });

  it('refuses a document over MAX_DOCUMENT_TOKENS with 413 DOCUMENT_TOO_LARGE and stores nothing', async () => {
    const ns = { 'x-namespace': 'too-large' };
    const big = Array.from({ length: 300 }, (_, i) => `Sentence number ${i} adds a few more tokens.`).join(' ');
    const r = await s.call('POST', '/v1/documents', { id: 'big', text: big }, ns);
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('DOCUMENT_TOO_LARGE');
    const form = new FormData();
    form.append('file', new Blob([big]), 'big.txt');
    const up = await s.call('POST', '/v1/documents', form, ns);
    expect(up.status).toBe(413);
    expect(up.body.error.code).toBe('DOCUMENT_TOO_LARGE');
    expect((await s.call('GET', '/v1/documents', undefined, ns)).body.total).toBe(0);
    expect((await s.call('GET', '/v1/documents/big', undefined, ns)).status).toBe(404);
  });
});

describe('per-key rate limits', () => {
  it('answers 429 RATE_LIMITED with Retry-After once a key spent its budget, other keys unaffected', async () => {
    const s = await startServer(
      { AUTH: 'on', ADMIN_API_KEY: ADMIN, RATE_LIMIT_PER_MINUTE: 3 },
      { embedder: new HashingEmbedder() },
    );
    try {
      const admin = { 'x-api-key': ADMIN };
      const a = {
        'x-api-key': (await s.call('POST', '/v1/admin/keys', { namespace: 'team-a', name: 'a' }, admin)).body
          .key as string,
      };
      const b = {
        'x-api-key': (await s.call('POST', '/v1/admin/keys', { namespace: 'team-b', name: 'b' }, admin)).body
          .key as string,
      };
      for (let i = 0; i < 3; i++) expect((await s.call('GET', '/v1/documents', undefined, a)).status).toBe(200);
      const over = await s.call('GET', '/v1/documents', undefined, a);
      expect(over.status).toBe(429);
      expect(over.body.error.code).toBe('RATE_LIMITED');
      expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await s.call('GET', '/v1/documents', undefined, b)).status).toBe(200);
      // Probes are never limited: an orchestrator must always see the process.
      for (let i = 0; i < 5; i++) expect((await s.call('GET', '/healthz')).status).toBe(200);
    } finally {
      await s.close();
    }
  });

  it('shares one budget per key between two API instances counting in the same Redis', async () => {
    const prefix = `air-rl-${randomUUID().slice(0, 8)}`;
    const settings = {
      AUTH: 'on',
      ADMIN_API_KEY: ADMIN,
      RATE_LIMIT_PER_MINUTE: 4,
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: prefix,
    } as const;
    const one = await startServer(settings, { embedder: new HashingEmbedder() });
    const two = await startServer(settings, { embedder: new HashingEmbedder() });
    const redis = new Redis('redis://127.0.0.1:6379');
    try {
      // Keys live in Redis too, so a key made through one instance works on the other.
      const created = await one.call(
        'POST',
        '/v1/admin/keys',
        { namespace: 'shared', name: 'k' },
        { 'x-api-key': ADMIN },
      );
      expect(created.status).toBe(201);
      const key = { 'x-api-key': created.body.key as string };
      const statuses: number[] = [];
      for (const s of [one, two, one, two, one, two])
        statuses.push((await s.call('GET', '/v1/documents', undefined, key)).status);
      expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
    } finally {
      await one.close();
      await two.close();
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  });
});

describe('caps on concurrent LLM calls and Chain-of-Agents runs', () => {
  let s: TestServer;
  let fake: OpenAiFixture;
  beforeAll(async () => {
    fake = await startOpenAiServer();
    s = await startServer(
      {
        LLM_PROVIDER: 'openai',
        LLM_BASE_URL: fake.baseUrl,
        LLM_MODEL: 'fixture-model',
        LLM_MAX_RETRIES: 0,
        LLM_CONTEXT_WINDOW: 4096,
        MAX_CONCURRENT_LLM_CALLS: 1,
        MAX_CONCURRENT_CHAINS: 1,
        CHUNK_TOKENS: 100,
        CHUNK_OVERLAP_TOKENS: 10,
      },
      { embedder: new HashingEmbedder() },
    );
    await ingest(s);
  });
  afterAll(async () => {
    await s?.close();
    await fake?.close();
  });

  const rag = { question: 'How many sacks did the mill grind in record 7?', documentIds: ['mill'], strategy: 'rag' };
  const coa = { ...rag, strategy: 'coa' };

  /** Holds one retrieval answer at the hanging upstream and queues a second one behind it (the cap is one call). */
  async function oneCallUpstreamOneQueued() {
    fake.script({ kind: 'hang' });
    const before = fake.requests.length;
    const first = held(s, '/v1/answer', rag);
    await until(() => fake.requests.length === before + 1, 'the first call upstream');
    const second = held(s, '/v1/answer', rag);
    await until(() => s.container.limits.llmCalls.queued === 1, 'the second call to queue');
    return { before, first, second };
  }

  it('queues an LLM call beyond the cap, refuses one more with 503 OVERLOADED and Retry-After, and runs the queued one when a slot frees', async () => {
    const { before, first, second } = await oneCallUpstreamOneQueued();
    const third = await s.call('POST', '/v1/answer', rag);
    expect(third.status).toBe(503);
    expect(third.body.error.code).toBe('OVERLOADED');
    expect(third.headers.get('retry-after')).toBe('1');
    // Nothing past the cap reached the upstream.
    expect(fake.requests.length).toBe(before + 1);
    first.abort();
    await fake.requests[before]!.clientGone;
    const r2 = await second.done;
    expect(r2).not.toBeInstanceOf(Error);
    expect((r2 as { status: number }).status).toBe(200);
    expect(s.container.limits.llmCalls.inFlight).toBe(0);
  });

  it('lets a client that gave up while queued leave the queue', async () => {
    const { before, first, second } = await oneCallUpstreamOneQueued();
    second.abort();
    await until(() => s.container.limits.llmCalls.queued === 0, 'the queue to empty');
    first.abort();
    await until(() => s.container.limits.llmCalls.inFlight === 0, 'the slot to be free');
    expect(fake.requests.length).toBe(before + 1);
  });

  it('caps Chain-of-Agents runs separately: one runs, one waits, the next gets 503, and retrieval answers are not held back by chains', async () => {
    fake.script({ kind: 'hang' });
    const before = fake.requests.length;
    const chain = held(s, '/v1/answer', coa);
    await until(() => fake.requests.length === before + 1, 'the chain to call the LLM');
    expect(s.container.limits.chains.inFlight).toBe(1);
    const waiting = held(s, '/v1/answer', coa);
    await until(() => s.container.limits.chains.queued === 1, 'the second chain to queue');
    const refused = await s.call('POST', '/v1/answer', coa);
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('OVERLOADED');
    expect(refused.body.error.message).toMatch(/Chain-of-Agents/);
    expect(refused.headers.get('retry-after')).toBe('1');
    waiting.abort();
    await until(() => s.container.limits.chains.queued === 0, 'the waiting chain to leave');
    chain.abort();
    await fake.requests[before]!.clientGone;
    await until(
      () => s.container.limits.chains.inFlight === 0 && s.container.limits.llmCalls.inFlight === 0,
      'the chain to end',
    );
    const ok = await s.call('POST', '/v1/answer', coa);
    expect(ok.status).toBe(200);
    expect(ok.body.strategy).toBe('coa');
  });
});
