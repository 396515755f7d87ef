import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { EnqueueOptions, JobInfo, JobProcessor, JobQueue, JobRunner, JobState } from '../../ports/job-queue.js';
import { AppError, isAppError } from '../../errors.js';
import { KeyedMutex, removeStrayTemps, writeFileAtomic } from '../../core/fs-atomic.js';
import { failureOf } from './stopped.js';

interface Entry {
  info: JobInfo;
  maxAttempts: number;
  /** When a delayed job runs again (epoch ms); null unless delayed. */
  retryAt: number | null;
}

/** One job's file in the persistence directory. */
type StoredJob = Entry & { v: 1 };

const STATES: ReadonlySet<JobState> = new Set(['waiting', 'active', 'completed', 'failed', 'delayed']);
const isFinished = (state: JobState) => state === 'completed' || state === 'failed';

export interface InProcessQueueOptions {
  /** Jobs run at once. Default 1. */
  concurrency?: number;
  /** Base of the exponential retry backoff in ms. Default 1000. */
  backoffMs?: number;
  /** Finished jobs kept for `get` (oldest dropped first). Default 10 000. */
  keepFinished?: number;
  /**
   * Directory where every job is kept as a file, so jobs survive a restart:
   * waiting, delayed and interrupted ones run again, finished ones stay
   * readable. One process may use a directory at a time. Default: none
   * (jobs live in memory only).
   */
  dir?: string;
  logger?: Logger;
}

/**
 * The queue used when no Redis is configured: same interface and the same
 * processors as BullMQ, run inside the API process. Jobs live in memory and,
 * given a `dir`, in one file each, written atomically at enqueue and at every
 * change of state (not at progress updates: a job that runs again starts its
 * progress afresh, and two fsyncs per progress tick would slow the job for
 * nothing). At start the files are loaded: a job found active was cut short by
 * a killed process and counts as an attempt, like a stalled BullMQ job.
 * Ingestion is also recovered from the document store (see
 * DocumentService.recoverPending); ingestion job ids are deterministic, so the
 * two meet on one job.
 */
