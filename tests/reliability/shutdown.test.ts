import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpenAiServer, type OpenAiFixture } from '../fixtures/openai-server.js';
import { freePort } from '../helpers/net.js';
import { abortablePost, exited, spawnTs, until, untilServing } from './helpers.js';

/**
 * A TCP proxy in front of the fake LLM that holds every connection until
 * `release()`: the LLM call is slow for as long as the test wants, and still
 * answered by the fixture that speaks the real protocol.
 */
async function holdingProxy(
  target: URL,
): Promise<{ baseUrl: string; held: () => number; release: () => void; hold: () => void; close: () => Promise<void> }> {
  const sockets: Socket[] = [];
  let open = false;
  const waiting: Array<() => void> = [];
  const server: Server = createServer((sock) => {
    sockets.push(sock);
    sock.pause();
    const go = () => {
      const up = connect(Number(target.port), target.hostname);
      sockets.push(up);
      up.on('error', () => sock.destroy());
      sock.on('error', () => up.destroy());
      sock.pipe(up);
      up.pipe(sock);
      sock.resume();
    };
    if (open) go();
    else waiting.push(go);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    baseUrl: `http://127.0.0.1:${port}${target.pathname}`,
    held: () => waiting.length,
    release: () => {
      open = true;
      for (const go of waiting.splice(0)) go();
    },
    hold: () => {
      open = false;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Resolves with the error code of a TCP connect to the port, or 'connected'. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

describe('graceful shutdown of the API process (node src/server.ts)', () => {
  let fake: OpenAiFixture;
  let proxy: Awaited<ReturnType<typeof holdingProxy>>;
  let dataDir: string;
  const children: Array<ReturnType<typeof spawnTs>> = [];

  beforeAll(async () => {
    fake = await startOpenAiServer();
    proxy = await holdingProxy(new URL(fake.baseUrl));
    dataDir = await mkdtemp(join(tmpdir(), 'air-shutdown-'));
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await proxy?.close();
    await fake?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** Starts the API process with the LLM behind the proxy, ingests one document and leaves an answer waiting on the LLM. */
  async function serveAndHoldAnAnswer(shutdownMs: number, agent: Agent | false = false) {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const dir = await mkdtemp(join(dataDir, 'run-'));
    const c = spawnTs(
      'src/server.ts',
      {
        HOST: '127.0.0.1',
        PORT: String(port),
        DATA_DIR: dir,
        LOG_LEVEL: 'warn',
        AUTH: 'off',
        REDIS_URL: '',
        VECTOR_STORE: 'embedded',
        LLM_PROVIDER: 'openai',
        LLM_BASE_URL: proxy.baseUrl,
        LLM_MODEL: 'fixture-model',
        LLM_MAX_RETRIES: '0',
        LLM_TIMEOUT_MS: '60000',
        LLM_CONTEXT_WINDOW: '4096',
        SHUTDOWN_TIMEOUT_MS: String(shutdownMs),
        RATE_LIMIT_PER_MINUTE: '0',
        CHUNK_TOKENS: '100',
        CHUNK_OVERLAP_TOKENS: '10',
      },
      'api',
    );
    children.push(c);
    await untilServing(base, 'the server to listen', { child: c, ms: 90_000 });

    const text = Array.from(
      { length: 30 },
      (_, i) => `Entry ${i}: the ferry carried ${i * 4 + 3} passengers across the fjord.`,
    ).join(' ');
    const sub = await abortablePost(base, '/v1/documents', { id: 'ferry', text }).done;
    expect(sub).not.toBeInstanceOf(Error);
    const jobId = (sub as { body: { jobId: string } }).body.jobId;
    await until(
      async () =>
        (await fetch(`${base}/v1/jobs/${jobId}`).then((r) => r.json() as Promise<{ state: string }>)).state ===
        'completed',
      'ingestion',
      90_000,
      100,
    );

    const heldBefore = proxy.held();
    const inFlight = abortablePost(
      base,
      '/v1/answer',
      { question: 'How many passengers did the ferry carry in entry 5?', documentIds: ['ferry'], strategy: 'rag' },
      agent,
    );
    await until(() => proxy.held() === heldBefore + 1, 'the LLM call to reach the proxy');
    return { child: c, port, base, inFlight };
  }

  it('on SIGTERM refuses new connections, finishes the in-flight answer, and exits 0', async () => {
    const { child, port, inFlight } = await serveAndHoldAnAnswer(60_000);
    child.kill('SIGTERM');
    // The listening socket closes at once; the held request keeps the process alive.
    await until(async () => (await tryConnect(port)) === 'ECONNREFUSED', 'the port to refuse connections', 20_000);
    expect(child.exitCode).toBeNull();

    proxy.release();
    const answered = await inFlight.done;
    expect(answered).not.toBeInstanceOf(Error);
    expect(answered).toMatchObject({ status: 200, body: { strategy: 'rag', answer: expect.stringMatching(/echo/) } });
    expect(await exited(child)).toEqual({ code: 0, signal: null });
  });

  it('closes kept-alive connections on SIGTERM, idle ones at once and busy ones after their reply, so exit does not wait for keep-alive timeouts', async () => {
    proxy.hold();
    const agent = new Agent({ keepAlive: true, maxSockets: 2 });
    try {
      // One connection busy with the held answer, one idle after a probe: neither may hold the process past the answer.
      const { child, base, inFlight } = await serveAndHoldAnAnswer(120_000, agent);
      const idleSocketClosed = new Promise<void>((resolve) => {
        const req = httpRequest(`${base}/healthz`, { agent }, (res) => {
          res.resume();
          res.on('end', () => req.socket?.once('close', () => resolve()));
        });
        req.end();
      });
      await until(
        () => Object.values(agent.freeSockets).flat().length === 1,
        'the probe connection to idle in the agent',
      );
      child.kill('SIGTERM');
      await idleSocketClosed;

      proxy.release();
      const answered = await inFlight.done;
      expect(answered).not.toBeInstanceOf(Error);
      expect(answered).toMatchObject({ status: 200, headers: { connection: 'close' } });
      // Well before the 72 s keep-alive timeout and the 120 s deadline: the test's own timeout would fail otherwise.
      expect(await exited(child)).toEqual({ code: 0, signal: null });
    } finally {
      agent.destroy();
    }
  }, 60_000);

  it('exits (code 1) at SHUTDOWN_TIMEOUT_MS when an in-flight request outlasts it, instead of hanging', async () => {
    proxy.hold();
    const { child, inFlight } = await serveAndHoldAnAnswer(1500);
    child.kill('SIGTERM');
    expect(await exited(child)).toEqual({ code: 1, signal: null });
    // The client sees its connection end rather than waiting forever.
    expect(await inFlight.done).toBeInstanceOf(Error);
  });
});
