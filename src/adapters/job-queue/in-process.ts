import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { EnqueueOptions, JobInfo, JobProcessor, JobQueue, JobRunner, QueueCounts } from '../../ports/job-queue.js';
import type { JobRecord, JobStore, RunOutcome } from '../../ports/job-store.js';
import { AppError, isAppError } from '../../errors.js';
import { openSqlite } from '../sqlite/database.js';
import { SqliteJobStore } from '../sqlite/job-store.js';
import { failureOf } from './stopped.js';

export interface InProcessQueueOptions {
  /** Jobs this process runs at once. Default 1. */
  concurrency?: number;
  /** Base of the exponential retry backoff in ms. Default 1000. */
  backoffMs?: number;
  /** Finished jobs kept for `get` (oldest dropped first). Default 10 000. */
  keepFinished?: number;
  /**
   * Where the jobs are kept. The container passes the store of DATA_DIR's
   * database, shared by every process on it; by default a private in-memory
   * database (jobs live as long as the queue).
   */
  store?: JobStore;
  /** How long a run is leased: a process that dies holding a job gives it up after this long. Renewed every third of it. Default 30 000 (WORKER_LOCK_MS). */
  leaseMs?: number;
  /** How often an idle queue looks for jobs other processes accepted, or whose owner died. Default 500. */
  pollMs?: number;
  logger?: Logger;
}

interface Running {
  done: Promise<void>;
  /** Fires when this run must stop: the queue closes, or another process took the job over. */
  stop: AbortController;
}

/**
 * The queue used when no Redis is configured: same interface and the same
 * processors as BullMQ, run inside the process. The jobs live in a
 * {@link JobStore} (the SQLite database of DATA_DIR), which every process on
 * that DATA_DIR shares: a job accepted by one is readable by all, and each run
 * is claimed atomically by one process and leased to it (renewed while it
 * runs). A process that dies mid-run stops renewing; once the lease runs out
 * another claims the job again, counting the dead run as an attempt, like a
 * stalled BullMQ job. Ingestion is also recovered from the document store
 * (DocumentService.recoverPending); its job ids are deterministic, so the two
 * meet on one job.
 */
export class InProcessQueue implements JobQueue, JobRunner {
  readonly name = 'in-process';
  /** This process's id as the owner of the runs it claims. */
  readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly store: JobStore;
  private readonly ownsStore: boolean;
  private readonly processors = new Map<string, JobProcessor<any, any>>();
  private readonly running = new Map<string, Running>();
  private readonly closing = new AbortController();
  private timer: NodeJS.Timeout | null = null;
  private pumping: Promise<void> | null = null;
  private pumpAgain = false;
  private started = false;
  private closed = false;
  private finishedSincePrune = 0;
  private readonly concurrency: number;
  private readonly backoffMs: number;
  private readonly keepFinished: number;
  private readonly leaseMs: number;
  private readonly pollMs: number;

  constructor(private readonly opts: InProcessQueueOptions = {}) {
    this.concurrency = opts.concurrency ?? 1;
    this.backoffMs = opts.backoffMs ?? 1000;
    this.keepFinished = opts.keepFinished ?? 10_000;
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.pollMs = opts.pollMs ?? 500;
    this.ownsStore = opts.store === undefined;
    this.store = opts.store ?? new SqliteJobStore({ db: openSqlite(':memory:') });
  }

  register<TData, TResult>(name: string, processor: JobProcessor<TData, TResult>): void {
    this.processors.set(name, processor as JobProcessor<any, any>);
  }

  async start(): Promise<void> {
    if (this.closed) return;
    this.started = true;
    await this.prune();
    this.pump();
  }

  async enqueue<TData>(name: string, data: TData, opts: EnqueueOptions): Promise<JobInfo<TData>> {
    if (this.closed) throw new AppError('QUEUE_UNAVAILABLE', ['the queue is closed']);
    // Accepted means stored: a client told 202 can poll this job from any process, after a restart too.
    const { job, created } = await this.store.insert(
      { id: opts.jobId, name, data, maxAttempts: opts.attempts ?? 1 },
      Date.now(),
    );
    if (created) this.pump();
    return toInfo(job) as JobInfo<TData>;
  }

  async get(jobId: string): Promise<JobInfo | null> {
    const job = await this.store.get(jobId);
    return job ? toInfo(job) : null;
  }

  async remove(jobId: string, finishedAt: string | null): Promise<void> {
    await this.store.remove(jobId, finishedAt);
  }

  counts(): Promise<QueueCounts> {
    return this.store.counts();
  }

  async health(): Promise<void> {
    if (this.closed) throw new AppError('QUEUE_UNAVAILABLE', ['the queue is closed']);
    await this.store.health();
  }

