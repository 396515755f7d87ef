import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { stopThread } from '../../infra/worker-thread.js';
import { AppError } from '../../errors.js';
import { sqliteFailure } from './errors.js';

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

export interface WriteRequest {
  seq: number;
  sql: keyof typeof WRITE_SQL;
  params: WriteParam[];
}

export type WriteReply =
  | { id: number; ok: true; changes: number }
  | { id: number; ok: false; code: string | null; message: string };

/** At least this many characters of a value make its write go to the thread (~13–20 ms per MB on the event loop, docs/sqlite-stall.md). */
export const WRITE_THREAD_MIN_CHARS = 1 << 20;

const BOOTSTRAP = `
import('node:worker_threads').then(({ workerData }) =>
  workerData.tsx ? import(workerData.tsx).then((api) => api.tsImport(workerData.entry, workerData.entry)) : import(workerData.entry),
);
`;

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
  readonly #file: string;
  #worker: Worker | null = null;
  #seq = 0;
  readonly #calls = new Map<number, { resolve: (changes: number) => void; reject: (err: unknown) => void }>();

  constructor(file: string) {
    this.#file = file;
  }

  /** Runs one of WRITE_SQL with its parameters; resolves to the rows it changed. Byte parameters are transferred. */
  run(sql: keyof typeof WRITE_SQL, params: WriteParam[]): Promise<number> {
    const worker = this.#thread();
    const seq = ++this.#seq;
    const transfer = params.filter((p): p is Uint8Array => p instanceof Uint8Array).map((p) => p.buffer as ArrayBuffer);
    return new Promise((resolve, reject) => {
      this.#calls.set(seq, { resolve, reject });
      worker.ref();
      worker.postMessage({ seq, sql, params } satisfies WriteRequest, transfer);
    });
  }

  async close(): Promise<void> {
    const w = this.#worker;
    this.#worker = null;
    if (w) await stopThread(w);
    this.#failAll(new AppError('DATABASE_UNAVAILABLE', ['the write thread was closed'], { transient: true }));
  }

  #thread(): Worker {
    if (this.#worker) return this.#worker;
    const ts = import.meta.url.endsWith('.ts');
    const entry = new URL(`./write-thread-worker.${ts ? 'ts' : 'js'}`, import.meta.url).href;
    const worker = new Worker(BOOTSTRAP, {
      eval: true,
      workerData: { entry, file: this.#file, tsx: ts ? import.meta.resolve('tsx/esm/api') : null },
    });
    worker.on('message', (reply: WriteReply) => {
      const call = this.#calls.get(reply.id);
      if (!call) return;
      this.#calls.delete(reply.id);
      if (this.#calls.size === 0) worker.unref();
      if (reply.ok) call.resolve(reply.changes);
      else if (reply.code)
        call.reject(sqliteFailure(new Database.SqliteError(reply.message, reply.code), 'sqlite.write-thread'));
      else call.reject(new AppError('DATABASE_ERROR', ['sqlite.write-thread'], { cause: new Error(reply.message) }));
    });
    const die = (err: unknown) => {
      if (this.#worker !== worker) return;
      this.#worker = null;
      this.#failAll(
        new AppError('DATABASE_UNAVAILABLE', ['the write thread stopped'], {
          cause: err,
          transient: true,
          retryAfter: 1,
        }),
      );
    };
    worker.on('error', die);
    worker.on('exit', (code) => die(new Error(`the write thread exited with ${code}`)));
    worker.unref();
    this.#worker = worker;
    return worker;
  }

  #failAll(err: unknown): void {
    const calls = [...this.#calls.values()];
    this.#calls.clear();
    for (const c of calls) c.reject(err);
  }
}
