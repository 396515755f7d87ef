import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import { openSse, wantsEventStream, type SseStream } from '../../src/http/sse.js';

describe('the SSE helper the answer route streams with', () => {
  let app: FastifyInstance;
  let url: string;
  let stream: SseStream | null = null;
  let disconnected!: Promise<void>;

  beforeAll(async () => {
    app = Fastify();
    app.addHook('onRequest', async (req, reply) => void reply.header('x-request-id', req.id));
    app.get('/events', async (req, reply) => {
      if (!wantsEventStream(req)) return { plain: true };
      const sse = openSse(req, reply, { heartbeatMs: 5 });
      stream = sse;
      disconnected = new Promise((res) => sse.onDisconnect(res));
      sse.send('greeting', { text: 'line one\nline two' });
      if (req.query && (req.query as Record<string, string>).end === '1') sse.end();
      return reply;
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  });
  afterAll(async () => app?.close());

  it('answers plain requests normally and streams only when asked to', async () => {
    expect(await (await fetch(`${url}/events`)).json()).toEqual({ plain: true });
  });

  it('writes events as JSON data lines, keeps the reply headers, and ends cleanly', async () => {
    const res = await fetch(`${url}/events?end=1`, { headers: { accept: 'text/event-stream' } });
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(res.headers.get('cache-control')).toContain('no-cache');
    expect(res.headers.get('x-request-id')).toBeTruthy();
    const body = await res.text();
    expect(body).toContain('event: greeting\ndata: {"text":"line one\\nline two"}\n\n');
    expect(stream!.open).toBe(false);
  });

  it('sends heartbeat comments while open and notices when the client goes away', async () => {
    const abort = new AbortController();
    const res = await fetch(`${url}/events`, { headers: { accept: 'text/event-stream' }, signal: abort.signal });
    const reader = res.body!.getReader();
    let seen = '';
    while (!seen.includes(': heartbeat\n\n')) {
      const { value, done } = await reader.read();
      if (done) throw new Error('stream ended');
      seen += new TextDecoder().decode(value);
    }
    abort.abort();
    await disconnected;
    expect(stream!.open).toBe(false);
    expect(stream!.send('late', {})).toBe(false);
  });
});
