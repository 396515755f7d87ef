import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InProcessQueue } from '../../src/adapters/job-queue/in-process.js';
import { openSqlite, SQLITE_FILE } from '../../src/adapters/sqlite/database.js';
import { SqliteJobStore } from '../../src/adapters/sqlite/job-store.js';
import { AppError } from '../../src/errors.js';
import type { JobContext } from '../../src/ports/job-queue.js';
import { finished, until } from '../contract/job-queue.contract.js';

/** A processor that runs until its signal fires (a shutdown), then stops with `stopWith`. */
function untilStopped(started: () => void, stopWith: () => unknown) {
  return (job: JobContext<unknown>) =>
    new Promise<never>((_, reject) => {
      started();
      const stop = () => reject(stopWith());
      if (job.signal.aborted) stop();
      else job.signal.addEventListener('abort', stop, { once: true });
    });
}

describe('InProcessQueue on a database file shared by several queues (processes)', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const f of cleanups.splice(0).reverse()) await f();
  });
  const tempFile = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'air-jobs-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return join(dir, SQLITE_FILE);
  };
  /** A queue with a connection of its own, as another process has. */
  const open = (file: string, opts: { keepFinished?: number; leaseMs?: number } = {}) => {
    const db = openSqlite(file);
    const store = new SqliteJobStore({ db });
    const q = new InProcessQueue({ store, backoffMs: 10, pollMs: 50, ...opts });
    cleanups.push(() => {
      db.close();
    });
    cleanups.push(() => q.close());
    return { q, store };
  };

  // How a stopped processor surfaces the stop: as the core does (transient), or as the LLM adapters do (not transient).
  const stops = [
    { how: 'transient CANCELLED', stopWith: () => new AppError('CANCELLED', [], { transient: true }) },
    { how: 'a non-transient CANCELLED', stopWith: () => new AppError('CANCELLED') },
  ];
  it.each(stops)(
    'runs again, in a new queue on the same file, a job whose run a close stopped ($how), counting that run as an attempt',
    async ({ stopWith }) => {
      const file = await tempFile();
      const { q: first } = open(file);
      let began!: () => void;
      const running = new Promise<void>((r) => (began = r));
      first.register(
        'work',
        untilStopped(() => began(), stopWith),
      );
      await first.start();
      await first.enqueue('work', { n: 7 }, { jobId: 'job-stopped', attempts: 3 });
      await running;
      await first.close();

      const { q: second } = open(file);
      const seen: Array<{ data: unknown; attempt: number }> = [];
      second.register('work', async (job) => {
        seen.push({ data: job.data, attempt: job.attempt });
        return { done: (job.data as { n: number }).n };
      });
      await second.start();
      const j = await until(second, 'job-stopped', finished);
      expect(j).toMatchObject({ state: 'completed', result: { done: 7 }, attempts: 2 });
      expect(seen).toEqual([{ data: { n: 7 }, attempt: 2 }]);
    },
  );

  it('runs again, once its lease has run out, a job left active by a process that died; fails it instead when that was its last attempt', async () => {
    const file = await tempFile();
    const { q, store } = open(file, { leaseMs: 200 });
    // What a SIGKILLed process leaves: runs claimed by an owner that never renews nor finishes them.
    await store.insert({ id: 'job-retry', name: 'work', data: {}, maxAttempts: 2 }, Date.now());
    await store.insert({ id: 'job-last', name: 'work', data: {}, maxAttempts: 1 }, Date.now());
    expect(await store.claim('dead-process', ['work'], 200, Date.now())).not.toBeNull();
    expect(await store.claim('dead-process', ['work'], 200, Date.now())).not.toBeNull();
    const attempts: number[] = [];
    q.register('work', async (job) => {
      attempts.push(job.attempt);
      return 'ok';
    });
    await q.start();
    expect(await until(q, 'job-retry', finished)).toMatchObject({ state: 'completed', attempts: 2 });
    expect(attempts).toEqual([2]);
    const last = await until(q, 'job-last', finished);
    expect(last).toMatchObject({ state: 'failed', attempts: 1 });
    expect(last.error?.code).toBe('CANCELLED');
  });

  it('two queues started on one file run each job once, and each reads the jobs the other accepted', async () => {
    const file = await tempFile();
    const runs = new Map<string, string[]>();
    const queues = [open(file).q, open(file).q];
    queues.forEach((q, i) => {
      q.register('work', async (job) => {
        runs.set(job.id, [...(runs.get(job.id) ?? []), `q${i}`]);
        await new Promise((r) => setTimeout(r, 5));
        return { by: `q${i}` };
      });
    });
    await Promise.all(queues.map((q) => q.start()));
    const ids = Array.from({ length: 30 }, (_, i) => `job-${i}`);
    // Each job is enqueued through both queues, as two APIs receiving the same deterministic job id would.
    for (const id of ids) await Promise.all(queues.map((q) => q.enqueue('work', { id }, { jobId: id })));
    for (const id of ids) {
      const a = await until(queues[0]!, id, finished);
      const b = await queues[1]!.get(id);
      expect(b).toEqual(a);
      expect(a).toMatchObject({ state: 'completed', attempts: 1 });
    }
    expect([...runs.values()].every((by) => by.length === 1)).toBe(true);
    expect(runs.size).toBe(30);
    // Both did work: the claims are shared, not one queue's monopoly of its own jobs.
    expect(new Set([...runs.values()].flat())).toEqual(new Set(['q0', 'q1']));
  });

  it('keeps a finished job and its result readable from a new queue, and a waiting one runs there', async () => {
    const file = await tempFile();
    const { q: first } = open(file);
    first.register('echo', async (job) => ({ echoed: job.data }));
    await first.start();
    await first.enqueue('echo', { namespace: 'ns-a', x: 1 }, { jobId: 'job-done' });
    await until(first, 'job-done', finished);
    await first.close();
    // Accepted by a queue that runs nothing (never started).
    const { q: idle } = open(file);
    await idle.enqueue('echo', { y: 2 }, { jobId: 'job-waiting' });

    const { q: second } = open(file);
    const done = await second.get('job-done');
    expect(done).toMatchObject({
      state: 'completed',
      result: { echoed: { namespace: 'ns-a', x: 1 } },
      data: { namespace: 'ns-a', x: 1 },
      progress: 100,
      attempts: 1,
    });
    expect(done?.finishedAt).not.toBeNull();
    expect((await second.get('job-waiting'))?.state).toBe('waiting');
    second.register('echo', async (job) => ({ echoed: job.data }));
    await second.start();
    expect((await until(second, 'job-waiting', finished)).result).toEqual({ echoed: { y: 2 } });
    await second.remove('job-done', done!.finishedAt);
    expect(await open(file).q.get('job-done')).toBeNull();
  });

  it('keeps at most keepFinished finished jobs, dropping the oldest at start', async () => {
    const file = await tempFile();
    const { q: first } = open(file, { keepFinished: 10 });
    first.register('echo', async (job) => job.id);
    await first.start();
    for (const id of ['job-1', 'job-2', 'job-3']) {
      await first.enqueue('echo', {}, { jobId: id });
      await until(first, id, finished);
    }
    await first.close();
    const { q: second } = open(file, { keepFinished: 2 });
    await second.start();
    expect(await second.get('job-1')).toBeNull();
    expect((await second.get('job-2'))?.result).toBe('job-2');
    expect((await second.get('job-3'))?.result).toBe('job-3');
  });
});
