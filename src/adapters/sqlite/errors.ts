import Database from 'better-sqlite3';
import { AppError } from '../../errors.js';

/** Codes that mean "try again": another process holds the write lock past the busy timeout, or the disk is full or failing. */
const UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|READONLY)/;

/**
 * Translates a failure of a SQLite call at the adapter boundary: SQLite's own
 * errors become DATABASE_UNAVAILABLE (transient, with Retry-After) or
 * DATABASE_ERROR, keeping the SqliteError (and its code) as `cause`; anything
 * else (an AppError or what a caller's function threw) passes through as is.
 */
export function sqliteFailure(err: unknown, what: string): unknown {
  if (!(err instanceof Database.SqliteError)) return err;
  if (UNAVAILABLE.test(err.code))
    return new AppError('DATABASE_UNAVAILABLE', [`${what}: ${err.code}`], {
      cause: err,
      transient: true,
      retryAfter: 1,
    });
  return new AppError('DATABASE_ERROR', [`${what}: ${err.code}`], { cause: err });
}

/** Runs a synchronous SQLite call, translating its failure (see sqliteFailure). */
export function sqlite<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw sqliteFailure(err, what);
  }
}
