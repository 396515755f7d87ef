import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { buildContainer, type Container, type ContainerOptions } from '../../src/container.js';
import { buildApp } from '../../src/app.js';

export interface TestServer {
  url: string;
  app: FastifyInstance;
  container: Container;
  dataDir: string;
  /** fetch against the server; JSON bodies are serialised, the response JSON parsed. */
  call(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

/**
 * A real server on a loopback port with its own data directory: routes are
 * tested over HTTP, as clients use them.
 */
export async function startServer(
  settings: Partial<Record<keyof Config, string | number | boolean>> = {},
  overrides: ContainerOptions['overrides'] = {},
  opts: { logLines?: string[] } = {},
): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'air-test-'));
  const logLevel = opts.logLines ? 'debug' : 'silent';
  const config = loadConfig(
    {},
    {
      dotenvPath: null,
      overrides: {
        DATA_DIR: dataDir,
        LOG_LEVEL: logLevel,
        PORT: 0,
        RATE_LIMIT_PER_MINUTE: 0,
        AUTH_FAILURES_PER_MINUTE: 0,
        ...settings,
      },
    },
  );
  // Tests that check what is logged pass an array that collects every line.
  const sink = opts.logLines ? { write: (line: string) => void opts.logLines!.push(line) } : undefined;
  const container = buildContainer(config, createLogger(config.LOG_LEVEL, sink), { role: 'api', overrides });
  const app = await buildApp(container);
  app.addHook('onClose', async () => container.close());
  if (container.runner) await container.runner.start();
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return {
    url,
    app,
    container,
    dataDir,
    async call(method, path, body, headers = {}) {
      const isRaw = typeof body === 'string' || body instanceof Uint8Array || body instanceof FormData;
      const res = await fetch(url + path, {
        method,
        headers: body !== undefined && !isRaw ? { 'content-type': 'application/json', ...headers } : headers,
        body: body === undefined ? undefined : isRaw ? (body as RequestInit['body']) : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        // not JSON (docs page): keep the text
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async close() {
      await app.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls a job until it completes or fails. */
export async function waitForJob(
  server: TestServer,
  jobId: string,
  headers: Record<string, string> = {},
  ms = 120_000,
): Promise<any> {
  const end = Date.now() + ms;
  for (;;) {
    const r = await server.call('GET', `/v1/jobs/${jobId}`, undefined, headers);
    if (r.status === 200 && (r.body.state === 'completed' || r.body.state === 'failed')) return r.body;
    if (Date.now() > end) throw new Error(`job ${jobId} did not finish: ${JSON.stringify(r.body)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}
