import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { AppError } from '../../errors.js';
import { loadMigrations, type Migration } from '../sqlite/database.js';

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

/** Seconds in Retry-After while PostgreSQL is away: a restart or failover usually takes a few seconds. */
export const DATABASE_RETRY_AFTER_S = 5;

/**
 * SQLSTATE classes and codes that mean "the server is away or refusing for
 * now", so the same request may succeed later: connection exceptions (08),
 * shutdown and startup (57P01–57P03), too many connections (53300),
 * insufficient resources (53), serialization failure and deadlock (40001, 40P01).
 */
const TRANSIENT_SQLSTATE = /^(08|53|57P0[123]|40001|40P01)/;

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Messages node-postgres gives connection failures that carry no code. */
const CONNECTION_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connection timeout|Connection ended|Query read timeout/i;

/** True when a pg error says the server is (for now) unreachable rather than that the statement is wrong. */
export function isUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (
      typeof code === 'string' &&
      (NETWORK_CODES.has(code) || (/^[0-9A-Z]{5}$/.test(code) && TRANSIENT_SQLSTATE.test(code)))
    )
      return true;
    if (e instanceof Error && CONNECTION_MESSAGES.test(e.message)) return true;
  }
  return false;
}

/** A failure of the database or the connection (a DatabaseError carries `severity`), not of the caller's code. */
function isPgFailure(err: unknown): boolean {
  return (err instanceof Error && 'severity' in err) || isUnavailable(err);
}

/**
 * A failed database call as the catalogue's error, the original (with its
 * SQLSTATE in `code`) kept as `cause`: DATABASE_UNAVAILABLE (503, transient,
 * Retry-After) when the server is away, DATABASE_ERROR otherwise.
 */
export function translatePgError(what: string, err: unknown): AppError {
  if (err instanceof AppError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const detail = `${what}: ${err instanceof Error ? err.message : String(err)}${typeof code === 'string' ? ` (${code})` : ''}`;
  if (isUnavailable(err))
    return new AppError('DATABASE_UNAVAILABLE', [detail], {
      cause: err,
      transient: true,
      retryAfter: DATABASE_RETRY_AFTER_S,
    });
  return new AppError('DATABASE_ERROR', [detail], { cause: err });
}

/** Options of {@link PgDatabase}. */
export interface PgDatabaseOptions {
  /** postgres://user:pass@host:port/db (DATABASE_URL); `?options=-c search_path=x` selects a schema. */
  url: string;
  /** Most connections the process opens (DATABASE_POOL_SIZE). Default 10. */
  poolSize?: number;
  /** How long a call waits for a connection before DATABASE_UNAVAILABLE (DATABASE_TIMEOUT_MS). Default 2000. */
  timeoutMs?: number;
  /** Migrations to apply instead of the repository's (tests). */
  migrations?: readonly Migration[];
}

export type Queryable = Pick<pg.PoolClient, 'query'>;

/**
 * The process's one PostgreSQL pool, shared by every PostgreSQL adapter.
 * Migrations (`migrations/NNN-name.sql`) are applied before the first query,
 * once: under an advisory lock, so replicas starting together apply each
 * exactly once; a failed attempt (server down) is tried again by the next
 * call. Every failure leaves here translated (see {@link translatePgError}).
 */
export class PgDatabase {
  readonly pool: pg.Pool;
  readonly #migrations: readonly Migration[];
  #migrated: Promise<void> | null = null;
  #closed = false;

  constructor(opts: PgDatabaseOptions) {
    const timeoutMs = opts.timeoutMs ?? 2000;
    this.pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 10,
      connectionTimeoutMillis: timeoutMs,
      // A statement that takes longer than this is stuck, not slow: bulk writes are batched well below it.
      query_timeout: Math.max(60_000, timeoutMs),
      idleTimeoutMillis: 30_000,
    });
    // An idle client whose server went away emits here; the pool drops it and the next call reconnects. Without a
    // listener the error would crash the process.
    this.pool.on('error', () => undefined);
    this.#migrations = opts.migrations ?? loadMigrations(MIGRATIONS_DIR);
  }

  /** Applies pending migrations (memoised; retried after a failure). */
  ready(): Promise<void> {
    this.#migrated ??= this.#migrate().catch((err: unknown) => {
      this.#migrated = null;
      throw translatePgError('migrate', err);
    });
    return this.#migrated;
  }

  /** One statement on any pooled connection. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    what: string,
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    await this.ready();
    try {
      return await this.pool.query<R>(text, values);
    } catch (err) {
      throw translatePgError(what, err);
    }
  }

  /**
   * Runs `fn` in one transaction on one connection: committed when it
   * resolves, rolled back when it throws (its error rethrown as is, unless it
   * is a database error, which is translated).
   */
  async transaction<T>(what: string, fn: (client: Queryable) => Promise<T>): Promise<T> {
    await this.ready();
    let lease: Lease;
    try {
      lease = await this.#checkout();
    } catch (err) {
      throw translatePgError(what, err);
    }
    const { client } = lease;
    let broken = false;
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      if (err instanceof AppError || !isPgFailure(err)) throw err;
      throw translatePgError(what, err);
    } finally {
      // A connection that failed its ROLLBACK is dropped rather than handed to the next caller.
      lease.release(broken);
    }
  }

  async health(): Promise<void> {
    await this.query('health', 'SELECT 1');
  }

  /** Ends the pool. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.pool.end();
  }

  async #migrate(): Promise<void> {
    const lease = await this.#checkout();
    const { client } = lease;
    try {
      // One key per schema, so separate schemas (tests, tenants of one server) do not wait for each other.
      await client.query(`SELECT pg_advisory_lock(hashtext('adaptive-reader:migrate:' || current_schema()))`);
      try {
        await client.query(
          'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
        );
        const done = new Set(
          (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version),
        );
        for (const m of this.#migrations) {
          if (done.has(m.version)) continue;
          await client.query('BEGIN');
          try {
            await client.query(m.sql);
            await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
            await client.query('COMMIT');
          } catch (err) {
            await client.query('ROLLBACK').catch(() => undefined);
            throw err;
          }
        }
      } finally {
        await client
          .query(`SELECT pg_advisory_unlock(hashtext('adaptive-reader:migrate:' || current_schema()))`)
          .catch(() => undefined);
      }
    } finally {
      lease.release(false);
    }
  }

  /**
   * A pooled connection for several statements. node-postgres emits 'error'
   * on a client whose server goes away, and the pool listens only while the
   * client is idle: a checked-out client lost between statements (or after a
   * statement's own rejection) would throw from the emitter and end the
   * process. The listener here takes that error for the lease; the statement
   * in flight, if any, rejects on its own, and the client is destroyed on
   * release instead of going back to the pool.
   */
  async #checkout(): Promise<Lease> {
    const client = await this.pool.connect();
    let lost: Error | undefined;
    const onError = (err: Error) => {
      lost ??= err;
    };
    client.on('error', onError);
    return {
      client,
      release(broken: boolean) {
        client.removeListener('error', onError);
        client.release(lost ?? broken);
      },
    };
  }
}

/** A checked-out connection; `release(true)` destroys it. */
interface Lease {
  client: pg.PoolClient;
  release(broken: boolean): void;
}
