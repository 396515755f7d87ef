export type JobState = 'waiting' | 'active' | 'completed' | 'failed' | 'delayed';

export interface JobInfo<TData = unknown, TResult = unknown> {
  id: string;
  name: string;
  state: JobState;
  /** 0–100 */
  progress: number;
  attempts: number;
  data: TData;
  result: TResult | null;
  error: { code: string; message: string } | null;
  createdAt: string;
  finishedAt: string | null;
}

/** What a processor gets for one run of a job. */
export interface JobContext<TData> {
  id: string;
  name: string;
  data: TData;
  /** 1 on the first run. */
  attempt: number;
  /** Most runs this job gets; when attempt === maxAttempts a failure is final. */
  maxAttempts: number;
  updateProgress(progress: number): Promise<void>;
  /**
   * Fires when the runner stops the job (shutdown). Whatever the processor
   * then throws, the runner records a transient CANCELLED (adapters/job-queue/
   * stopped.ts), so the job runs again; a processor need not translate it.
   */
  signal: AbortSignal;
}

export type JobProcessor<TData = unknown, TResult = unknown> = (job: JobContext<TData>) => Promise<TResult>;

export interface EnqueueOptions {
  /** Deterministic id: enqueueing an id that exists already is a no-op returning that job. */
  jobId: string;
  attempts?: number;
}

export interface JobQueue {
  readonly name: string;
  enqueue<TData>(name: string, data: TData, opts: EnqueueOptions): Promise<JobInfo<TData>>;
  get(jobId: string): Promise<JobInfo | null>;
  /**
   * Removes a finished job so the same id can run again: the run that finished at `finishedAt` (the job's, as the
   * caller read it), and no other. A job that ran again since (another caller cleared the run it saw first) stays,
   * or two callers acting on one finished run would each start the job anew.
   */
  remove(jobId: string, finishedAt: string | null): Promise<void>;
  /** Jobs not finished yet, by state: the queue's depth. */
  counts(): Promise<QueueCounts>;
  health(): Promise<void>;
  close(): Promise<void>;
}

export type QueueCounts = Record<'waiting' | 'active' | 'delayed', number>;

/** Runs processors for jobs of a queue (in this process or in a worker process). */
export interface JobRunner {
  register<TData, TResult>(name: string, processor: JobProcessor<TData, TResult>): void;
  start(): Promise<void>;
  /** Stops taking jobs, waits for active ones up to the deadline. Idempotent. */
  close(): Promise<void>;
}
