import type { Logger } from 'pino';
import type { EnqueueOptions, JobInfo, JobProcessor, JobQueue, JobRunner } from '../../ports/job-queue.js';
import { AppError, isAppError } from '../../errors.js';

interface Entry {
  info: JobInfo;
  maxAttempts: number;
}

export interface InProcessQueueOptions {
  /** Jobs run at once. Default 1. */
  concurrency?: number;
  /** Base of the exponential retry backoff in ms. Default 1000. */
  backoffMs?: number;
  /** Finished jobs kept for `get` (oldest dropped first). Default 10 000. */
  keepFinished?: number;
  logger?: Logger;
}

/**
 * The queue used when no Redis is configured: same interface and the same
 * processors as BullMQ, run inside the API process. Jobs live in memory; the
 * durable state is the document store, from which pending work is recovered
 * at start (see DocumentService.recoverPending).
 */
export class InProcessQueue implements JobQueue, JobRunner {
  readonly name = 'in-process';
  private readonly jobs = new Map<string, Entry>();
  private readonly waiting: string[] = [];
  private readonly processors = new Map<string, JobProcessor<any, any>>();
  private readonly active = new Map<string, Promise<void>>();
  private readonly abort = new AbortController();
  private readonly timers = new Set<NodeJS.Timeout>();
  private started = false;
  private closed = false;
  private readonly concurrency: number;
  private readonly backoffMs: number;
  private readonly keepFinished: number;

  constructor(private readonly opts: InProcessQueueOptions = {}) {
    this.concurrency = opts.concurrency ?? 1;
    this.backoffMs = opts.backoffMs ?? 1000;
    this.keepFinished = opts.keepFinished ?? 10_000;
  }

  register<TData, TResult>(name: string, processor: JobProcessor<TData, TResult>): void {
    this.processors.set(name, processor as JobProcessor<any, any>);
  }

  async start(): Promise<void> {
    this.started = true;
    this.pump();
  }

  async enqueue<TData>(name: string, data: TData, opts: EnqueueOptions): Promise<JobInfo<TData>> {
    if (this.closed) throw new AppError('QUEUE_UNAVAILABLE', ['the queue is closed']);
    const existing = this.jobs.get(opts.jobId);
    if (existing) return structuredClone(existing.info) as JobInfo<TData>;
    const info: JobInfo = {
      id: opts.jobId,
      name,
      state: 'waiting',
      progress: 0,
      attempts: 0,
      data,
      result: null,
      error: null,
      createdAt: new Date().toISOString(),
      finishedAt: null,
    };
    this.jobs.set(opts.jobId, { info, maxAttempts: opts.attempts ?? 1 });
    this.waiting.push(opts.jobId);
    this.pump();
    return structuredClone(info) as JobInfo<TData>;
  }

  async get(jobId: string): Promise<JobInfo | null> {
    const e = this.jobs.get(jobId);
    return e ? structuredClone(e.info) : null;
  }

  async remove(jobId: string): Promise<void> {
    const e = this.jobs.get(jobId);
    if (e && (e.info.state === 'completed' || e.info.state === 'failed')) this.jobs.delete(jobId);
  }

  async health(): Promise<void> {
    if (this.closed) throw new AppError('QUEUE_UNAVAILABLE', ['the queue is closed']);
  }

  /** Resolves when no job is waiting, delayed or active (for tests and the CLI). */
  async drain(): Promise<void> {
    for (;;) {
      const busy = [...this.jobs.values()].some((e) => e.info.state !== 'completed' && e.info.state !== 'failed');
      if (!busy) return;
      await Promise.race([...this.active.values(), new Promise((r) => setTimeout(r, 20))]);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.abort.abort();
    await Promise.allSettled([...this.active.values()]);
  }

  private pump(): void {
    if (!this.started || this.closed) return;
    while (this.active.size < this.concurrency && this.waiting.length > 0) {
      const id = this.waiting.shift()!;
      const run = this.run(id).finally(() => {
        this.active.delete(id);
        this.pump();
      });
      this.active.set(id, run);
    }
  }

  private async run(id: string): Promise<void> {
    const entry = this.jobs.get(id);
    if (!entry) return;
    const { info } = entry;
    const processor = this.processors.get(info.name);
    info.state = 'active';
    info.attempts += 1;
    const log = this.opts.logger?.child({ jobId: id, job: info.name });
    try {
      if (!processor) throw new AppError('INTERNAL', [], { details: { reason: `no processor for ${info.name}` } });
      info.result = await processor({
        id,
        name: info.name,
        data: info.data,
        attempt: info.attempts,
        maxAttempts: entry.maxAttempts,
        signal: this.abort.signal,
        updateProgress: async (p) => {
          info.progress = Math.max(0, Math.min(100, Math.round(p)));
        },
      });
      info.state = 'completed';
      info.progress = 100;
      info.finishedAt = new Date().toISOString();
      log?.info('job completed');
    } catch (err) {
      const transient = isAppError(err) ? err.transient : true;
      if (!this.closed && transient && info.attempts < entry.maxAttempts) {
        info.state = 'delayed';
        const delay = this.backoffMs * 2 ** (info.attempts - 1);
        log?.warn({ err, delay }, 'job failed, retrying');
        const t = setTimeout(() => {
          this.timers.delete(t);
          info.state = 'waiting';
          this.waiting.push(id);
          this.pump();
        }, delay);
        this.timers.add(t);
        return;
      }
      info.state = 'failed';
      info.error = isAppError(err)
        ? { code: err.code, message: err.message }
        : { code: 'INGEST_FAILED', message: err instanceof Error ? err.message : String(err) };
      info.finishedAt = new Date().toISOString();
      log?.error({ err }, 'job failed');
    } finally {
      this.evict();
    }
  }

  private evict(): void {
    if (this.jobs.size <= this.keepFinished) return;
    for (const [id, e] of this.jobs) {
      if (this.jobs.size <= this.keepFinished) break;
      if (e.info.state === 'completed' || e.info.state === 'failed') this.jobs.delete(id);
    }
  }
}
