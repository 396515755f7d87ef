import Database from 'better-sqlite3';
import { AppError } from '../../errors.js';
import { sqliteFailure } from './errors.js';
import { RpcThread } from '../../infra/thread-rpc.js';

/**
 * The writes that can be large enough to hold the event loop: the stores run
 * them on the event loop with a string, or on the thread with the large
 * value bound as UTF-8 bytes (`CAST(? AS TEXT)` makes both text).
 */
export const WRITE_SQL = {
  // REPLACE deletes the old row and inserts a new one: a text stored again takes a new seq, it counts as stored
  // now (see UpdateOptions.dropTextsStoredBefore).
  putText:
    'REPLACE INTO document_versions (namespace, document_id, version, text, stored_at) VALUES (?, ?, ?, CAST(? AS TEXT), ?)',
  completeJob: `UPDATE jobs SET state = 'completed', result = CAST(? AS TEXT), error = NULL, progress = 100, finished_at = ?, owner = NULL, lease_until = NULL
                WHERE id = ? AND owner = ? AND state = 'active'`,
} as const;

export type WriteParam = string | number | null | Uint8Array;

export interface WriteCall {
  sql: keyof typeof WRITE_SQL;
  params: WriteParam[];
}

/** At least this many characters of a value make its write go to the thread (~13–20 ms per MB on the event loop, docs/sqlite-stall.md). */
export const WRITE_THREAD_MIN_CHARS = 1 << 20;

/** UTF-8 bytes of a string in an ArrayBuffer of their own, so they can be transferred rather than copied. */
export function ownBytes(text: string): Uint8Array {
  const b = Buffer.from(text, 'utf8');
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? new Uint8Array(b.buffer) : new Uint8Array(b);
}

/**
 * Runs the large writes of the SQLite stores (WRITE_SQL) on a worker thread
 * with its own connection to the database file. better-sqlite3 is
 * synchronous: on the event loop storing a 20 MB text kept it busy
 * ~190–440 ms (docs/sqlite-stall.md); here the event loop only encodes the
 * value to UTF-8 and hands the bytes over. Each store that has large writes
 * owns one, started on its first large write, unref'd while idle.
 */
export class SqliteWriteThread {
  readonly #rpc: RpcThread<WriteCall, number>;

  constructor(file: string) {
    this.#rpc = new RpcThread({
      name: 'the write thread',
      entry: 'write-thread-worker',
      base: import.meta.url,
      workerData: { file },
      stopped: (cause) =>
        cause
          ? new AppError('DATABASE_UNAVAILABLE', ['the write thread stopped'], {
              cause,
              transient: true,
              retryAfter: 1,
            })
          : new AppError('DATABASE_UNAVAILABLE', ['the write thread was closed'], { transient: true }),
      failed: (code, message) =>
        code
          ? sqliteFailure(new Database.SqliteError(message, code), 'sqlite.write-thread')
          : new AppError('DATABASE_ERROR', ['sqlite.write-thread'], { cause: new Error(message) }),
    });
  }

  /** Runs one of WRITE_SQL with its parameters; resolves to the rows it changed. Byte parameters are transferred. */
  run(sql: keyof typeof WRITE_SQL, params: WriteParam[]): Promise<number> {
    const transfer = params.filter((p): p is Uint8Array => p instanceof Uint8Array).map((p) => p.buffer as ArrayBuffer);
    return this.#rpc.call({ sql, params }, transfer);
  }

  close(): Promise<void> {
    return this.#rpc.close();
  }
}