  /** Resolves when no job this queue can run is waiting, delayed or active, in any process on the store (for tests and the CLI). */
  async drain(): Promise<void> {
    for (;;) {
      if (this.running.size === 0 && !(await this.store.busy([...this.processors.keys()]))) return;
      await Promise.race([...[...this.running.values()].map((r) => r.done), new Promise((r) => setTimeout(r, 20))]);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.closing.abort();
    await this.pumping;
    await Promise.allSettled([...this.running.values()].map((r) => r.done));
    if (this.ownsStore) await this.store.close();
  }

  /** Claims due jobs up to the concurrency, then sleeps until the next one is due or the poll interval passes. */
  private pump(): void {
    if (!this.started || this.closed) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = (async () => {
      do {
        this.pumpAgain = false;
        try {
          await this.claimDue();
        } catch (err) {
          this.opts.logger?.warn({ err }, 'could not claim jobs; trying again');
        }
      } while (this.pumpAgain && !this.closed);
      this.pumping = null;
      this.sleep();
    })();
  }

  private async claimDue(): Promise<void> {
    const names = [...this.processors.keys()];
    while (!this.closed && this.running.size < this.concurrency) {
      const job = await this.store.claim(this.owner, names, this.leaseMs, Date.now());
      if (!job) return;
      const stop = new AbortController();
      const done = this.run(job, stop).finally(() => {
        this.running.delete(job.id);
        this.pump();
      });
      this.running.set(job.id, { done, stop });
    }
  }

  private sleep(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    void this.store
      .nextDue([...this.processors.keys()])
      .catch(() => null)
      .then((at) => {
        if (this.closed) return;
        const wait = at === null ? this.pollMs : Math.max(0, Math.min(this.pollMs, at - Date.now()));
        if (this.timer) clearTimeout(this.timer);
        this.timer = setTimeout(() => {
          this.timer = null;
          this.pump();
        }, wait);
        // Waiting for work never keeps a process alive on its own.
        this.timer.unref();
      });
  }

  private async run(job: JobRecord, stop: AbortController): Promise<void> {
    const processor = this.processors.get(job.name)!;
    const log = this.opts.logger?.child({ jobId: job.id, job: job.name });
    const signal = AbortSignal.any([this.closing.signal, stop.signal]);
    let lost = false;
    const lose = () => {
      if (lost) return;
      lost = true;
      log?.warn('the job was taken over by another process (its lease ran out); stopping this run');
      stop.abort(new AppError('CANCELLED', [], { transient: true }));
    };
    const renew = setInterval(
      () => {
        this.store.renew(job.id, this.owner, this.leaseMs, Date.now()).then(
          (held) => held || lose(),
          (err: unknown) => log?.warn({ err }, 'could not renew the job lease'),
        );
      },
      Math.max(10, Math.floor(this.leaseMs / 3)),
    );
    renew.unref();
    log?.debug({ attempt: job.attempts, owner: this.owner }, 'job started');
    let lastProgress = 0;
    let outcome: RunOutcome;
    try {
      const result = await processor({
        id: job.id,
        name: job.name,
        data: job.data,
        attempt: job.attempts,
        maxAttempts: job.maxAttempts,
        signal,
        updateProgress: async (p) => {
          const progress = Math.max(0, Math.min(100, Math.round(p)));
          if (progress === lastProgress) return;
          lastProgress = progress;
          if (!(await this.store.progress(job.id, this.owner, progress))) lose();
        },
      });
      outcome = { state: 'completed', result };
    } catch (thrown) {
      const err = failureOf(thrown, signal);
      const transient = isAppError(err) ? err.transient : true;
      const error = isAppError(err)
        ? { code: err.code, message: err.message }
        : { code: 'INGEST_FAILED', message: err instanceof Error ? err.message : String(err) };
      if (transient && job.attempts < job.maxAttempts) {
        const delay = this.backoffMs * 2 ** (job.attempts - 1);
        // Stopped by close(): the retry waits in the store for the next process, as BullMQ's waits in Redis.
        log?.warn({ err, delay }, this.closed ? 'job stopped by shutdown, retrying later' : 'job failed, retrying');
        outcome = { state: 'delayed', runAt: Date.now() + delay, error };
      } else {
        log?.error({ err }, 'job failed');
        outcome = { state: 'failed', error };
      }
    } finally {
      clearInterval(renew);
    }
    try {
      // Logged once recorded: a run whose lease another process took over (this one stalled past it) is not.
      if (await this.store.finish(job.id, this.owner, outcome, Date.now())) {
        if (outcome.state === 'completed') log?.info('job completed');
      } else {
        log?.warn({ outcome: outcome.state }, 'another process holds this job now; this run is not recorded');
      }
    } catch (err) {
      // The run stays active in the store; its lease runs out and the job runs again, counting this run.
      log?.error({ err }, 'could not record how the job ended');
    }
    if (++this.finishedSincePrune >= 100) await this.prune();
  }

  private async prune(): Promise<void> {
    this.finishedSincePrune = 0;
    try {
      await this.store.prune(this.keepFinished);
    } catch (err) {
      this.opts.logger?.warn({ err }, 'could not prune finished jobs');
    }
  }
}

/** What callers see of a job: the store's bookkeeping (owner, lease, due time) stays inside. */
function toInfo(j: JobRecord): JobInfo {
  return {
    id: j.id,
    name: j.name,
    state: j.state,
    progress: j.progress,
    attempts: j.attempts,
    data: j.data,
    result: j.result,
    error: j.error,
    createdAt: j.createdAt,
    finishedAt: j.finishedAt,
  };
}