export class InProcessQueue implements JobQueue, JobRunner {
  readonly name = 'in-process';
  private readonly jobs = new Map<string, Entry>();
  private readonly waiting: string[] = [];
  private readonly processors = new Map<string, JobProcessor<any, any>>();
  private readonly active = new Map<string, Promise<void>>();
  private readonly abort = new AbortController();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly writes = new KeyedMutex();
  private readonly pendingWrites = new Set<Promise<void>>();
  private loading: Promise<void> | null = null;
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
    await this.load();
    this.started = true;
    this.pump();
  }

  async enqueue<TData>(name: string, data: TData, opts: EnqueueOptions): Promise<JobInfo<TData>> {
    if (this.closed) throw new AppError('QUEUE_UNAVAILABLE', ['the queue is closed']);
    await this.load();
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
    const entry: Entry = { info, maxAttempts: opts.attempts ?? 1, retryAt: null };
    this.jobs.set(opts.jobId, entry);
    try {
      // Accepted means on disk: a client told 202 can poll this job after a restart.
      await this.persist(opts.jobId);
    } catch (err) {
      if (this.jobs.get(opts.jobId) === entry) this.jobs.delete(opts.jobId);
      throw new AppError('QUEUE_UNAVAILABLE', ['the job could not be saved'], { cause: err });
    }
    this.waiting.push(opts.jobId);
    this.pump();
    return structuredClone(info) as JobInfo<TData>;
  }

  async get(jobId: string): Promise<JobInfo | null> {
    await this.load();
    const e = this.jobs.get(jobId);
    return e ? structuredClone(e.info) : null;
  }

  async remove(jobId: string): Promise<void> {
    await this.load();
    const e = this.jobs.get(jobId);
    if (e && isFinished(e.info.state)) {
      this.jobs.delete(jobId);
      await this.persist(jobId);
    }
  }

  async health(): Promise<void> {
    if (this.closed) throw new AppError('QUEUE_UNAVAILABLE', ['the queue is closed']);
  }

  /** Resolves when no job is waiting, delayed or active (for tests and the CLI). */
  async drain(): Promise<void> {
    for (;;) {
      const busy = [...this.jobs.values()].some((e) => !isFinished(e.info.state));
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
    await Promise.allSettled([...this.pendingWrites]);
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
    entry.retryAt = null;
    const log = this.opts.logger?.child({ jobId: id, job: info.name });
    // The attempt is counted on disk before it runs: a process killed during it must not get it for free.
    await this.persistLogged(id, log);
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
    } catch (thrown) {
      const err = failureOf(thrown, this.abort.signal);
      const transient = isAppError(err) ? err.transient : true;
      // Stopped by close(): with a directory the retry waits on disk for the next start, as BullMQ's waits in Redis.
      if ((!this.closed || this.opts.dir) && transient && info.attempts < entry.maxAttempts) {
        info.state = 'delayed';
        const delay = this.backoffMs * 2 ** (info.attempts - 1);
        entry.retryAt = Date.now() + delay;
        log?.warn({ err, delay }, this.closed ? 'job stopped by shutdown, retrying at next start' : 'job failed, retrying');
        this.schedule(id, delay);
        await this.persistLogged(id, log);
        return;
      }
      info.state = 'failed';
      info.error = isAppError(err)
        ? { code: err.code, message: err.message }
        : { code: 'INGEST_FAILED', message: err instanceof Error ? err.message : String(err) };
      info.finishedAt = new Date().toISOString();
      log?.error({ err }, 'job failed');
    } finally {
      if (isFinished(info.state)) await this.persistLogged(id, log);
      this.evict();
    }
  }

  private schedule(id: string, delayMs: number): void {
    if (this.closed) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      const e = this.jobs.get(id);
      if (!e || e.info.state !== 'delayed') return;
      e.info.state = 'waiting';
      e.retryAt = null;
      void this.persistLogged(id);
      this.waiting.push(id);
      this.pump();
    }, Math.max(0, delayMs));
    this.timers.add(t);
  }

  private evict(): void {
    if (this.jobs.size <= this.keepFinished) return;
    for (const [id, e] of this.jobs) {
      if (this.jobs.size <= this.keepFinished) break;
      if (isFinished(e.info.state)) {
        this.jobs.delete(id);
        void this.persistLogged(id);
      }
    }
  }

  /** The file of a job: a hash of its id, so any id makes a short, safe name. */
  private fileOf(id: string): string {
    return join(this.opts.dir!, `${createHash('sha256').update(id).digest('hex').slice(0, 40)}.json`);
  }

  /**
   * Makes a job's file match memory: its record, or no file once the job is
   * gone. Writes of one job are serialised, and each writes the state current
   * when it runs, so the file never goes back to an older state.
   */
  private persist(id: string): Promise<void> {
    if (!this.opts.dir) return Promise.resolve();
    const p = this.writes.run(id, async () => {
      const e = this.jobs.get(id);
      if (!e) {
        await rm(this.fileOf(id), { force: true });
        return;
      }
      const stored: StoredJob = { v: 1, ...e };
      await writeFileAtomic(this.fileOf(id), JSON.stringify(stored));
    });
    this.pendingWrites.add(p);
    void p.then(
      () => this.pendingWrites.delete(p),
      () => this.pendingWrites.delete(p),
    );
    return p;
  }

  /** persist() for a job already accepted: a failed write is logged; the job goes on in memory. */
  private async persistLogged(id: string, log: Logger | undefined = this.opts.logger): Promise<void> {
    try {
      await this.persist(id);
    } catch (err) {
      log?.warn({ err, jobId: id }, 'could not save the job state');
    }
  }

  private load(): Promise<void> {
    this.loading ??= this.loadDir();
    return this.loading;
  }

  /** Reads the jobs a previous process left in `dir`; unreadable files are skipped with a warning. */
  private async loadDir(): Promise<void> {
    const dir = this.opts.dir;
    if (!dir) return;
    const log = this.opts.logger;
    await mkdir(dir, { recursive: true });
    await removeStrayTemps(dir);
    const found: Entry[] = [];
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.json')) continue;
      const path = join(dir, name);
      try {
        const stored = parseStored(await readFile(path, 'utf8'));
        if (!stored) throw new Error('not a job record');
        if (this.fileOf(stored.info.id) !== path) throw new Error(`the file name does not match job id ${stored.info.id}`);
        found.push({ info: stored.info, maxAttempts: stored.maxAttempts, retryAt: stored.retryAt });
      } catch (err) {
        log?.warn({ err, file: path }, 'skipping an unreadable job file');
      }
    }
    // Oldest first: the order they were enqueued in, which is also the order evict() drops finished ones.
    found.sort((a, b) => a.info.createdAt.localeCompare(b.info.createdAt) || a.info.id.localeCompare(b.info.id));
    const changed: string[] = [];
    for (const e of found) {
      const { info } = e;
      if (this.jobs.has(info.id)) continue;
      this.jobs.set(info.id, e);
      if (info.state === 'active') {
        // Cut short by a killed process: that run was an attempt.
        info.progress = 0;
        changed.push(info.id);
        if (info.attempts < e.maxAttempts) {
          info.state = 'waiting';
        } else {
          info.state = 'failed';
          info.error = { code: 'CANCELLED', message: `The process running this job stopped during its last attempt (${info.attempts} of ${e.maxAttempts})` };
          info.finishedAt = new Date().toISOString();
          continue;
        }
      }
      if (info.state === 'waiting') this.waiting.push(info.id);
      else if (info.state === 'delayed') this.schedule(info.id, (e.retryAt ?? 0) - Date.now());
    }
    const interrupted = changed.length;
    for (const id of changed) await this.persistLogged(id);
    this.evict();
    if (found.length > 0) log?.info({ jobs: found.length, requeued: this.waiting.length, interrupted }, 'loaded saved jobs');
  }
}

function parseStored(text: string): StoredJob | null {
  const s = JSON.parse(text) as Partial<StoredJob> | null;
  const i = s?.info as Partial<JobInfo> | undefined;
  if (!s || s.v !== 1 || !i || typeof i !== 'object') return null;
  const ok =
    typeof i.id === 'string' &&
    typeof i.name === 'string' &&
    typeof i.state === 'string' &&
    STATES.has(i.state) &&
    typeof i.attempts === 'number' &&
    typeof i.progress === 'number' &&
    typeof i.createdAt === 'string' &&
    'data' in i &&
    typeof s.maxAttempts === 'number' &&
    (s.retryAt === null || typeof s.retryAt === 'number');
  if (!ok) return null;
  const info: JobInfo = {
    id: i.id!,
    name: i.name!,
    state: i.state!,
    progress: i.progress!,
    attempts: i.attempts!,
    data: i.data,
    result: i.result ?? null,
    error: i.error ?? null,
    createdAt: i.createdAt!,
    finishedAt: i.finishedAt ?? null,
  };
  return { v: 1, info, maxAttempts: s.maxAttempts!, retryAt: s.retryAt ?? null };
}
