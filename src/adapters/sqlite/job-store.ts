import type Database from 'better-sqlite3';
import { AppError } from '../../errors.js';
import type { QueueCounts } from '../../ports/job-queue.js';
import type { JobRecord, JobStore, NewJob, RunOutcome } from '../../ports/job-store.js';
import { sqlite } from './errors.js';
import { ownBytes, SqliteWriteThread, WRITE_SQL, WRITE_THREAD_MIN_CHARS } from './write-thread.js';
import { JOB_COLUMNS, type JobRow, jobFromRow, RESTORE_COLUMNS, restoreParams } from '../job-row.js';

/** Job names are passed as one JSON array parameter, so one prepared statement serves any set of names. */
const NAMED = 'name IN (SELECT value FROM json_each(?))';

/**
 * The in-process queue's jobs in the process's SQLite database (table `jobs`,
 * migration 001-catalogue), shared by every process on the file. A claim is
 * one IMMEDIATE transaction (the write lock taken before the job is picked),
 * so two processes never take the same run; the run's owner is checked on
 * every later write, so a run whose lease was taken over cannot overwrite the
 * new owner's record. A large result is recorded on a worker thread
 * (SqliteWriteThread). The database is the container's; close() leaves it
 * open and stops the thread.
 */
export class SqliteJobStore implements JobStore {
  readonly #get: Database.Statement<[string], JobRow>;
  readonly #removeFinished: Database.Statement<[string, string | null]>;
  readonly #prune: Database.Statement<[number]>;
  readonly #busy: Database.Statement<[string], { one: number }>;
  readonly #nextDue: Database.Statement<[string], { at: number | null }>;
  readonly #counts: Database.Statement<[], { state: string; n: number }>;
  readonly #renew: Database.Statement<[number, string, string]>;
  readonly #progress: Database.Statement<[number, string, string]>;
  readonly #restore: Database.Statement<unknown[]>;
  readonly #insert: (job: NewJob, now: number) => { job: JobRecord; created: boolean };
  readonly #claim: (owner: string, names: string, leaseMs: number, now: number) => JobRecord | null;
  readonly #finish: (id: string, owner: string, outcome: RunOutcome, now: number) => boolean;
  readonly #thread: SqliteWriteThread | null;
  readonly #threadMinChars: number;

