import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { JobQueue, JobRunner } from '../../ports/job-queue.js';
import type { JobStore } from '../../ports/job-store.js';
import type { Registry } from '../registry.js';
import { BullMqQueue, BullMqRunner } from './bullmq.js';
import { InProcessQueue } from './in-process.js';

/** 'api' serves HTTP (runs jobs itself only without Redis); 'worker' runs jobs from Redis; 'local' always runs jobs in process (CLI, eval). */
export type ProcessRole = 'api' | 'worker' | 'local';

/** The one BullMQ queue; jobs of every kind share it and are told apart by name. */
export const QUEUE_NAME = 'jobs';

/** What a job queue is built from. */
export interface JobQueueDeps {
  config: Config;
  role: ProcessRole;
  /** Where the in-process queue keeps its jobs: DATA_DIR's database or PostgreSQL, shared by the processes on it. */
  jobs: JobStore;
  logger: Logger;
}

/** A queue, and what runs its jobs in this process: null where another process does (an API beside BullMQ workers). */
export interface QueueAndRunner {
  queue: JobQueue;
  runner: JobRunner | null;
}

/** The job queues by name; one line per adapter. */
export const jobQueues: Registry<'in-process' | 'bullmq', JobQueueDeps, QueueAndRunner> = Object.freeze({
  'in-process': ({ config, jobs, logger }) => {
    // Every process on the store shares one job table: each run is claimed by one of them (see InProcessQueue).
    const queue = new InProcessQueue({
      concurrency: config.WORKER_CONCURRENCY,
      logger,
      store: jobs,
      leaseMs: config.WORKER_LOCK_MS,
    });
    return { queue, runner: queue };
  },
  bullmq: bullMq,
});

function bullMq({ config, role, logger }: JobQueueDeps): QueueAndRunner {
  const bull = {
    url: config.REDIS_URL,
    queueName: QUEUE_NAME,
    prefix: config.QUEUE_PREFIX,
    timeoutMs: config.REDIS_TIMEOUT_MS,
    logger,
  };
  const queue = new BullMqQueue(bull);
  if (role !== 'worker') return { queue, runner: null };
  // The worker process exits at SHUTDOWN_TIMEOUT_MS; jobs still running are stopped a little before (a fifth of it, at most 2 s),
  // so they stop and their queue retries them at once rather than when their lock expires.
  const stopJobsAfterMs = config.SHUTDOWN_TIMEOUT_MS - Math.min(2000, Math.floor(config.SHUTDOWN_TIMEOUT_MS / 5));
  const runner = new BullMqRunner({
    ...bull,
    concurrency: config.WORKER_CONCURRENCY,
    lockDurationMs: config.WORKER_LOCK_MS,
    stopJobsAfterMs,
  });
  return { queue, runner };
}
