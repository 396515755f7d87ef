import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { SQLITE_BUSY_TIMEOUT_MS } from './database.js';
import { TEXT_SQL, type TextReply, type TextRequest } from './text-thread.js';

/**
 * Entry of a {@link SqliteTextThread}: a connection of its own to the
 * database file, storing the texts of versions from UTF-8 bytes transferred
 * to it, so the event loop never holds a many-megabyte write.
 */
const port = parentPort;
if (!port) throw new Error('text-thread-worker runs only as a worker thread');
// The file's schema is the opener's (openSqlite migrated it); this connection only reads and writes texts.
const db = new Database((workerData as { file: string }).file, { timeout: SQLITE_BUSY_TIMEOUT_MS });
db.pragma('synchronous = NORMAL');
const put = db.prepare(TEXT_SQL.putBytes);

port.on('message', (req: TextRequest) => {
  try {
    put.run(req.namespace, req.id, req.version, Buffer.from(req.bytes.buffer, req.bytes.byteOffset, req.bytes.byteLength), new Date().toISOString());
    port.postMessage({ id: req.seq, ok: true } satisfies TextReply);
  } catch (err) {
    const e = err as { message?: string; code?: string };
    port.postMessage({ id: req.seq, ok: false, code: e.code ?? null, message: e.message ?? String(err) } satisfies TextReply);
  }
});
