import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest, type Agent, type ClientRequest, type IncomingHttpHeaders } from 'node:http';
import { Redis } from 'ioredis';
import { ROOT } from '../helpers/paths.js';

export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
}

/** Polls `check` every `everyMs` until it returns true; throws with `what` after `ms`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  ms = 60_000,
  everyMs = 50,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Polls `GET base + path` until it answers 2xx; throws with `what` after `ms`, or at once when `child` (the server's
 * process) exits first.
 */
export async function untilServing(
  base: string,
  what: string,
  opts: { path?: '/healthz' | '/readyz'; child?: ChildProcess; ms?: number; everyMs?: number } = {},
): Promise<void> {
  await until(
    async () => {
      if (opts.child && opts.child.exitCode !== null) throw new Error(`the server exited with ${opts.child.exitCode}`);
      return fetch(`${base}${opts.path ?? '/healthz'}`).then(
        (r) => r.ok,
        () => false,
      );
    },
    what,
    opts.ms ?? 120_000,
    opts.everyMs ?? 100,
  );
}

/** A `node --import tsx <entry>` child in the repo root, its stderr forwarded with a tag, stdout collected line by line. */
export function spawnTs(entry: string, env: Record<string, string>, tag: string): ChildProcess & { lines: string[] } {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  }) as ChildProcess & { lines: string[] };
  child.lines = [];
  let rest = '';
  child.stdout!.on('data', (d: Buffer) => {
    const parts = (rest + d.toString('utf8')).split('\n');
    rest = parts.pop()!;
    child.lines.push(...parts);
  });
  child.stderr!.on('data', (d: Buffer) => process.stderr.write(`[${tag} ${child.pid}] ${d}`));
  return child;
}

/**
 * A redis-server of the test's own, on a free port, with append-only
 * persistence fsynced on every write, so a restart on the same directory
 * must bring back everything acknowledged.
 */
export class OwnRedis {
  private child: ChildProcess | null = null;
  constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--save',
        '',
        '--daemonize',
        'no',
        '--loglevel',
        'warning',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr!.on('data', (d: Buffer) => process.stderr.write(`[redis ${this.port}] ${d}`));
    this.child = child;
    await until(
      async () => {
        if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
        const r = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        r.on('error', () => undefined);
        try {
          await r.connect();
          return (await r.ping()) === 'PONG';
        } catch {
          return false;
        } finally {
          r.disconnect();
        }
      },
      `redis-server on ${this.port}`,
      20_000,
      50,
    );
  }

  /** SIGTERM: redis fsyncs and exits (a clean shutdown); resolves once it has. */
  async stop(): Promise<void> {
    const c = this.child;
    this.child = null;
    if (!c || c.exitCode !== null) return;
    c.kill('SIGTERM');
    await exited(c);
  }

  /** For afterAll: a SIGKILL if a stop did not finish. */
  kill(): void {
    if (this.child && this.child.exitCode === null) this.child.kill('SIGKILL');
    this.child = null;
  }
}

/**
 * POSTs JSON with node:http, so a test can abort it: fetch (undici) opens a
 * fresh keep-alive connection after an abort, and a connection that never
 * sends a request holds up the server's close until Node's headers timeout.
 */
export function abortablePost(
  baseUrl: string,
  path: string,
  body: unknown,
  agent: Agent | false = false,
): { abort: () => void; done: Promise<{ status: number; body: any; headers: IncomingHttpHeaders } | Error> } {
  let req!: ClientRequest;
  const done = new Promise<{ status: number; body: any; headers: IncomingHttpHeaders } | Error>((resolve) => {
    const payload = JSON.stringify(body);
    req = httpRequest(
      baseUrl + path,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // keep the text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers });
        });
        res.on('error', (err) => resolve(err));
      },
    );
    req.on('error', (err) => resolve(err));
    req.end(payload);
  });
  return { abort: () => req.destroy(new Error('aborted by the test')), done };
}

/**
 * The API as `npm start` runs it on embedded defaults (no Redis, no PostgreSQL), in a child process on a DATA_DIR,
 * with `env` over those settings; killed by the clean-up pushed to `cleanups`. Resolves once it serves /healthz.
 */
export async function serveEmbedded(
  dataDir: string,
  port: number,
  env: Record<string, string>,
  cleanups: Array<() => Promise<unknown> | void>,
): Promise<{ base: string; child: ChildProcess & { lines: string[] } }> {
  const base = `http://127.0.0.1:${port}`;
  const child = spawnTs(
    'src/server.ts',
    {
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      REDIS_URL: '',
      DATABASE_URL: '',
      VECTOR_STORE: 'embedded',
      RATE_LIMIT_PER_MINUTE: '0',
      ...env,
    },
    'api',
  );
  cleanups.push(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited(child);
  });
  await untilServing(base, 'the server to listen', { child });
  return { base, child };
}
