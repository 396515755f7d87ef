import { Queue, Worker, UnrecoverableError, type Job, type ConnectionOptions } from 'bullmq';
import type { Logger } from 'pino';
import type {
  EnqueueOptions,
  JobInfo,
  JobProcessor,
  JobQueue,
  JobRunner,
  JobState,
  QueueCounts,
} from '../../ports/job-queue.js';
import { AppError, isAppError } from '../../errors.js';
import { DEFAULT_REDIS_TIMEOUT_MS, redisUnavailable } from '../redis-unavailable.js';
import { failureOf } from './stopped.js';

export interface BullMqOptions {
  /** redis://host:port/db */
  url: string;
  /** Queue name; jobs of every kind share it and are told apart by job name. */
  queueName: string;
  prefix: string;
  /**
   * Producer only: bound on each call, waiting for a connection included
   * (REDIS_TIMEOUT_MS). Past it the call fails with QUEUE_UNAVAILABLE (503).
   * Default 2000.
   */
  timeoutMs?: number;
  logger?: Logger;
}

function connection(url: string, role: 'producer' | 'worker', timeoutMs = DEFAULT_REDIS_TIMEOUT_MS): ConnectionOptions {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.pathname.length > 1 ? { db: Number(u.pathname.slice(1)) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    // Workers must block on Redis without a per-command retry limit (and their blocking
    // commands without a command timeout); the API should fail fast (503) rather than
    // hang a request while Redis is down: no offline queue, bounded commands (BullMQ's
    // advice for producers).
    ...(role === 'worker'
      ? { maxRetriesPerRequest: null }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: timeoutMs, commandTimeout: timeoutMs }),
  };
}

/** The error stored with a failed job: the stable code survives the trip through Redis. */
function encodeError(err: unknown): string {
  if (isAppError(err)) return JSON.stringify({ code: err.code, message: err.message });
  return JSON.stringify({ code: 'INGEST_FAILED', message: err instanceof Error ? err.message : String(err) });
}

function decodeError(reason: string | undefined): { code: string; message: string } | null {
  if (!reason) return null;
  try {
    const e = JSON.parse(reason) as { code?: unknown; message?: unknown };
    if (typeof e.code === 'string' && typeof e.message === 'string') return { code: e.code, message: e.message };
  } catch {
    // A failure raised by BullMQ itself (stalled job, lock lost) is plain text.
  }
  return { code: 'INGEST_FAILED', message: reason };
}

function toInfo(job: Job, state: string): JobInfo {
  const mapped: JobState =
    state === 'completed' || state === 'failed' || state === 'active' || state === 'delayed' ? state : 'waiting';
  return {
    id: job.id!,
    name: job.name,
    state: mapped,
    progress: mapped === 'completed' ? 100 : typeof job.progress === 'number' ? job.progress : 0,
    attempts: job.attemptsMade,
    data: job.data,
    result: job.returnvalue ?? null,
    error: mapped === 'failed' ? decodeError(job.failedReason) : null,
    createdAt: new Date(job.timestamp).toISOString(),
    finishedAt: finishedAtOf(job),
  };
}

