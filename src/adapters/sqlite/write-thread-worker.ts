import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { SQLITE_BUSY_TIMEOUT_MS } from './database.js';
import { WRITE_SQL, type WriteReply, type WriteRequest } from './write-thread.js';

/**
 * Entry of a {@link SqliteWriteThread}: a connection of its own to the
 * database file, running the stores' large writes with their values
 * transferred to it as UTF-8 bytes, so the event loop never holds a
 * many-megabyte write.
 */
const port = parentPort;
if (!port) throw new Error('write-thread-worker runs only as a worker thread');
// The file's schema is the opener's (openSqlite migrated it); this connection only writes.
const db = new Database((workerData as { file: string }).file, { timeout: SQLITE_BUSY_TIMEOUT_MS });
db.pragma('synchronous = NORMAL');
const statements = new Map<string, Database.Statement>();

port.on('message', (req: WriteRequest) => {
  try {
    let stmt = statements.get(req.sql);
    if (!stmt) {
      stmt = db.prepare(WRITE_SQL[req.sql]);
      statements.set(req.sql, stmt);
    }
    const params = req.params.map((p) =>
      p instanceof Uint8Array ? Buffer.from(p.buffer, p.byteOffset, p.byteLength) : p,
    );
    port.postMessage({ id: req.seq, ok: true, changes: stmt.run(...params).changes } satisfies WriteReply);
  } catch (err) {
    const e = err as { message?: string; code?: string };
    port.postMessage({
      id: req.seq,
      ok: false,
      code: e.code ?? null,
      message: e.message ?? String(err),
    } satisfies WriteReply);
  }
});
