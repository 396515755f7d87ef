import type { JobState } from '../ports/job-queue.js';
import type { JobRecord } from '../ports/job-store.js';

/** A job as the SQL job stores keep it (SQLite, PostgreSQL): one row, the JSON fields as text. */
export interface JobRow {
  id: string;
  name: string;
  data: string;
  state: JobState;
  attempts: number;
  max_attempts: number;
  progress: number;
  result: string | null;
  error: string | null;
  created_at: string;
  finished_at: string | null;
  /** Epoch ms: a number from SQLite, a string from PostgreSQL's bigint. */
  run_at: number | string;
  lease_until: number | string | null;
  owner: string | null;
}

export const JOB_COLUMNS =
  'id, name, data, state, attempts, max_attempts, progress, result, error, created_at, finished_at, run_at, owner, lease_until';

export function jobFromRow(r: JobRow): JobRecord {
  return {
    id: r.id,
    name: r.name,
    state: r.state,
    progress: r.progress,
    attempts: r.attempts,
    data: JSON.parse(r.data),
    result: r.result === null ? null : JSON.parse(r.result),
    error: r.error === null ? null : JSON.parse(r.error),
    createdAt: r.created_at,
    finishedAt: r.finished_at,
    maxAttempts: r.max_attempts,
    runAt: Number(r.run_at),
    owner: r.owner,
    leaseUntil: r.lease_until === null ? null : Number(r.lease_until),
  };
}

/** The columns a restored job is written with (no run: an active run is never restored), in the order of {@link restoreParams}. */
export const RESTORE_COLUMNS =
  'id, name, data, state, attempts, max_attempts, progress, result, error, created_at, finished_at, run_at';

/** The values of RESTORE_COLUMNS for a job: the row {@link jobFromRow} reads back. */
export function restoreParams(job: JobRecord): Array<string | number | null> {
  return [
    job.id,
    job.name,
    JSON.stringify(job.data ?? null),
    job.state,
    job.attempts,
    job.maxAttempts,
    job.progress,
    job.result === null ? null : JSON.stringify(job.result),
    job.error === null ? null : JSON.stringify(job.error),
    job.createdAt,
    job.finishedAt,
    job.runAt,
  ];
}
