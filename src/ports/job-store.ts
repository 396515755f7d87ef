import type { JobInfo, QueueCounts } from './job-queue.js';

/**
 * A job as its store keeps it: what GET /v1/jobs/:id shows, and who runs it.
 *
 * A run is owned by one process (`owner`, a random id per process) until
 * `leaseUntil`; the owner renews the lease while the run lasts. An owner that
 * dies stops renewing: once the lease has run out another process claims the
 * job again, and the dead run counts as an attempt (like a stalled BullMQ job).
 */
export interface JobRecord<TData = unknown, TResult = unknown> extends JobInfo<TData, TResult> {
  /** Most runs the job gets; a failure of run `maxAttempts` is final. */
  maxAttempts: number;
  /** When a waiting or delayed job is due (epoch ms). */
  runAt: number;
  /** Process that holds the current run; null unless active. */
  owner: string | null;
  /** When that run's lease ends (epoch ms); null unless active. */
  leaseUntil: number | null;
}

export interface NewJob<TData = unknown> {
  id: string;
  name: string;
  data: TData;
  maxAttempts: number;
}

/** How a run ended, as its owner records it. */
export type RunOutcome =
  | { state: 'completed'; result: unknown }
  | { state: 'failed'; error: { code: string; message: string } }
  /** Runs again at `runAt` (epoch ms): a transient failure with attempts left, or a run stopped by a shutdown. */
  | { state: 'delayed'; runAt: number; error: { code: string; message: string } };

/**
 * The durable records of the in-process queue's jobs, shared by every process
 * on the same store (the API, the ingest CLI, a second API started by
 * mistake): a job accepted by one is read by all, and each run of a job
 * belongs to exactly one of them. Times are epoch ms from the caller, so a
 * suite can move the clock.
 */
export interface JobStore {
  /** Stores a waiting job due now, unless a job with this id exists: then returns that one, unchanged. */
  insert<TData>(job: NewJob<TData>, now: number): Promise<{ job: JobRecord<TData>; created: boolean }>;
  /**
   * Stores a job exactly as given (state, attempts, result, times), unless a
   * job with its id exists; true when stored. For importing the jobs of an
   * earlier release, whose runs are over: an active record is refused.
   */
  restore(job: JobRecord): Promise<boolean>;
  get(id: string): Promise<JobRecord | null>;
  /**
   * Atomically takes one due job of the given names for `owner`: the oldest
   * waiting or delayed job whose `runAt` has come, or an active one whose lease
   * ran out (its dead run counted; one that had no attempts left is failed
   * with CANCELLED instead). The claimed job is active, its attempts one more,
   * its progress 0, leased until `now + leaseMs`. Null when none is due.
   * Two owners never get the same run.
   */
  claim(owner: string, names: readonly string[], leaseMs: number, now: number): Promise<JobRecord | null>;
  /** Extends the lease of a run; false when `owner` no longer holds it (its lease ran out and another took the job). */
  renew(id: string, owner: string, leaseMs: number, now: number): Promise<boolean>;
  /** Records progress (0–100) of a run `owner` holds; false when it no longer does. */
  progress(id: string, owner: string, progress: number): Promise<boolean>;
  /** Ends a run `owner` holds with its outcome; false (and nothing written) when it no longer holds it. */
  finish(id: string, owner: string, outcome: RunOutcome, now: number): Promise<boolean>;
  /**
   * Removes a finished job so its id can run again, if it is still the run that finished at `finishedAt`; false when
   * it is missing, not finished, or another run (see JobQueue.remove).
   */
  remove(id: string, finishedAt: string | null): Promise<boolean>;
  /** Removes the oldest finished jobs beyond the newest `keep`. Returns how many went. */
  prune(keep: number): Promise<number>;
  /** Whether any job of the given names is waiting, delayed or active. */
  busy(names: readonly string[]): Promise<boolean>;
  /** Jobs of any name not finished yet, by state. */
  counts(): Promise<QueueCounts>;
  /** The earliest `runAt` of waiting or delayed jobs of the given names, or the earliest lease end of active ones; null when there is none. */
  nextDue(names: readonly string[]): Promise<number | null>;
  health(): Promise<void>;
  close(): Promise<void>;
}
