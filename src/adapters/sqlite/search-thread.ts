import { AppError } from '../../errors.js';
import { RpcThread } from '../../infra/thread-rpc.js';
import type { LexicalQuery, SearchRow } from './lexical-search.js';

/**
 * Runs FTS5 searches (lexical-search.ts) on a worker thread with a read-only connection of its
 * own to the database file. better-sqlite3 is synchronous, and a query whose
 * words are common reads long posting lists: over a namespace of 300k chunks
 * one held the event loop for hundreds of milliseconds (docs/sqlite-chunks.md).
 * Here the event loop only posts the query and receives the rows. One thread,
 * started on first use, unref'd while idle; searches queue on it in order.
 */
export class SqliteSearchThread {
  readonly #rpc: RpcThread<LexicalQuery, SearchRow[]>;

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

  search(query: LexicalQuery): Promise<SearchRow[]> {
    return this.#rpc.call(query);
  }

  close(): Promise<void> {
    return this.#rpc.close();
  }
}