  /**
   * @param opts.writeThread record a large result on a worker thread (default true; not for a database in
   *   memory, which no thread can open).
   * @param opts.writeThreadMinChars results of this many characters of JSON or more are large (default WRITE_THREAD_MIN_CHARS).
   */
  constructor(opts: { db: Database.Database; writeThread?: boolean; writeThreadMinChars?: number }) {
    const db = opts.db;
    this.#thread = db.memory || opts.writeThread === false ? null : new SqliteWriteThread(db.name);
    this.#threadMinChars = opts.writeThreadMinChars ?? WRITE_THREAD_MIN_CHARS;
    this.#get = db.prepare(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`);
    this.#removeFinished = db.prepare(
      `DELETE FROM jobs WHERE id = ? AND state IN ('completed', 'failed') AND finished_at IS ?`,
    );
    this.#prune = db.prepare(
      `DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs WHERE finished_at IS NOT NULL ORDER BY finished_at DESC, seq DESC LIMIT -1 OFFSET ?)`,
    );
    this.#busy = db.prepare(
      `SELECT 1 AS one FROM jobs WHERE state IN ('waiting', 'delayed', 'active') AND ${NAMED} LIMIT 1`,
    );
    this.#nextDue = db.prepare(
      `SELECT min(CASE WHEN state = 'active' THEN lease_until ELSE run_at END) AS at FROM jobs WHERE state IN ('waiting', 'delayed', 'active') AND ${NAMED}`,
    );
    this.#counts = db.prepare(
      `SELECT state, count(*) AS n FROM jobs WHERE state IN ('waiting', 'delayed', 'active') GROUP BY state`,
    );
    this.#renew = db.prepare(`UPDATE jobs SET lease_until = ? WHERE id = ? AND owner = ? AND state = 'active'`);
    this.#progress = db.prepare(`UPDATE jobs SET progress = ? WHERE id = ? AND owner = ? AND state = 'active'`);

    this.#restore = db.prepare(
      `INSERT INTO jobs (${RESTORE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
    );
    const insert = db.prepare(
      `INSERT INTO jobs (id, name, data, state, attempts, max_attempts, progress, created_at, run_at)
       VALUES (?, ?, ?, 'waiting', 0, ?, 0, ?, ?) ON CONFLICT (id) DO NOTHING`,
    );
    this.#insert = db.transaction((job: NewJob, now: number) => {
      const created =
        insert.run(
          job.id,
          job.name,
          JSON.stringify(job.data ?? null),
          job.maxAttempts,
          new Date(now).toISOString(),
          now,
        ).changes > 0;
      return { job: jobFromRow(this.#get.get(job.id)!), created };
    });

    // A run whose owner stopped renewing and that had no attempts left: failed, as a stalled BullMQ job is.
    const failStalled = db.prepare(
      `UPDATE jobs SET state = 'failed', owner = NULL, lease_until = NULL, progress = 0, finished_at = ?,
         error = json_object('code', 'CANCELLED', 'message', 'The process running this job stopped during its last attempt (' || attempts || ' of ' || max_attempts || ')')
       WHERE state = 'active' AND lease_until <= ? AND attempts >= max_attempts AND ${NAMED}`,
    );
    const pick = db.prepare<[string, number, number], { id: string }>(
      `SELECT id FROM jobs WHERE ${NAMED} AND ((state IN ('waiting', 'delayed') AND run_at <= ?) OR (state = 'active' AND lease_until <= ?))
       ORDER BY run_at, seq LIMIT 1`,
    );
    const take = db.prepare(
      `UPDATE jobs SET state = 'active', owner = ?, lease_until = ?, attempts = attempts + 1, progress = 0 WHERE id = ?`,
    );
    const claim = db.transaction((owner: string, names: string, leaseMs: number, now: number) => {
      failStalled.run(new Date(now).toISOString(), now, names);
      const due = pick.get(names, now, now);
      if (!due) return null;
      take.run(owner, now + leaseMs, due.id);
      return jobFromRow(this.#get.get(due.id)!);
    });
    this.#claim = (owner, names, leaseMs, now) => claim.immediate(owner, names, leaseMs, now);

    const complete = db.prepare(WRITE_SQL.completeJob);
    const fail = db.prepare(
      `UPDATE jobs SET state = 'failed', error = ?, finished_at = ?, owner = NULL, lease_until = NULL WHERE id = ? AND owner = ? AND state = 'active'`,
    );
    const delay = db.prepare(
      `UPDATE jobs SET state = 'delayed', error = ?, run_at = ?, progress = 0, owner = NULL, lease_until = NULL WHERE id = ? AND owner = ? AND state = 'active'`,
    );
    this.#finish = (id, owner, outcome, now) => {
      const at = new Date(now).toISOString();
      switch (outcome.state) {
        case 'completed':
          return complete.run(JSON.stringify(outcome.result ?? null), at, id, owner).changes > 0;
        case 'failed':
          return fail.run(JSON.stringify(outcome.error), at, id, owner).changes > 0;
        case 'delayed':
          return delay.run(JSON.stringify(outcome.error), outcome.runAt, id, owner).changes > 0;
      }
    };
  }

  async insert<TData>(job: NewJob<TData>, now: number): Promise<{ job: JobRecord<TData>; created: boolean }> {
    return sqlite('jobs.insert', () => this.#insert(job, now)) as { job: JobRecord<TData>; created: boolean };
  }

  async restore(job: JobRecord): Promise<boolean> {
    if (job.state === 'active')
      throw new AppError('INTERNAL', [], { cause: new Error(`restore(${job.id}): an active run cannot be restored`) });
    return sqlite('jobs.restore', () => this.#restore.run(...restoreParams(job)).changes > 0);
  }

  async get(id: string): Promise<JobRecord | null> {
    const row = sqlite('jobs.get', () => this.#get.get(id));
    return row ? jobFromRow(row) : null;
  }

  async claim(owner: string, names: readonly string[], leaseMs: number, now: number): Promise<JobRecord | null> {
    if (names.length === 0) return null;
    return sqlite('jobs.claim', () => this.#claim(owner, JSON.stringify(names), leaseMs, now));
  }

  async renew(id: string, owner: string, leaseMs: number, now: number): Promise<boolean> {
    return sqlite('jobs.renew', () => this.#renew.run(now + leaseMs, id, owner).changes > 0);
  }

  async progress(id: string, owner: string, progress: number): Promise<boolean> {
    return sqlite('jobs.progress', () => this.#progress.run(progress, id, owner).changes > 0);
  }

  async finish(id: string, owner: string, outcome: RunOutcome, now: number): Promise<boolean> {
    if (outcome.state === 'completed' && this.#thread) {
      // A large result (a batch of many questions) is written on the thread; the JSON is made here either way.
      const json = JSON.stringify(outcome.result ?? null);
      if (json.length >= this.#threadMinChars)
        return (await this.#thread.run('completeJob', [ownBytes(json), new Date(now).toISOString(), id, owner])) > 0;
    }
    return sqlite('jobs.finish', () => this.#finish(id, owner, outcome, now));
  }

  async remove(id: string, finishedAt: string | null): Promise<boolean> {
    return sqlite('jobs.remove', () => this.#removeFinished.run(id, finishedAt).changes > 0);
  }

  async prune(keep: number): Promise<number> {
    return sqlite('jobs.prune', () => this.#prune.run(Math.max(0, Math.floor(keep))).changes);
  }

  async busy(names: readonly string[]): Promise<boolean> {
    return sqlite('jobs.busy', () => this.#busy.get(JSON.stringify(names)) !== undefined);
  }

  async counts(): Promise<QueueCounts> {
    return sqlite('jobs.counts', () => {
      const n: QueueCounts = { waiting: 0, active: 0, delayed: 0 };
      for (const row of this.#counts.all()) n[row.state as keyof QueueCounts] = row.n;
      return n;
    });
  }

  async nextDue(names: readonly string[]): Promise<number | null> {
    return sqlite('jobs.nextDue', () => this.#nextDue.get(JSON.stringify(names))?.at ?? null);
  }

  async health(): Promise<void> {
    sqlite('jobs.health', () => this.#get.get(''));
  }

  async close(): Promise<void> {
    await this.#thread?.close();
  }
}
