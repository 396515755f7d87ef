import { workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { SQLITE_BUSY_TIMEOUT_MS } from './database.js';
import { Fts5TopK, type LexicalQuery } from './lexical-search.js';
import { serveRpc } from '../../infra/thread-rpc.js';

/**
 * Entry of a {@link SqliteSearchThread}: a read-only connection of its own to
 * the database file (WAL: it reads beside the writers without blocking them)
 * running FTS5 searches, so the event loop never holds one.
 */
const db = new Database((workerData as { file: string }).file, { readonly: true, timeout: SQLITE_BUSY_TIMEOUT_MS });
const search = new Fts5TopK(db);

serveRpc((query: LexicalQuery) => search.search(query).rows);
