import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { SQLITE_BUSY_TIMEOUT_MS } from './database.js';
import {
  SEARCH_TEXT_SQL,
  type SearchParams,
  type SearchReply,
  type SearchRequest,
  type SearchRow,
} from './search-thread.js';

/**
 * Entry of a {@link SqliteSearchThread}: a read-only connection of its own to
 * the database file (WAL: it reads beside the writers without blocking them)
 * running FTS5 searches, so the event loop never holds one.
 */
const port = parentPort;
if (!port) throw new Error('search-thread-worker runs only as a worker thread');
const db = new Database((workerData as { file: string }).file, { readonly: true, timeout: SQLITE_BUSY_TIMEOUT_MS });
const search = db.prepare<SearchParams, SearchRow>(SEARCH_TEXT_SQL);

port.on('message', (req: SearchRequest) => {
  try {
    port.postMessage({ seq: req.seq, ok: true, rows: search.all(...req.params) } satisfies SearchReply);
  } catch (err) {
    const e = err as { message?: string; code?: string };
    port.postMessage({
      seq: req.seq,
      ok: false,
      code: e.code ?? null,
      message: e.message ?? String(err),
    } satisfies SearchReply);
  }
});
