import { AppError } from '../../errors.js';
import { RpcThread } from '../../infra/thread-rpc.js';

/**
 * The namespace-wide FTS5 query of SqliteVectorStore.searchText: the best
 * `limit` chunks of the given versions by bm25 (negated: higher is better).
 * Parameters: match, namespace, dims, versions as JSON [[documentId, version], …], limit.
 */
export const SEARCH_TEXT_SQL = `SELECT c.id, c.document_id, c.version, c.ord, c.start_char, c.end_char, c.tokens, c.text, -bm25(chunks_fts) AS score
  FROM chunks_fts JOIN chunks c ON c.seq = chunks_fts.rowid
  WHERE chunks_fts MATCH ? AND c.namespace = ? AND c.dims = ?
    AND (c.document_id, c.version) IN (
      SELECT v.document_id, v.version FROM json_each(?) j
        JOIN chunk_versions v ON v.document_id = j.value ->> 0 AND v.version = j.value ->> 1
      WHERE v.dims = ? AND v.namespace = ? AND v.model = ?)
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

/** The versions searched are those of `refs` written by `model` (migration 004); namespace and size are bound twice. */
export type SearchParams = [
  match: string,
  namespace: string,
  dims: number,
  refs: string,
  versionDims: number,
  versionNamespace: string,
  model: string,
  limit: number,
];

/**
 * Runs FTS5 searches on a worker thread with a read-only connection of its
 * own to the database file. better-sqlite3 is synchronous, and a query whose
 * words are common reads long posting lists: over a namespace of 300k chunks
 * one held the event loop for hundreds of milliseconds (docs/sqlite-chunks.md).
 * Here the event loop only posts the query and receives the rows. One thread,
 * started on first use, unref'd while idle; searches queue on it in order.
 */
export class SqliteSearchThread {
  readonly #rpc: RpcThread<SearchParams, SearchRow[]>;

  constructor(file: string) {
    this.#rpc = new RpcThread({
      name: 'the search thread',
      entry: 'search-thread-worker',
      base: import.meta.url,
      workerData: { file },
      stopped: (cause) =>
        cause
          ? new AppError('VECTOR_STORE_UNAVAILABLE', ['the search thread stopped'], { cause, transient: true })
          : new AppError('VECTOR_STORE_UNAVAILABLE', ['the search thread was closed'], { transient: true }),
      failed: (code, message) => Object.assign(new Error(message), { code: code ?? undefined }),
    });
  }

  search(params: SearchParams): Promise<SearchRow[]> {
    return this.#rpc.call(params);
  }

  close(): Promise<void> {
    return this.#rpc.close();
  }
}
