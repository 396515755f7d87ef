import { readFileSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { chunkText } from '../../src/core/ingest/chunker.js';
import { TokenPool } from '../../src/infra/token-pool.js';
import { inlineTokenWork } from '../../src/core/ingest/inline-token-work.js';
import type { TokenWork } from '../../src/ports/token-work.js';
import { cl100k } from '../../src/core/tokenizer.js';
import { LARA_DIR } from '../helpers/paths.js';
import { runModuleScript } from '../helpers/child.js';

const book = readFileSync(`${LARA_DIR}/documents/128k/book/A Room with a View.txt`, 'utf8');
const sizes = { chunkTokens: 400, overlapTokens: 40 };

/** The next worker thread this process starts (Node announces each one on `process`). */
function nextWorker(): Promise<Worker> {
  return new Promise((resolve) => process.once('worker', resolve));
}

/** Which of a call and a setImmediate scheduled right after it finishes first: 'immediate' only if the call left the event loop free. */
async function firstToFinish(call: () => Promise<unknown>): Promise<string[]> {
  const order: string[] = [];
  const done = call().then(() => order.push('call'));
  setImmediate(() => order.push('immediate'));
  await done;
  await new Promise((r) => setImmediate(r));
  return order;
}

describe('TokenPool (real worker threads, real cl100k tokenizer)', () => {
  const pools: TokenWork[] = [];
  const open = (opts?: ConstructorParameters<typeof TokenPool>[0]): TokenPool => {
    const p = new TokenPool(opts);
    pools.push(p);
    return p;
  };
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.close()));
  });

  it('counts a LaRA book exactly as cl100k.count does on the event loop', async () => {
    const pool = open();
    expect(await pool.count(book)).toBe(cl100k.count(book));
    expect(pool.running).toBe(1);
  });

  it('chunks a LaRA book into exactly the chunks of chunkText: same boundaries, token counts and texts', async () => {
    const pool = open();
    const threaded = await pool.chunk(book, sizes);
    const inline = chunkText(book, sizes);
    expect(threaded.length).toBeGreaterThan(100);
    expect(threaded).toEqual(inline);
  });

  it('keeps texts under the threshold on the calling thread, without starting one', async () => {
    const pool = open({ inlineBelowChars: 20_000 });
    const small = book.slice(0, 10_000);
    expect(await pool.count(small)).toBe(cl100k.count(small));
    expect(await pool.chunk(small, sizes)).toEqual(chunkText(small, sizes));
    expect(pool.running).toBe(0);
  });

  it('leaves the event loop free while a book is counted: a setImmediate scheduled after the call runs before it resolves', async () => {
    const pool = open();
    await pool.count('warm the thread up '.repeat(2_000));
    expect(await firstToFinish(() => pool.count(book))).toEqual(['immediate', 'call']);
    expect(await firstToFinish(() => pool.chunk(book, sizes))).toEqual(['immediate', 'call']);
    // The same probe on the inline path: the count holds the loop until it is done.
    expect(await firstToFinish(() => inlineTokenWork.count(book + ' '))).toEqual(['call', 'immediate']);
  });

  it('rejects the call in flight with TOKENIZER_UNAVAILABLE when its thread is terminated, and serves the next call on a fresh thread', async () => {
    const pool = open();
    const started = nextWorker();
    const inFlight = pool.count(book);
    const worker = await started;
    const outcome = inFlight.then(
      () => 'resolved',
      (err: unknown) => err,
    );
    await worker.terminate();
    const err = await outcome;
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('TOKENIZER_UNAVAILABLE');
    expect((err as AppError).transient).toBe(true);
    expect(pool.running).toBe(0);

    const fresh = nextWorker();
    expect(await pool.count(book)).toBe(cl100k.count(book));
    expect((await fresh).threadId).not.toBe(worker.threadId);
  });

  it('passes queued calls to a fresh thread when the busy one dies', async () => {
    const pool = open();
    const started = nextWorker();
    const first = pool.count(book).catch((e: unknown) => e);
    const second = pool.chunk(book, sizes);
    await (await started).terminate();
    expect(((await first) as AppError).code).toBe('TOKENIZER_UNAVAILABLE');
    expect(await second).toEqual(chunkText(book, sizes));
  });

  it('rejects a call with CANCELLED (transient) when its signal fires mid-way, and the next call still works', async () => {
    const pool = open();
    const abort = new AbortController();
    const started = nextWorker();
    const call = pool.chunk(book, sizes, abort.signal).catch((e: unknown) => e);
    await started;
    abort.abort();
    const err = (await call) as AppError;
    expect(err.code).toBe('CANCELLED');
    expect(err.transient).toBe(true);
    expect(await pool.count(book)).toBe(cl100k.count(book));
  });

  it('stops a call that runs past its time cap with TEXT_TOO_COMPLEX (not transient), drops its thread, and runs the call queued behind it on a fresh one', async () => {
    // 1 ms: no book is counted that fast, so the cap always fires first.
    const pool = open({ timeoutMs: 1 });
    const first = nextWorker();
    const capped = pool.count(book).catch((e: unknown) => e);
    const queued = pool.count(`${book} again`).catch((e: unknown) => e);
    const worker = await first;
    const second = nextWorker();
    const err = (await capped) as AppError;
    expect(err.code).toBe('TEXT_TOO_COMPLEX');
    expect(err.transient).toBe(false);
    // The queued call got a thread of its own (and its own cap).
    expect(await second).not.toBe(worker);
    expect(((await queued) as AppError).code).toBe('TEXT_TOO_COMPLEX');
    const generous = open({ timeoutMs: 120_000 });
    expect(await generous.count(book)).toBe(cl100k.count(book));
  });

  it('drops a queued call whose signal fires, without disturbing the call ahead of it', async () => {
    const pool = open();
    const abort = new AbortController();
    const ahead = pool.count(book);
    const queued = pool.count(book + ' again', abort.signal).catch((e: unknown) => e);
    abort.abort();
    expect(((await queued) as AppError).code).toBe('CANCELLED');
    expect(await ahead).toBe(cl100k.count(book));
  });

  it('reports a chunking error of the thread as the inline function would (RangeError for bad sizes)', async () => {
    const pool = open();
    await expect(pool.chunk(book, { chunkTokens: 100, overlapTokens: 100 })).rejects.toThrow(RangeError);
    await expect(pool.chunk(book, { chunkTokens: 100, overlapTokens: 100 })).rejects.toThrow(
      'overlapTokens must be in [0, chunkTokens)',
    );
    expect(await pool.count(book)).toBe(cl100k.count(book));
  });

  it('close() rejects the call in flight, refuses new ones, and is idempotent', async () => {
    const pool = open();
    const started = nextWorker();
    const inFlight = pool.count(book).catch((e: unknown) => e);
    await started;
    await Promise.all([pool.close(), pool.close()]);
    expect(((await inFlight) as AppError).code).toBe('TOKENIZER_UNAVAILABLE');
    await expect(pool.count('short')).rejects.toMatchObject({ code: 'TOKENIZER_UNAVAILABLE' });
    expect(pool.running).toBe(0);
  });

  it('starts its threads on warm(), once, and serves the next large text on the thread it started', async () => {
    const pool = open({ threads: 2 });
    const started: Worker[] = [];
    const onWorker = (w: Worker): void => void started.push(w);
    process.on('worker', onWorker);
    try {
      pool.warm();
      expect(pool.running).toBe(2);
      pool.warm();
      // Node announces a thread on the next tick.
      await new Promise((r) => setImmediate(r));
      expect(started).toHaveLength(2);
      expect(await pool.count(book)).toBe(cl100k.count(book));
      expect(await pool.chunk(book, sizes)).toEqual(chunkText(book, sizes));
      expect(started).toHaveLength(2);
      expect(pool.running).toBe(2);
    } finally {
      process.off('worker', onWorker);
    }
  });

  it('warm() after close starts nothing', async () => {
    const pool = open();
    await pool.close();
    pool.warm();
    expect(pool.running).toBe(0);
  });

  it('does not keep a process alive when warmed: a script that warms the pool and never uses or closes it exits by itself', async () => {
    const script = `
      import { TokenPool } from './src/infra/token-pool.ts';
      const pool = new TokenPool({ threads: 2 });
      pool.warm();
      console.log(JSON.stringify({ running: pool.running }));
    `;
    // A warmed thread that held the process would make this wait forever: the test then fails on the test timeout.
    const { code, out, err } = await runModuleScript(script);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({ running: 2 });
  });

  it('does not keep a process alive: a script that counts a book and never closes the pool exits by itself', async () => {
    const script = `
      import { TokenPool } from './src/infra/token-pool.ts';
      import { readFileSync } from 'node:fs';
      const pool = new TokenPool();
      const n = await pool.count(readFileSync(process.argv[1], 'utf8'));
      console.log(JSON.stringify({ n, running: pool.running }));
    `;
    // A thread that held the process would make this wait forever: the test then fails on the test timeout.
    const { code, out, err } = await runModuleScript(script, [
      `${LARA_DIR}/documents/128k/book/A Room with a View.txt`,
    ]);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({ n: cl100k.count(book), running: 1 });
  });
});
