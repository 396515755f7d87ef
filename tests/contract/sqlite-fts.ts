import type Database from 'better-sqlite3';
import { loadMigrations, openSqlite } from '../../src/adapters/sqlite/database.js';
import { ftsTableName } from '../../src/adapters/sqlite/fts-tables.js';
import { chunkColumns } from '../../src/adapters/sqlite/vector-store.js';
import type { StoredChunk } from '../../src/ports/vector-store.js';
import { DIMS, MODEL } from './vector-store.contract.js';

/**
 * Writes `chunks` into `file` as the code before migration 007 left a file: migrated up to 006, the chunks in the
 * file's single FTS5 index (its triggers fill it). Returns how many rows that index holds.
 */
export function writeOldFile(file: string, chunks: readonly StoredChunk[]): number {
  const before = openSqlite(file, { migrations: loadMigrations().filter((m) => m.version < 7) });
  try {
    const insert = before.prepare(
      `INSERT INTO chunks (namespace, id, document_id, version, ord, start_char, end_char, tokens, text, dims, vector)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const version = before.prepare(
      'INSERT OR IGNORE INTO chunk_versions (dims, namespace, document_id, version, gen, model) VALUES (?, ?, ?, ?, 1, ?)',
    );
    before.transaction(() => {
      for (const c of chunks) {
        version.run(DIMS, c.namespace, c.documentId, c.version, MODEL);
        insert.run(...chunkColumns(c.namespace, c, DIMS));
      }
    })();
    return before.prepare('SELECT count(*) FROM chunks_fts').pluck().get() as number;
  } finally {
    before.close();
  }
}

/** Each namespace's FTS5 index and its rows, from the registry (fts-tables.ts). */
export function indexedRows(db: Database.Database): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { namespace, tbl } of db
    .prepare<[], { namespace: string; tbl: number }>('SELECT namespace, tbl FROM chunk_fts_tables ORDER BY namespace')
    .all())
    out[namespace] = db
      .prepare(`SELECT count(*) FROM ${ftsTableName(tbl)}`)
      .pluck()
      .get() as number;
  return out;
}
