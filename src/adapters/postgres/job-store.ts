import type { QueryResult } from 'pg';
import { AppError } from '../../errors.js';
import type { QueueCounts } from '../../ports/job-queue.js';
import type { JobRecord, JobStore, NewJob, RunOutcome } from '../../ports/job-store.js';
import type { PgDatabase } from './database.js';
import { JOB_COLUMNS, type JobRow, jobFromRow, RESTORE_COLUMNS, restoreParams } from '../job-row.js';

/**
 * The in-process queue's jobs in PostgreSQL (table `jobs`, migration 004),
 * shared by every API process of a deployment without Redis. A claim is one
 * transaction that locks the due row it takes (FOR UPDATE SKIP LOCKED), so two
 * processes never take the same run and never wait for each other; every later
 * write of a run checks its owner, so a run whose lease was taken over cannot
 * overwrite the new owner's record.
 */
export class PostgresJobStore implements JobStore {
  readonly #db: PgDatabase;

  constructor(opts: { db: PgDatabase }) {
    this.#db = opts.db;
  }

  async insert<TData>(job: NewJob<TData>, now: number): Promise<{ job: JobRecord<TData>; created: boolean }> {
    const { rows } = await this.#db.query<JobRow>(
      'jobs.insert',
      `INSERT INTO jobs (id, name, data, state, attempts, max_attempts, progress, created_at, run_at)
       VALUES ($1, $2, $3, 'waiting', 0, $4, 0, $5, $6) ON CONFLICT (id) DO NOTHING RETURNING ${JOB_COLUMNS}`,
      [job.id, job.name, JSON.stringify(job.data ?? null), job.maxAttempts, new Date(now).toISOString(), now],
    );
    if (rows[0]) return { job: jobFromRow(rows[0]) as JobRecord<TData>, created: true };
    const existing = await this.get(job.id);
    // Removed between the two statements: insert again rather than report a job that is not there.
    if (!existing) return this.insert(job, now);
    return { job: existing as JobRecord<TData>, created: false };
  }

  async restore(job: JobRecord): Promise<boolean> {
    if (job.state === 'active')
      throw new AppError('INTERNAL', [], { cause: new Error(`restore(${job.id}): an active run cannot be restored`) });
    const { rowCount } = await this.#db.query(
      'jobs.restore',
      `INSERT INTO jobs (${RESTORE_COLUMNS})
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO NOTHING`,
      restoreParams(job),
    );
    return (rowCount ?? 0) > 0;
  }

  async get(id: string): Promise<JobRecord | null> {
    const { rows } = await this.#db.query<JobRow>('jobs.get', `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1`, [id]);
    return rows[0] ? jobFromRow(rows[0]) : null;
  }

  async claim(owner: string, names: readonly string[], leaseMs: number, now: number): Promise<JobRecord | null> {
    if (names.length === 0) return null;
    return this.#db.transaction('jobs.claim', async (c) => {
      // A run whose owner stopped renewing and that had no attempts left: failed, as a stalled BullMQ job is.
      await c.query(
        `UPDATE jobs SET state = 'failed', owner = NULL, lease_until = NULL, progress = 0, finished_at = $1,
           error = json_build_object('code', 'CANCELLED', 'message',
             'The process running this job stopped during its last attempt (' || attempts || ' of ' || max_attempts || ')')::text
         WHERE state = 'active' AND lease_until <= $2 AND attempts >= max_attempts AND name = ANY($3::text[])`,
        [new Date(now).toISOString(), now, names],
      );
      const { rows } = await c.query<JobRow>(
        `WITH due AS (
           SELECT seq FROM jobs
           WHERE name = ANY($1::text[]) AND ((state IN ('waiting', 'delayed') AND run_at <= $2) OR (state = 'active' AND lease_until <= $2))
           ORDER BY run_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED
         )
         UPDATE jobs j SET state = 'active', owner = $3, lease_until = $4, attempts = attempts + 1, progress = 0
         FROM due WHERE j.seq = due.seq RETURNING ${JOB_COLUMNS.split(', ')
           .map((c) => `j.${c}`)
           .join(', ')}`,
        [names, now, owner, now + leaseMs],
      );
      return rows[0] ? jobFromRow(rows[0]) : null;
    });
  }

  async renew(id: string, owner: string, leaseMs: number, now: number): Promise<boolean> {
    const { rowCount } = await this.#db.query(
      'jobs.renew',
      `UPDATE jobs SET lease_until = $1 WHERE id = $2 AND owner = $3 AND state = 'active'`,
      [now + leaseMs, id, owner],
    );
    return (rowCount ?? 0) > 0;
  }

  async progress(id: string, owner: string, progress: number): Promise<boolean> {
    const { rowCount } = await this.#db.query(
      'jobs.progress',
      `UPDATE jobs SET progress = $1 WHERE id = $2 AND owner = $3 AND state = 'active'`,
      [progress, id, owner],
    );
    return (rowCount ?? 0) > 0;
  }

  async finish(id: string, owner: string, outcome: RunOutcome, now: number): Promise<boolean> {
    const at = new Date(now).toISOString();
    let res: QueryResult;
    switch (outcome.state) {
      case 'completed':
        res = await this.#db.query(
          'jobs.finish',
          `UPDATE jobs SET state = 'completed', result = $1, error = NULL, progress = 100, finished_at = $2, owner = NULL, lease_until = NULL
           WHERE id = $3 AND owner = $4 AND state = 'active'`,
          [JSON.stringify(outcome.result ?? null), at, id, owner],
        );
        break;
      case 'failed':
        res = await this.#db.query(
          'jobs.finish',
          `UPDATE jobs SET state = 'failed', error = $1, finished_at = $2, owner = NULL, lease_until = NULL WHERE id = $3 AND owner = $4 AND state = 'active'`,
          [JSON.stringify(outcome.error), at, id, owner],
        );
        break;
      case 'delayed':
        res = await this.#db.query(
          'jobs.finish',
          `UPDATE jobs SET state = 'delayed', error = $1, run_at = $2, progress = 0, owner = NULL, lease_until = NULL WHERE id = $3 AND owner = $4 AND state = 'active'`,
          [JSON.stringify(outcome.error), outcome.runAt, id, owner],
        );
        break;
    }
    return (res.rowCount ?? 0) > 0;
  }

  async remove(id: string, finishedAt: string | null): Promise<boolean> {
    const { rowCount } = await this.#db.query(
      'jobs.remove',
      `DELETE FROM jobs WHERE id = $1 AND state IN ('completed', 'failed') AND finished_at IS NOT DISTINCT FROM $2`,
      [id, finishedAt],
    );
    return (rowCount ?? 0) > 0;
  }

  async prune(keep: number): Promise<number> {
    const { rowCount } = await this.#db.query(
      'jobs.prune',
      `DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs WHERE finished_at IS NOT NULL ORDER BY finished_at DESC, seq DESC OFFSET $1)`,
      [Math.max(0, Math.floor(keep))],
    );
    return rowCount ?? 0;
  }

  async counts(): Promise<QueueCounts> {
    const { rows } = await this.#db.query<{ state: string; n: number }>(
      'jobs.counts',
      `SELECT state, count(*)::int AS n FROM jobs WHERE state IN ('waiting', 'delayed', 'active') GROUP BY state`,
      [],
    );
    const n: QueueCounts = { waiting: 0, active: 0, delayed: 0 };
    for (const row of rows) n[row.state as keyof QueueCounts] = row.n;
    return n;
  }

  async busy(names: readonly string[]): Promise<boolean> {
    const { rows } = await this.#db.query(
      'jobs.busy',
      `SELECT 1 FROM jobs WHERE state IN ('waiting', 'delayed', 'active') AND name = ANY($1::text[]) LIMIT 1`,
      [names],
    );
    return rows.length > 0;
  }

  async nextDue(names: readonly string[]): Promise<number | null> {
    const { rows } = await this.#db.query<{ at: string | null }>(
      'jobs.nextDue',
      `SELECT min(CASE WHEN state = 'active' THEN lease_until ELSE run_at END) AS at FROM jobs
       WHERE state IN ('waiting', 'delayed', 'active') AND name = ANY($1::text[])`,
      [names],
    );
    const at = rows[0]?.at;
    return at == null ? null : Number(at);
  }

  async health(): Promise<void> {
    await this.#db.health();
  }

  async close(): Promise<void> {
    // The pool belongs to the container, which closes it after every adapter.
  }
}
