import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { OpenAiChatProvider, parseRetryAfter, type OpenAiChatOptions } from '../../src/adapters/llm/openai.js';
import { startOpenAiServer, type OpenAiFixture } from '../fixtures/openai-server.js';
import { freePort } from '../helpers/net.js';
import { contractRequest, llmContract } from './llm.contract.js';
import { appErrorOf } from '../helpers/errors.js';

let contractServer: OpenAiFixture;
llmContract('openai (local fixture server)', async () => {
  contractServer = await startOpenAiServer();
  return new OpenAiChatProvider({ baseUrl: contractServer.baseUrl, model: 'fixture-model', contextWindow: 8192 });
});
afterAll(async () => contractServer?.close());

describe('OpenAiChatProvider', () => {
  let server: OpenAiFixture;
  const waits: number[] = [];
  const provider = (opts: Partial<OpenAiChatOptions> = {}): OpenAiChatProvider =>
    new OpenAiChatProvider({
      baseUrl: server.baseUrl,
      apiKey: 'sk-test',
      model: 'fixture-model',
      contextWindow: 8192,
      timeoutMs: 10_000,
      maxRetries: 3,
      // Records each backoff instead of sleeping, so tests check the wait chosen without timing anything.
      sleep: async (ms) => {
        waits.push(ms);
      },
      ...opts,
    });

  beforeAll(async () => {
    server = await startOpenAiServer({ apiKey: 'sk-test' });
  });
  afterEach(() => {
    server.requests.length = 0;
    waits.length = 0;
  });
  afterAll(async () => server.close());

  it('sends the model, messages, max_tokens and bearer key, and returns the answer with the server usage', async () => {
    server.script({ kind: 'answer', text: 'Tomas kept it.', usage: { prompt_tokens: 42, completion_tokens: 4 } });
    const res = await provider().complete(contractRequest({ maxTokens: 16 }));
    expect(res).toMatchObject({
      text: 'Tomas kept it.',
      finishReason: 'stop',
      usage: { promptTokens: 42, completionTokens: 4, estimated: false },
    });
    const sent = server.requests[0]!;
    expect(sent.headers.authorization).toBe('Bearer sk-test');
    expect(sent.body).toMatchObject({ model: 'fixture-model', max_tokens: 16, temperature: 0 });
    expect(sent.body?.messages.map((m) => m.role)).toEqual(['system', 'user']);
    expect(sent.body?.stream).toBeUndefined();
  });

  it('estimates usage with cl100k when the server reports none', async () => {
    server.script({ kind: 'answer', text: 'Tomas kept it.', usage: null });
    const llm = provider();
    const req = contractRequest();
    const res = await llm.complete(req);
    expect(res.usage).toEqual({
      promptTokens: llm.countMessageTokens(req.messages),
      completionTokens: llm.countTokens('Tomas kept it.'),
      estimated: true,
    });
  });

  it('maps finish_reason length to length', async () => {
    server.script({ kind: 'answer', text: 'cut', finishReason: 'length' });
    expect((await provider().complete(contractRequest())).finishReason).toBe('length');
  });

  it('streams deltas to onToken, assembles the text and reports the usage chunk', async () => {
    server.script({
      kind: 'answer',
      pieces: ['Tomas', ' kept', ' the', ' light.'],
      usage: { prompt_tokens: 30, completion_tokens: 4 },
    });
    const pieces: string[] = [];
    const res = await provider().complete(contractRequest({ onToken: (t) => pieces.push(t) }));
    expect(pieces).toEqual(['Tomas', ' kept', ' the', ' light.']);
    expect(res.text).toBe('Tomas kept the light.');
    expect(res.usage).toEqual({ promptTokens: 30, completionTokens: 4, estimated: false });
    expect(res.finishReason).toBe('stop');
    expect(server.requests[0]!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('retries a 429 after the Retry-After seconds, then succeeds', async () => {
    server.script(
      { kind: 'status', status: 429, headers: { 'retry-after': '2' }, body: { error: { message: 'slow down' } } },
      { kind: 'answer', text: 'ok' },
    );
    const res = await provider().complete(contractRequest());
    expect(res.text).toBe('ok');
    expect(server.requests).toHaveLength(2);
    expect(waits).toEqual([2000]);
  });

  it('honours a Retry-After given as an HTTP date', async () => {
    const at = new Date(Date.now() + 5_000).toUTCString();
    server.script({ kind: 'status', status: 429, headers: { 'retry-after': at } }, { kind: 'answer', text: 'ok' });
    await provider().complete(contractRequest());
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThan(2_000);
    expect(waits[0]).toBeLessThanOrEqual(5_000);
  });

  it('retries a 500 with exponential backoff, then succeeds', async () => {
    server.script({ kind: 'status', status: 500 }, { kind: 'status', status: 503 }, { kind: 'answer', text: 'ok' });
    const res = await provider({ retryBaseMs: 100 }).complete(contractRequest());
    expect(res.text).toBe('ok');
    expect(server.requests).toHaveLength(3);
    expect(waits).toHaveLength(2);
    expect(waits[0]).toBeGreaterThanOrEqual(50);
    expect(waits[0]).toBeLessThanOrEqual(100);
    expect(waits[1]).toBeGreaterThanOrEqual(100);
    expect(waits[1]).toBeLessThanOrEqual(200);
  });

  it('gives up on 429 after maxRetries with LLM_RATE_LIMITED and the retry-after', async () => {
    const limited = { kind: 'status', status: 429, headers: { 'retry-after': '3' } } as const;
    server.script(limited, limited, limited);
    const err = await appErrorOf(provider({ maxRetries: 2 }).complete(contractRequest()));
    expect(err.code).toBe('LLM_RATE_LIMITED');
    expect(err.retryAfter).toBe(3);
    expect(err.transient).toBe(true);
    expect(server.requests).toHaveLength(3);
  });

  it('fails at once when Retry-After asks for longer than the longest wait', async () => {
    server.script({ kind: 'status', status: 429, headers: { 'retry-after': '3600' } });
    const err = await appErrorOf(provider().complete(contractRequest()));
    expect(err.code).toBe('LLM_RATE_LIMITED');
    expect(err.retryAfter).toBe(3600);
    expect(server.requests).toHaveLength(1);
  });

  it('gives up on persistent 5xx with LLM_UNAVAILABLE', async () => {
    server.script({ kind: 'status', status: 502 }, { kind: 'status', status: 502 });
    const err = await appErrorOf(provider({ maxRetries: 1 }).complete(contractRequest()));
    expect(err.code).toBe('LLM_UNAVAILABLE');
    expect(server.requests).toHaveLength(2);
  });

  it('times out with LLM_TIMEOUT when the server never answers', async () => {
    server.script({ kind: 'hang' });
    const err = await appErrorOf(provider({ timeoutMs: 300 }).complete(contractRequest()));
    expect(err.code).toBe('LLM_TIMEOUT');
    expect(err.cause).toBeDefined();
  });

  it('reports a stream closed before [DONE] as LLM_BAD_RESPONSE and does not retry it', async () => {
    server.script({ kind: 'truncated-stream', pieces: ['Tomas', ' kept'] });
    const pieces: string[] = [];
    const err = await appErrorOf(provider().complete(contractRequest({ onToken: (t) => pieces.push(t) })));
    expect(err.code).toBe('LLM_BAD_RESPONSE');
    expect(server.requests).toHaveLength(1);
  });

  it('reports malformed JSON as LLM_BAD_RESPONSE, keeping the parse error as cause', async () => {
    server.script({ kind: 'raw', body: '{"choices": [' });
    const err = await appErrorOf(provider().complete(contractRequest()));
    expect(err.code).toBe('LLM_BAD_RESPONSE');
    expect(err.cause).toBeInstanceOf(SyntaxError);
  });

  it('reports a body without choices as LLM_BAD_RESPONSE', async () => {
    server.script({ kind: 'raw', body: '{"id":"x","object":"chat.completion"}' });
    expect((await appErrorOf(provider().complete(contractRequest()))).code).toBe('LLM_BAD_RESPONSE');
  });

  it('maps a 400 about the context length to LLM_CONTEXT_OVERFLOW', async () => {
    server.script({
      kind: 'status',
      status: 400,
      body: {
        error: {
          message: "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens.",
          type: 'BadRequestError',
        },
      },
    });
    expect((await appErrorOf(provider().complete(contractRequest()))).code).toBe('LLM_CONTEXT_OVERFLOW');
  });

  it('maps other 4xx to LLM_REJECTED without retrying', async () => {
    const err = await appErrorOf(provider({ apiKey: 'wrong' }).complete(contractRequest()));
    expect(err.code).toBe('LLM_REJECTED');
    expect(err.message).toContain('401');
    expect(server.requests).toHaveLength(1);
  });

  it('maps connection refused to LLM_UNAVAILABLE', async () => {
    const port = await freePort();
    const llm = new OpenAiChatProvider({
      baseUrl: `http://127.0.0.1:${port}/v1`,
      model: 'm',
      contextWindow: 4096,
      maxRetries: 0,
    });
    const err = await appErrorOf(llm.complete(contractRequest()));
    expect(err.code).toBe('LLM_UNAVAILABLE');
    expect(err.message).toContain('ECONNREFUSED');
    expect(err.cause).toBeDefined();
    expect((await appErrorOf(llm.health())).code).toBe('LLM_UNAVAILABLE');
  });

  it('stops a stream when the caller aborts, keeps the text so far, and closes the connection', async () => {
    server.script({ kind: 'stall-stream', pieces: ['Tomas', ' kept'] });
    const ac = new AbortController();
    const pieces: string[] = [];
    const res = await provider().complete(
      contractRequest({
        signal: ac.signal,
        onToken: (t) => {
          pieces.push(t);
          if (pieces.length === 2) ac.abort();
        },
      }),
    );
    expect(res.finishReason).toBe('cancelled');
    expect(res.text).toBe('Tomas kept');
    await server.requests[0]!.clientGone; // hangs (and the test times out) if the socket stayed open
  });

  it('passes an exception thrown by onToken through unchanged, without retrying', async () => {
    server.script({ kind: 'answer', pieces: ['a', 'b'] });
    const boom = new Error('consumer failed');
    const err = await provider()
      .complete(
        contractRequest({
          onToken: () => {
            throw boom;
          },
        }),
      )
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err).toBe(boom);
    expect(server.requests).toHaveLength(1);
  });

  it('rejects with CANCELLED when the caller aborts before any token', async () => {
    server.script({ kind: 'hang' });
    const ac = new AbortController();
    const p = provider().complete(contractRequest({ signal: ac.signal }));
    await vi.waitFor(() => expect(server.requests).toHaveLength(1));
    ac.abort();
    expect((await appErrorOf(p)).code).toBe('CANCELLED');
    await server.requests[0]!.clientGone;
  });

  it('checks health against GET /models', async () => {
    await expect(provider().health()).resolves.toBeUndefined();
    expect(server.requests[0]).toMatchObject({ method: 'GET', url: '/v1/models' });
    expect((await appErrorOf(provider({ apiKey: 'wrong' }).health())).code).toBe('LLM_REJECTED');
  });

  it('parses Retry-After seconds and HTTP dates', () => {
    expect(parseRetryAfter('7')).toBe(7000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(10_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});
