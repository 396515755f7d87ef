import { describe, expect, it } from 'vitest';
import type { JobInfo, JobProcessor, JobQueue, JobRunner } from '../../src/ports/job-queue.js';
import { AppError } from '../../src/errors.js';

export interface QueueUnderTest {
  queue: JobQueue;
  runner: JobRunner;
  cleanup(): Promise<void>;
}

/** Polls `id` until `done` holds (or fails after `ms`), returning the job then. */
export async function until(queue: JobQueue, id: string, done: (j: JobInfo) => boolean, ms = 30_000): Promise<JobInfo> {
  const end = Date.now() + ms;
  for (;;) {
    const j = await queue.get(id);
    if (j && done(j)) return j;
    if (Date.now() > end) throw new Error(`job ${id} never reached the expected state; last: ${JSON.stringify(j)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
export const finished = (j: JobInfo) => j.state === 'completed' || j.state === 'failed';

/** Every JobQueue adapter passes this suite (unjs/unstorage style). */
export function jobQueueContract(
  name: string,
  make: (processors: Record<string, JobProcessor<any, any>>) => Promise<QueueUnderTest>,
): void {
  describe(`JobQueue contract: ${name}`, () => {
    it('runs a job with its data and stores its result and progress', async () => {
      const q = await make({
        echo: async (job) => {
          await job.updateProgress(50);
          return { doubled: (job.data as { n: number }).n * 2 };
        },
      });
      try {
        await q.queue.enqueue('echo', { n: 21 }, { jobId: 'job-echo-1' });
        const j = await until(q.queue, 'job-echo-1', finished);
        expect(j.state).toBe('completed');
        expect(j.result).toEqual({ doubled: 42 });
        expect(j.progress).toBe(100);
        expect(j.data).toEqual({ n: 21 });
      } finally {
        await q.cleanup();
      }
    });

    it('treats a second enqueue with the same job id as a no-op', async () => {
      let runs = 0;
      const q = await make({ count: async () => ++runs });
      try {
        await q.queue.enqueue('count', {}, { jobId: 'job-same' });
        await q.queue.enqueue('count', {}, { jobId: 'job-same' });
        await until(q.queue, 'job-same', finished);
        await new Promise((r) => setTimeout(r, 200));
        expect(runs).toBe(1);
      } finally {
        await q.cleanup();
      }
    });

    it('retries a transient failure and succeeds on a later attempt', async () => {
      const attempts: number[] = [];
      const q = await make({
        flaky: async (job) => {
          attempts.push(job.attempt);
          if (job.attempt < 2) throw new AppError('VECTOR_STORE_UNAVAILABLE', ['blip'], { transient: true });
          return 'ok';
        },
      });
      try {
        await q.queue.enqueue('flaky', {}, { jobId: 'job-flaky', attempts: 3 });
        const j = await until(q.queue, 'job-flaky', finished);
        expect(j.state).toBe('completed');
        expect(attempts).toEqual([1, 2]);
      } finally {
        await q.cleanup();
      }
    });

    it('fails a non-transient error at once, keeping its stable code', async () => {
      let runs = 0;
      const q = await make({
        bad: async () => {
          runs++;
          throw new AppError('EMPTY_TEXT');
        },
      });
      try {
        await q.queue.enqueue('bad', {}, { jobId: 'job-bad', attempts: 5 });
        const j = await until(q.queue, 'job-bad', finished);
        expect(j.state).toBe('failed');
        expect(j.error?.code).toBe('EMPTY_TEXT');
        expect(runs).toBe(1);
      } finally {
        await q.cleanup();
      }
    });

    it('returns null for an unknown job and can remove a finished one so its id runs again, that run only', async () => {
      let runs = 0;
      const q = await make({ once: async () => ++runs });
      try {
        expect(await q.queue.get('no-such-job')).toBeNull();
        await q.queue.enqueue('once', {}, { jobId: 'job-again' });
        const first = await until(q.queue, 'job-again', finished);
        // Naming another run (one a late caller read before this one) removes nothing.
        await q.queue.remove('job-again', new Date(Date.parse(first.finishedAt!) - 1000).toISOString());
        expect(await q.queue.get('job-again')).toMatchObject({ state: 'completed', finishedAt: first.finishedAt });
        await q.queue.remove('job-again', first.finishedAt);
        expect(await q.queue.get('job-again')).toBeNull();
        await q.queue.enqueue('once', {}, { jobId: 'job-again' });
        await until(q.queue, 'job-again', finished);
        expect(runs).toBe(2);
      } finally {
        await q.cleanup();
      }
    });

    it('counts the jobs waiting and active (its depth), and none once they finish', async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const q = await make({ hold: async () => gate });
      try {
        expect(await q.queue.counts()).toEqual({ waiting: 0, active: 0, delayed: 0 });
        await q.queue.enqueue('hold', {}, { jobId: 'job-hold-1' });
        await q.queue.enqueue('hold', {}, { jobId: 'job-hold-2' });
        let held = await q.queue.counts();
        for (const end = Date.now() + 30_000; held.active === 0 && Date.now() < end; held = await q.queue.counts())
          await new Promise((r) => setTimeout(r, 25));
        expect(held.active).toBeGreaterThanOrEqual(1);
        expect(held.waiting + held.active + held.delayed).toBe(2);
        release();
        await until(q.queue, 'job-hold-1', finished);
        await until(q.queue, 'job-hold-2', finished);
        expect(await q.queue.counts()).toEqual({ waiting: 0, active: 0, delayed: 0 });
      } finally {
        release();
        await q.cleanup();
      }
    });

    it('reports healthy while open', async () => {
      const q = await make({});
      try {
        await expect(q.queue.health()).resolves.toBeUndefined();
      } finally {
        await q.cleanup();
      }
    });
  });
}
