import { Worker } from 'node:worker_threads';
import { stopThread } from '../../infra/worker-thread.js';
import { AppError } from '../../errors.js';

/**
 * The namespace-wide FTS5 query of SqliteVectorStore.searchText: the best
 * `limit` chunks of the given versions by bm25 (negated: higher is better).
 * Parameters: match, namespace, dims, versions as JSON [[documentId, version], …], limit.
 */
export const SEARCH_TEXT_SQL = `SELECT c.id, c.document_id, c.version, c.ord, c.start_char, c.end_char, c.tokens, c.text, -bm25(chunks_fts) AS score
  FROM chunks_fts JOIN chunks c ON c.seq = chunks_fts.rowid
  WHERE chunks_fts MATCH ? AND c.namespace = ? AND c.dims = ?
    AND (c.document_id, c.version) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?))
  ORDER BY bm25(chunks_fts), c.seq LIMIT ?`;

export interface SearchRow {
  id: string;
  document_id: string;
  version: string;
  ord: number;
  start_char: number;
  end_char: number;
  tokens: number;
  text: string;
  score: number;
}

export type SearchParams = [match: string, namespace: string, dims: number, refs: string, limit: number];
export interface SearchRequest {
  seq: number;
  params: SearchParams;
}
export type SearchReply =
  | { seq: number; ok: true; rows: SearchRow[] }
  | { seq: number; ok: false; code: string | null; message: string };

const BOOTSTRAP = `
import('node:worker_threads').then(({ workerData }) =>
  workerData.tsx ? import(workerData.tsx).then((api) => api.tsImport(workerData.entry, workerData.entry)) : import(workerData.entry),
);
`;

/**
 * Runs FTS5 searches on a worker thread with a read-only connection of its
 * own to the database file. better-sqlite3 is synchronous, and a query whose
 * words are common reads long posting lists: over a namespace of 300k chunks
 * one held the event loop for hundreds of milliseconds (docs/sqlite-chunks.md).
 * Here the event loop only posts the query and receives the rows. One thread,
 * started on first use, unref'd while idle; searches queue on it in order.
 */
export class SqliteSearchThread {
  readonly #file: string;
  #worker: Worker | null = null;
  #seq = 0;
  readonly #calls = new Map<number, { resolve: (rows: SearchRow[]) => void; reject: (err: unknown) => void }>();

  constructor(file: string) {
    this.#file = file;
  }

  search(params: SearchParams): Promise<SearchRow[]> {
    const worker = this.#thread();
    const seq = ++this.#seq;
    return new Promise((resolve, reject) => {
      this.#calls.set(seq, { resolve, reject });
      worker.ref();
      worker.postMessage({ seq, params } satisfies SearchRequest);
    });
  }

  async close(): Promise<void> {
    const w = this.#worker;
    this.#worker = null;
    if (w) await stopThread(w);
    this.#failAll(new AppError('VECTOR_STORE_UNAVAILABLE', ['the search thread was closed'], { transient: true }));
  }

  #thread(): Worker {
    if (this.#worker) return this.#worker;
    const ts = import.meta.url.endsWith('.ts');
    const entry = new URL(`./search-thread-worker.${ts ? 'ts' : 'js'}`, import.meta.url).href;
    const worker = new Worker(BOOTSTRAP, {
      eval: true,
      workerData: { entry, file: this.#file, tsx: ts ? import.meta.resolve('tsx/esm/api') : null },
    });
    worker.on('message', (reply: SearchReply) => {
      const call = this.#calls.get(reply.seq);
      if (!call) return;
      this.#calls.delete(reply.seq);
      if (this.#calls.size === 0) worker.unref();
      if (reply.ok) call.resolve(reply.rows);
      else call.reject(Object.assign(new Error(reply.message), { code: reply.code ?? undefined }));
    });
    const die = (err: unknown) => {
      if (this.#worker !== worker) return;
      this.#worker = null;
      this.#failAll(
        new AppError('VECTOR_STORE_UNAVAILABLE', ['the search thread stopped'], { cause: err, transient: true }),
      );
    };
    worker.on('error', die);
    worker.on('exit', (code) => die(new Error(`the search thread exited with ${code}`)));
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
