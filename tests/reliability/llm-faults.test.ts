import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, waitForJob, type TestServer } from '../helpers/server.js';
import { startOpenAiServer, type OpenAiFixture } from '../fixtures/openai-server.js';
import { HashingEmbedder } from '../contract/llm-test-embedder.js';
import { freePort } from '../helpers/net.js';
import { abortablePost, until } from './helpers.js';

const TEXT = Array.from(
  { length: 60 },
  (_, i) =>
    `In year ${1800 + i} the harbour master logged ${i * 3 + 2} ships and the lighthouse keeper painted the ${['north', 'south', 'east'][i % 3]} wall.`,
).join(' ');
const QUESTION = 'How many ships did the harbour master log in year 1820?';

/** A generative reader on an OpenAI-compatible endpoint at `baseUrl`, no retries, a short per-call deadline. */
function llmSettings(baseUrl: string) {
  return {
    LLM_PROVIDER: 'openai',
    LLM_BASE_URL: baseUrl,
    LLM_MODEL: 'fixture-model',
    LLM_MAX_RETRIES: 0,
    LLM_TIMEOUT_MS: 700,
    LLM_CONTEXT_WINDOW: 4096,
    CHUNK_TOKENS: 120,
    CHUNK_OVERLAP_TOKENS: 10,
  } as const;
}

async function ingest(s: TestServer): Promise<void> {
  const r = await s.call('POST', '/v1/documents', { id: 'log', title: 'Harbour log', text: TEXT });
  expect(r.status).toBe(202);
  expect((await waitForJob(s, r.body.jobId)).state).toBe('completed');
}

const ROUTES: Array<[string, Record<string, unknown>]> = [
  ['/v1/answer', { question: QUESTION, documentIds: ['log'], strategy: 'rag' }],
  ['/v1/query', { question: QUESTION, documentIds: ['log'] }],
];

describe('an LLM endpoint that is down, slow or broken, seen through the routes', () => {
  describe('nothing listens on the LLM port', () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startServer(llmSettings(`http://127.0.0.1:${await freePort()}/v1`), {
        embedder: new HashingEmbedder(),
      });
      await ingest(s);
    });
    afterAll(async () => s?.close());

    for (const [path, body] of ROUTES) {
      it(`answers ${path} with 502 LLM_UNAVAILABLE`, async () => {
        const r = await s.call('POST', path, body);
        expect(r.status).toBe(502);
        expect(r.body.error.code).toBe('LLM_UNAVAILABLE');
        expect(JSON.stringify(r.body)).not.toMatch(/at .+\.(ts|js):\d+/);
      });
    }
  });

  describe('an endpoint that never answers, hangs or talks nonsense', () => {
    let s: TestServer;
    let fake: OpenAiFixture;
    beforeAll(async () => {
      fake = await startOpenAiServer();
      s = await startServer(llmSettings(fake.baseUrl), { embedder: new HashingEmbedder() });
      await ingest(s);
    });
    afterAll(async () => {
      await s?.close();
      await fake?.close();
    });

    for (const [path, body] of ROUTES) {
      it(`answers ${path} with 504 LLM_TIMEOUT and closes the upstream request it gave up on`, async () => {
        fake.script({ kind: 'hang' });
        const before = fake.requests.length;
        const r = await s.call('POST', path, body);
        expect(r.status).toBe(504);
        expect(r.body.error.code).toBe('LLM_TIMEOUT');
        expect(r.headers.get('retry-after')).toBeNull();
        expect(fake.requests.length).toBe(before + 1);
        // Resolves only if the provider closed its connection to the hung server.
        await fake.requests[before]!.clientGone;
      });

      it(`answers ${path} with 502 LLM_BAD_RESPONSE when the body is not JSON`, async () => {
        fake.script({ kind: 'raw', body: '{"choices": [ this is not json' });
        const r = await s.call('POST', path, body);
        expect(r.status).toBe(502);
        expect(r.body.error.code).toBe('LLM_BAD_RESPONSE');
      });

      it(`answers ${path} with 502 LLM_BAD_RESPONSE when the JSON has no choices`, async () => {
        fake.script({
          kind: 'raw',
          body: JSON.stringify({ id: 'x', object: 'chat.completion', model: 'fixture-model' }),
        });
        const r = await s.call('POST', path, body);
        expect(r.status).toBe(502);
        expect(r.body.error.code).toBe('LLM_BAD_RESPONSE');
      });

      it(`aborts the upstream call of ${path} when the client disconnects, and keeps serving`, async () => {
        fake.script({ kind: 'hang' });
        const before = fake.requests.length;
        const client = abortablePost(s.url, path, body);
        await until(() => fake.requests.length > before, 'the LLM call to reach the fake server');
        client.abort();
        expect(await client.done).toBeInstanceOf(Error);
        // The server noticed the client leaving and aborted its own upstream request.
        await fake.requests[before]!.clientGone;
        const next = await s.call('POST', path, body);
        expect(next.status).toBe(200);
        expect(next.body.answer).toMatch(/echo/);
      });
    }

    it('reports a timeout inside a stream as an error event, not a hung connection', async () => {
      fake.script({ kind: 'hang' });
      const res = await fetch(`${s.url}/v1/answer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify(ROUTES[0]![1]),
      });
      const text = await res.text();
      expect(text).toMatch(/event: error\ndata: .*"code":"LLM_TIMEOUT"/);
      expect(text).not.toMatch(/event: result/);
    });
  });
});
