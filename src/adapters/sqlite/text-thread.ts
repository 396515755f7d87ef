import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { stopThread } from '../../core/worker-thread.js';
import { AppError } from '../../errors.js';
import { sqliteFailure } from './errors.js';

/** The statements of the texts of versions, the event-loop path's and the thread's. */
export const TEXT_SQL = {
  // REPLACE deletes the old row and inserts a new one: a text stored again takes a new seq, it counts as stored
  // now (see UpdateOptions.dropTextsStoredBefore).
  put: 'REPLACE INTO document_versions (namespace, document_id, version, text, stored_at) VALUES (?, ?, ?, ?, ?)',
  putBytes: 'REPLACE INTO document_versions (namespace, document_id, version, text, stored_at) VALUES (?, ?, ?, CAST(? AS TEXT), ?)',
  get: 'SELECT text FROM document_versions WHERE namespace = ? AND document_id = ? AND version = ?',
} as const;

export interface TextRequest {
  seq: number;
  namespace: string;
  id: string;
  version: string;
  bytes: Uint8Array;
}

export type TextReply = { id: number; ok: true } | { id: number; ok: false; code: string | null; message: string };

const BOOTSTRAP = `
import('node:worker_threads').then(({ workerData }) =>
  workerData.tsx ? import(workerData.tsx).then((api) => api.tsImport(workerData.entry, workerData.entry)) : import(workerData.entry),
);
`;

/**
 * Stores the texts of versions on a worker thread with its own connection to
 * the database file. better-sqlite3 is synchronous: on the event loop storing
 * a 20 MB text kept it busy ~190–440 ms (docs/sqlite-stall.md); here the
 * event loop only encodes the text to UTF-8 and hands the bytes over
 * (~6–30 ms). One thread, started on first use, unref'd while idle.
 */
export class SqliteTextThread {
  readonly #file: string;
  #worker: Worker | null = null;
  #seq = 0;
  readonly #calls = new Map<number, { resolve: () => void; reject: (err: unknown) => void }>();

  constructor(file: string) {
    this.#file = file;
  }

  async put(namespace: string, id: string, version: string, text: string): Promise<void> {
    const bytes = Buffer.from(text, 'utf8');
    // A Buffer may share its ArrayBuffer with others (the pool): only a whole one of its own is transferred.
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? new Uint8Array(bytes.buffer) : new Uint8Array(bytes);
    await this.#call({ seq: 0, namespace, id, version, bytes: own }, [own.buffer as ArrayBuffer]);
  }

  async close(): Promise<void> {
    const w = this.#worker;
    this.#worker = null;
    if (w) await stopThread(w);
    this.#failAll(new AppError('DATABASE_UNAVAILABLE', ['the text thread was closed'], { transient: true }));
  }

  #call(req: TextRequest, transfer: ArrayBuffer[]): Promise<void> {
    const worker = this.#thread();
    const seq = ++this.#seq;
    return new Promise((resolve, reject) => {
      this.#calls.set(seq, { resolve, reject });
      worker.ref();
      worker.postMessage({ ...req, seq }, transfer);
    });
  }

  #thread(): Worker {
    if (this.#worker) return this.#worker;
    const ts = import.meta.url.endsWith('.ts');
    const entry = new URL(`./text-thread-worker.${ts ? 'ts' : 'js'}`, import.meta.url).href;
    const worker = new Worker(BOOTSTRAP, { eval: true, workerData: { entry, file: this.#file, tsx: ts ? import.meta.resolve('tsx/esm/api') : null } });
    worker.on('message', (reply: TextReply) => {
      const call = this.#calls.get(reply.id);
      if (!call) return;
      this.#calls.delete(reply.id);
      if (this.#calls.size === 0) worker.unref();
      if (reply.ok) call.resolve();
      else if (reply.code) call.reject(sqliteFailure(new Database.SqliteError(reply.message, reply.code), 'documents.text'));
      else call.reject(new AppError('DATABASE_ERROR', ['documents.text'], { cause: new Error(reply.message) }));
    });
    const die = (err: unknown) => {
      if (this.#worker !== worker) return;
      this.#worker = null;
      this.#failAll(new AppError('DATABASE_UNAVAILABLE', ['the text thread stopped'], { cause: err, transient: true, retryAfter: 1 }));
    };
    worker.on('error', die);
    worker.on('exit', (code) => die(new Error(`the text thread exited with ${code}`)));
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