function finishedAtOf(job: Job): string | null {
  return job.finishedOn ? new Date(job.finishedOn).toISOString() : null;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`no answer from Redis within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/** Producer side: the API enqueues and reads job state. */
export class BullMqQueue implements JobQueue {
  readonly name = 'bullmq';
  private readonly queue: Queue;
  private readonly timeoutMs: number;
  private closing: Promise<void> | null = null;

  constructor(opts: BullMqOptions) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS;
    this.queue = new Queue(opts.queueName, {
      connection: connection(opts.url, 'producer', this.timeoutMs),
      prefix: opts.prefix,
    });
    this.queue.on('error', (err) => opts.logger?.error({ err }, 'queue connection error'));
  }

  async enqueue<TData>(name: string, data: TData, opts: EnqueueOptions): Promise<JobInfo<TData>> {
    return this.call(async () => {
      // BullMQ ignores add() for an id that exists: a re-submission is a no-op. One that times out
      // here may still land once Redis is back; its id is deterministic, so that is the same job.
      const job = await this.queue.add(name, data, {
        jobId: opts.jobId,
        attempts: opts.attempts ?? 1,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
        removeOnFail: { age: 30 * 24 * 3600 },
      });
      return toInfo(job, await job.getState()) as JobInfo<TData>;
    });
  }

  async get(jobId: string): Promise<JobInfo | null> {
    return this.call(async () => {
      // State first, then the job: the job's fields are then at least as fresh as its state.
      const state = await this.queue.getJobState(jobId);
      const job = await this.queue.getJob(jobId);
      return job ? toInfo(job, state) : null;
    });
  }

  async remove(jobId: string, finishedAt: string | null): Promise<void> {
    return this.call(async () => {
      const job = await this.queue.getJob(jobId);
      if (job && finishedAtOf(job) === finishedAt && ((await job.isCompleted()) || (await job.isFailed())))
        await job.remove();
    });
  }

  async counts(): Promise<QueueCounts> {
    return this.call(async () => {
      const c = await this.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children');
      // BullMQ keeps prioritized jobs and jobs waiting for children apart from 'waiting'; both are still to run.
      return {
        waiting: (c.waiting ?? 0) + (c.prioritized ?? 0) + (c['waiting-children'] ?? 0),
        active: c.active ?? 0,
        delayed: c.delayed ?? 0,
      };
    });
  }

  async health(): Promise<void> {
    return this.call(() => this.queue.getJobCounts('waiting').then(() => undefined));
  }

  /**
   * Every producer call within the timeout: the connection's command timeout
   * does not cover BullMQ's own wait for a first connection (a Redis down
   * since start would hang the request forever), so the whole call is raced.
   */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await withTimeout(fn(), this.timeoutMs);
    } catch (err) {
      throw redisUnavailable('QUEUE_UNAVAILABLE', err);
    }
  }

  /** Deletes the queue and all its jobs (tests). */
  async obliterate(): Promise<void> {
    await this.queue.obliterate({ force: true });
  }

  close(): Promise<void> {
    this.closing ??= this.queue.close().catch(() => undefined);
    return this.closing;
  }
}

/** Consumer side: a worker process runs the processors. */
export class BullMqRunner implements JobRunner {
  private readonly processors = new Map<string, JobProcessor<any, any>>();
  private worker: Worker | null = null;
  private closing: Promise<void> | null = null;

  constructor(
    private readonly opts: BullMqOptions & {
      concurrency: number;
      lockDurationMs?: number;
      /**
       * On close, how long active jobs may still run; then their signals fire
       * and their processors stop. A processor stopped so fails, whatever it
       * throws, with a transient CANCELLED (failureOf), which the queue
       * records as a failed attempt and retries on a running or the next
       * worker (attempts permitting), instead of leaving the job locked until
       * another worker finds it stalled.
       * Default: no limit (close waits for the jobs to finish).
       */
      stopJobsAfterMs?: number;
    },
  ) {}

  register<TData, TResult>(name: string, processor: JobProcessor<TData, TResult>): void {
    this.processors.set(name, processor as JobProcessor<any, any>);
  }

  async start(): Promise<void> {
    const log = this.opts.logger;
    this.worker = new Worker(
      this.opts.queueName,
      async (job: Job, _token?: string, signal?: AbortSignal) => {
        const processor = this.processors.get(job.name);
        if (!processor) throw new UnrecoverableError(encodeError(new AppError('INTERNAL')));
        const jobSignal = signal ?? new AbortController().signal;
        try {
          return await processor({
            id: job.id!,
            name: job.name,
            data: job.data,
            attempt: job.attemptsMade + 1,
            maxAttempts: job.opts.attempts ?? 1,
            signal: jobSignal,
            updateProgress: (p) => job.updateProgress(Math.max(0, Math.min(100, Math.round(p)))),
          });
        } catch (thrown) {
          const err = failureOf(thrown, jobSignal);
          log?.warn({ err, jobId: job.id, attempt: job.attemptsMade + 1 }, 'job attempt failed');
          // Non-transient failures (a bad document) must not be retried.
          if (isAppError(err) && !err.transient) throw new UnrecoverableError(encodeError(err));
          throw new Error(encodeError(err));
        }
      },
      {
        connection: connection(this.opts.url, 'worker'),
        prefix: this.opts.prefix,
        concurrency: this.opts.concurrency,
        lockDuration: this.opts.lockDurationMs ?? 30_000,
        // Look for jobs whose worker died as often as a lock can expire.
        stalledInterval: this.opts.lockDurationMs ?? 30_000,
        maxStalledCount: 3,
        autorun: true,
      },
    );
    this.worker.on('error', (err) => log?.error({ err }, 'worker error'));
    this.worker.on('completed', (job) => log?.info({ jobId: job.id, job: job.name }, 'job completed'));
    this.worker.on('failed', (job, err) => log?.error({ jobId: job?.id, err: err.message }, 'job failed'));
    await this.worker.waitUntilReady();
  }

  /**
   * Takes no new job and waits for active ones to finish (BullMQ's graceful
   * close), stopping those still running after `stopJobsAfterMs` through their
   * signal; then disconnects. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const worker = this.worker;
      if (!worker) return;
      const after = this.opts.stopJobsAfterMs;
      // Before BullMQ disconnects (it waits for the jobs first), so their failed attempts are still recorded.
      const stop = after === undefined ? undefined : setTimeout(() => worker.cancelAllJobs('worker shutdown'), after);
      try {
        await worker.close().catch(() => undefined);
      } finally {
        clearTimeout(stop);
      }
    })();
    return this.closing;
  }
}
