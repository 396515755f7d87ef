import { workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { SQLITE_BUSY_TIMEOUT_MS } from './database.js';
import { serveRpc } from '../../infra/thread-rpc.js';
import { WRITE_SQL, type WriteCall } from './write-thread.js';

/**
 * Entry of a {@link SqliteWriteThread}: a connection of its own to the
 * database file, running the stores' large writes with their values
 * transferred to it as UTF-8 bytes, so the event loop never holds a
 * many-megabyte write.
 */
// The file's schema is the opener's (openSqlite migrated it); this connection only writes.
const db = new Database((workerData as { file: string }).file, { timeout: SQLITE_BUSY_TIMEOUT_MS });
db.pragma('synchronous = NORMAL');
const statements = new Map<string, Database.Statement>();

serveRpc(({ sql, params }: WriteCall): number => {
  let stmt = statements.get(sql);
  if (!stmt) {
    stmt = db.prepare(WRITE_SQL[sql]);
    statements.set(sql, stmt);
  }
  return stmt.run(
    ...params.map((p) => (p instanceof Uint8Array ? Buffer.from(p.buffer, p.byteOffset, p.byteLength) : p)),
  ).changes;
});
