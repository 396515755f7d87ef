import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InProcessQueue } from '../../src/adapters/job-queue/in-process.js';
import { AppError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
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

describe('InProcessQueue with a persistence directory', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const f of cleanups.splice(0).reverse()) await f();
  });
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'air-jobs-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  };
  const open = (dir: string, opts: { keepFinished?: number; lines?: string[] } = {}) => {
    const logger = opts.lines ? createLogger('debug', { write: (l: string) => void opts.lines!.push(l) }) : undefined;
    const q = new InProcessQueue({ dir, backoffMs: 10, keepFinished: opts.keepFinished, logger });
    cleanups.push(() => q.close());
    return q;
  };

  // How a stopped processor surfaces the stop: as the core does (transient), or as the LLM adapters do (not transient).
  const stops = [
    { how: 'transient CANCELLED', stopWith: () => new AppError('CANCELLED', [], { transient: true }) },
    { how: 'a non-transient CANCELLED', stopWith: () => new AppError('CANCELLED') },
  ];
  it.each(stops)('runs again, in a new queue on the same directory, a job whose run a close stopped ($how), counting that run as an attempt', async ({ stopWith }) => {
    const dir = await tempDir();
    const first = open(dir);
    let began!: () => void;
    const running = new Promise<void>((r) => (began = r));
    first.register('work', untilStopped(() => began(), stopWith));
    await first.start();
    await first.enqueue('work', { n: 7 }, { jobId: 'job-stopped', attempts: 3 });
    await running;
    await first.close();

    const second = open(dir);
    const seen: Array<{ data: unknown; attempt: number }> = [];
    second.register('work', async (job) => {
      seen.push({ data: job.data, attempt: job.attempt });
      return { done: (job.data as { n: number }).n };
    });
    await second.start();
    const j = await until(second, 'job-stopped', finished);
    expect(j.state).toBe('completed');
    expect(j.result).toEqual({ done: 7 });
    expect(j.attempts).toBe(2);
    expect(seen).toEqual([{ data: { n: 7 }, attempt: 2 }]);
  });

  it('runs again a job left active by a process that never closed (killed), and fails it instead when that was its last attempt', async () => {
    const dir = await tempDir();
    // Never closed and never finishing: on disk the jobs stay active, as a SIGKILL leaves them.
    const killed = new InProcessQueue({ dir, concurrency: 2 });
    const called = new Set<string>();
    killed.register('work', (job) => {
      called.add(job.id);
      return new Promise<never>(() => undefined);
    });
    await killed.start();
    await killed.enqueue('work', {}, { jobId: 'job-retry', attempts: 2 });
    await killed.enqueue('work', {}, { jobId: 'job-last', attempts: 1 });
    // A processor is called once its attempt is on disk: both files now say active.
    while (called.size < 2) await new Promise((r) => setTimeout(r, 10));
    const second = open(dir);
    const attempts: number[] = [];
    second.register('work', async (job) => {
      attempts.push(job.attempt);
      return 'ok';
    });
    await second.start();
    const retried = await until(second, 'job-retry', finished);
    expect(retried.state).toBe('completed');
    expect(attempts).toEqual([2]);
    const last = await until(second, 'job-last', finished);
    expect(last.state).toBe('failed');
    expect(last.error?.code).toBe('CANCELLED');
    expect(last.attempts).toBe(1);
  });

  it('keeps a finished job and its result readable from a new queue, and a waiting one runs there', async () => {
    const dir = await tempDir();
    const first = open(dir);
    first.register('echo', async (job) => ({ echoed: job.data }));
    await first.start();
    await first.enqueue('echo', { namespace: 'ns-a', x: 1 }, { jobId: 'job-done' });
    await until(first, 'job-done', finished);
    // Enqueued but never started: no runner on this queue.
    const idle = open(dir + '-idle');
    cleanups.push(() => rm(dir + '-idle', { recursive: true, force: true }));
    await idle.enqueue('echo', { y: 2 }, { jobId: 'job-waiting' });
    await first.close();
    await idle.close();

    const second = open(dir);
    const done = await second.get('job-done');
    expect(done).toMatchObject({ state: 'completed', result: { echoed: { namespace: 'ns-a', x: 1 } }, data: { namespace: 'ns-a', x: 1 }, progress: 100, attempts: 1 });
    expect(done?.finishedAt).not.toBeNull();

    const third = open(dir + '-idle');
    third.register('echo', async (job) => ({ echoed: job.data }));
    expect((await third.get('job-waiting'))?.state).toBe('waiting');
    await third.start();
    expect((await until(third, 'job-waiting', finished)).result).toEqual({ echoed: { y: 2 } });
  });

  it('deletes the file of a removed job, so a new queue does not know it', async () => {
    const dir = await tempDir();
    const first = open(dir);
    first.register('echo', async () => 'ok');
    await first.start();
    await first.enqueue('echo', {}, { jobId: 'job-a' });
    await first.enqueue('echo', {}, { jobId: 'job-b' });
    await until(first, 'job-a', finished);
    await until(first, 'job-b', finished);
    expect((await readdir(dir)).filter((n) => n.endsWith('.json'))).toHaveLength(2);
    await first.remove('job-a');
    expect((await readdir(dir)).filter((n) => n.endsWith('.json'))).toHaveLength(1);
    await first.close();
    const second = open(dir);
    expect(await second.get('job-a')).toBeNull();
    expect((await second.get('job-b'))?.state).toBe('completed');
  });

  it('skips corrupt and foreign files with a warning and loads the others', async () => {
    const dir = await tempDir();
    const first = open(dir);
    first.register('echo', async () => 'ok');
    await first.start();
    await first.enqueue('echo', {}, { jobId: 'job-good' });
    await until(first, 'job-good', finished);
    await first.close();
    await writeFile(join(dir, 'torn.json'), '{"v":1,"info":{"id":"job-torn","na');
    await writeFile(join(dir, 'wrong-shape.json'), JSON.stringify({ v: 1, info: { id: 'job-x', state: 'exploded' } }));

    const lines: string[] = [];
    const second = open(dir, { lines });
    second.register('echo', async () => 'ok');
    await second.start();
    expect((await second.get('job-good'))?.state).toBe('completed');
    expect(await second.get('job-torn')).toBeNull();
    const warnings = lines.map((l) => JSON.parse(l) as { msg: string; file?: string }).filter((l) => l.msg === 'skipping an unreadable job file');
    expect(warnings.map((w) => w.file).sort()).toEqual([join(dir, 'torn.json'), join(dir, 'wrong-shape.json')]);
  });

  it('keeps at most keepFinished finished jobs across a restart, deleting the files of the oldest', async () => {
    const dir = await tempDir();
    const first = open(dir, { keepFinished: 10 });
    first.register('echo', async (job) => job.id);
    await first.start();
    for (const id of ['job-1', 'job-2', 'job-3']) {
      await first.enqueue('echo', {}, { jobId: id });
      await until(first, id, finished);
    }
    await first.close();
    const second = open(dir, { keepFinished: 2 });
    await second.start();
    expect(await second.get('job-1')).toBeNull();
    expect((await second.get('job-2'))?.result).toBe('job-2');
    expect((await second.get('job-3'))?.result).toBe('job-3');
    await second.close();
    expect((await readdir(dir)).filter((n) => n.endsWith('.json'))).toHaveLength(2);
  });
});
