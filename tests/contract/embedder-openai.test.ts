import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OpenAiEmbedder, type OpenAiEmbedderOptions } from '../../src/adapters/embedder/openai.js';
import { AppError } from '../../src/errors.js';
import { FAKE_DIMS, FakeEmbeddingsServer, bagOfWords } from './embedder-openai-server.js';

const dot = (a: Float32Array, b: Float32Array): number => a.reduce((s, x, i) => s + x * b[i]!, 0);
const unit = (v: number[]): Float32Array => {
  const n = Math.hypot(...v);
  return Float32Array.from(v, (x) => x / n);
};

describe('OpenAiEmbedder against a local OpenAI-compatible server', () => {
  const server = new FakeEmbeddingsServer();
  const make = (opts: Partial<OpenAiEmbedderOptions> = {}): OpenAiEmbedder =>
    new OpenAiEmbedder({ baseUrl: server.baseUrl, model: 'fake-embed', retryBaseMs: 10, ...opts });

  beforeAll(async () => {
    await server.start();
  });
  afterEach(() => {
    server.requests.length = 0;
    server.script.length = 0;
  });
  afterAll(async () => {
    await server.stop();
  });

  it('sends model, inputs and bearer key, and returns normalised vectors in input order', async () => {
    const texts = ['the ship sailed', 'bread in the oven', 'a star in orbit'];
    const out = await make({ apiKey: 'sk-test' }).embedDocuments(texts);
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]!.body).toEqual({ model: 'fake-embed', input: texts });
    expect(server.requests[0]!.authorization).toBe('Bearer sk-test');
    for (const [i, v] of out.entries()) expect(Array.from(v)).toEqual(Array.from(unit(bagOfWords(texts[i]!))));
  });

  it('splits large inputs into batches of the configured size', async () => {
    const texts = Array.from({ length: 7 }, (_, i) => `text number ${i}`);
    const out = await make({ batchSize: 3 }).embedDocuments(texts);
    expect(server.requests.map((r) => r.body.input.length)).toEqual([3, 3, 1]);
    expect(out).toHaveLength(7);
    for (const [i, v] of out.entries()) expect(dot(v, unit(bagOfWords(texts[i]!)))).toBeCloseTo(1, 5);
  });

  it('learns its dimensions from the server', async () => {
    expect(await make().dimensions()).toBe(FAKE_DIMS);
  });

  it('puts the query and document prefixes before the texts it sends', async () => {
    const e = make({ queryPrefix: 'query: ', documentPrefix: 'passage: ' });
    await e.embedQuery('who?');
    await e.embedDocuments(['chunk']);
    expect(server.requests.map((r) => r.body.input)).toEqual([['query: who?'], ['passage: chunk']]);
    expect(e.id).toContain('passage: ');
  });

  it('waits as long as Retry-After says after a 429, then succeeds', async () => {
    server.script.push({ status: 429, headers: { 'retry-after': '1' } });
    const [v] = await make().embedDocuments(['rate limited once']);
    expect(v).toHaveLength(FAKE_DIMS);
    expect(server.requests).toHaveLength(2);
    // A lower bound only: the client may not retry before the server allows it.
    expect(server.requests[1]!.at - server.requests[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it('honours retry-after-ms', async () => {
    server.script.push({ status: 429, headers: { 'retry-after-ms': '300' } });
    await make({ retryBaseMs: 1 }).embedDocuments(['rate limited once']);
    expect(server.requests[1]!.at - server.requests[0]!.at).toBeGreaterThanOrEqual(290);
  });

  it('retries a 500 and returns the answer of the next attempt', async () => {
    server.script.push({ status: 500 });
    const [v] = await make().embedDocuments(['flaky']);
    expect(dot(v!, unit(bagOfWords('flaky')))).toBeCloseTo(1, 5);
    expect(server.requests).toHaveLength(2);
  });

  it('gives up after the configured retries with a transient EMBEDDER_UNAVAILABLE', async () => {
    server.script.push({ status: 503 }, { status: 503 }, { status: 503 });
    const err = (await make({ maxRetries: 2 })
      .embedDocuments(['down'])
      .catch((e: unknown) => e)) as AppError;
    expect(err).toBeInstanceOf(AppError);
    expect(err.code).toBe('EMBEDDER_UNAVAILABLE');
    expect(err.transient).toBe(true);
    expect(err.message).toContain('503');
    expect(err.cause).toBeDefined();
    expect(server.requests).toHaveLength(3);
  });

  it('fails at once, without retrying, when the server asks for a longer wait than allowed', async () => {
    server.script.push({ status: 429, headers: { 'retry-after': '120' } });
    const err = (await make({ maxRetryAfterMs: 5_000 })
      .embedDocuments(['x'])
      .catch((e: unknown) => e)) as AppError;
    expect(err.code).toBe('EMBEDDER_UNAVAILABLE');
    expect(err.retryAfter).toBe(120);
    expect(server.requests).toHaveLength(1);
  });

  it('does not retry a 400 rejection', async () => {
    server.script.push({ status: 400, body: JSON.stringify({ error: { message: 'input too long' } }) });
    const err = (await make()
      .embedDocuments(['x'])
      .catch((e: unknown) => e)) as AppError;
    expect(err.code).toBe('EMBEDDER_UNAVAILABLE');
    expect(err.message).toContain('input too long');
    expect(err.transient).toBe(false);
    expect(server.requests).toHaveLength(1);
  });

  it('maps a body that is not JSON to EMBEDDER_BAD_RESPONSE, keeping the parse error as cause', async () => {
    server.script.push({ raw: '{"data": [' });
    const err = (await make()
      .embedDocuments(['x'])
      .catch((e: unknown) => e)) as AppError;
    expect(err.code).toBe('EMBEDDER_BAD_RESPONSE');
    expect(err.cause).toBeInstanceOf(SyntaxError);
  });

  it('rejects a response with fewer vectors than inputs', async () => {
    server.script.push({ transform: (data) => data.slice(1) });
    await expect(make().embedDocuments(['a', 'b', 'c'])).rejects.toMatchObject({ code: 'EMBEDDER_BAD_RESPONSE' });
  });

  it('rejects a response whose vectors disagree in size', async () => {
    server.script.push({
      transform: (data) => data.map((d, i) => (i === 0 ? { ...d, embedding: d.embedding.slice(1) } : d)),
    });
    await expect(make().embedDocuments(['a', 'b'])).rejects.toMatchObject({ code: 'EMBEDDER_BAD_RESPONSE' });
  });

  it('rejects repeated indices and non-numeric values', async () => {
    server.script.push({ transform: (data) => data.map((d) => ({ ...d, index: 0 })) });
    await expect(make().embedDocuments(['a', 'b'])).rejects.toMatchObject({ code: 'EMBEDDER_BAD_RESPONSE' });
    server.script.push({ transform: (data) => data.map((d) => ({ ...d, embedding: d.embedding.map(String) })) });
    await expect(make().embedDocuments(['a'])).rejects.toMatchObject({ code: 'EMBEDDER_BAD_RESPONSE' });
  });

  it('times out a request that hangs, as a transient EMBEDDER_UNAVAILABLE', async () => {
    server.script.push({ delayMs: 2_000 });
    const err = (await make({ timeoutMs: 200 })
      .embedDocuments(['slow'])
      .catch((e: unknown) => e)) as AppError;
    expect(err.code).toBe('EMBEDDER_UNAVAILABLE');
    expect(err.message).toContain('200 ms');
    expect(err.transient).toBe(true);
  });

  it('stops with CANCELLED when the caller aborts during a backoff', async () => {
    server.script.push({ status: 429, headers: { 'retry-after': '10' } });
    const controller = new AbortController();
    const pending = make().embedDocuments(['x'], controller.signal);
    setTimeout(() => controller.abort(), 100);
    await expect(pending).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(server.requests).toHaveLength(1);
  });

  it('reports an unreachable server as EMBEDDER_UNAVAILABLE from health', async () => {
    const dead = new OpenAiEmbedder({ baseUrl: 'http://127.0.0.1:9/v1', model: 'm', maxRetries: 1, retryBaseMs: 1 });
    await expect(dead.health()).rejects.toMatchObject({ code: 'EMBEDDER_UNAVAILABLE' });
  });

  it('includes model and server in its id', () => {
    expect(make().id).toContain('fake-embed');
    expect(make().id).not.toBe(new OpenAiEmbedder({ baseUrl: 'http://other:1/v1', model: 'fake-embed' }).id);
  });

  it('rejects a base URL that is not a URL', () => {
    expect(() => new OpenAiEmbedder({ baseUrl: 'not a url', model: 'm' })).toThrow(AppError);
  });
});
