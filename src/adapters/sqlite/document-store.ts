import type Database from 'better-sqlite3';
import { AppError } from '../../errors.js';
import type {
  DocumentRecord,
  DocumentStatus,
  DocumentStore,
  ListPage,
  TermDocumentStats,
  UpdateOptions,
} from '../../ports/document-store.js';
import { decodeCursor, encodeCursor } from '../document-store/cursor.js';
import { sqlite } from './errors.js';
import { SqliteTermStats } from './term-stats.js';
import { ownBytes, SqliteWriteThread, WRITE_SQL, WRITE_THREAD_MIN_CHARS } from './write-thread.js';

interface Row {
  namespace: string;
  id: string;
  title: string;
  status: string;
  version: string | null;
  pending: string | null;
  chars: number;
  tokens: number;
  chunk_count: number;
  metadata: string;
  source: string;
  error: string | null;
  created_at: string;
  updated_at: string;
}

const COLUMNS =
  'namespace, id, title, status, version, pending, chars, tokens, chunk_count, metadata, source, error, created_at, updated_at';

/**
 * The document catalogue and the texts of its versions in the process's
 * SQLite database (tables `documents` and `document_versions`, migration
 * 001-catalogue). Every change is one transaction; read-modify-writes take the
 * write lock first (BEGIN IMMEDIATE), so they serialise across every process
 * on the file. A page of the listing is a range scan of the
 * (namespace, created_at, id) index after the cursor.
 *
 * Large texts are stored on a worker thread with its own connection
 * (SqliteWriteThread), so storing a book does not hold the event loop.
 *
 * The database is the container's (one per process); close() leaves it open
 * and stops the write thread.
 */
export class SqliteDocumentStore implements DocumentStore {
  readonly #db: Database.Database;
  readonly #terms: SqliteTermStats;
  readonly #putTerms: (namespace: string, id: string, version: string, terms: readonly string[]) => void;
  readonly #thread: SqliteWriteThread | null;
  readonly #threadMinChars: number;
  readonly #get: Database.Statement<[string, string], Row>;
  readonly #firstPage: Database.Statement<[string, number], Row>;
  readonly #pageAfter: Database.Statement<[string, string, string, number], Row>;
  readonly #count: Database.Statement<[string], { n: number }>;
  readonly #upsert: Database.Statement<unknown[]>;
  readonly #delete: Database.Statement<[string, string]>;
  readonly #putText: Database.Statement<[string, string, string, string, string]>;
  readonly #getText: Database.Statement<[string, string, string], { text: string }>;
  readonly #textSeq: Database.Statement<[string, string, string], { seq: number }>;
  readonly #dropTextsBefore: Database.Statement<[string, string, number]>;
  readonly #deleteTexts: Database.Statement<[string, string]>;
  readonly #deleteTextsBut: Database.Statement<[string, string, string]>;
  readonly #namespaces: Database.Statement<[], { namespace: string }>;
  readonly #generation: Database.Statement<[string], number>;
  readonly #update: (
    namespace: string,
    id: string,
    fn: (current: DocumentRecord | null) => DocumentRecord | null,
    opts: UpdateOptions,
  ) => DocumentRecord | null;

  /**
   * @param opts.textThread store large texts on a worker thread (default true; a database in memory has no
   *   file a thread could open, so its texts stay on the event loop).
   * @param opts.textThreadMinChars texts stored on the thread from this size (default WRITE_THREAD_MIN_CHARS).
   */
  constructor(opts: { db: Database.Database; textThread?: boolean; textThreadMinChars?: number }) {
    const db = opts.db;
    this.#db = db;
    this.#thread = db.memory || opts.textThread === false ? null : new SqliteWriteThread(db.name);
    this.#threadMinChars = opts.textThreadMinChars ?? WRITE_THREAD_MIN_CHARS;
    this.#get = db.prepare(`SELECT ${COLUMNS} FROM documents WHERE namespace = ? AND id = ?`);
    this.#firstPage = db.prepare(
      `SELECT ${COLUMNS} FROM documents WHERE namespace = ? ORDER BY created_at, id LIMIT ?`,
    );
    this.#pageAfter = db.prepare(
      `SELECT ${COLUMNS} FROM documents WHERE namespace = ? AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?`,
    );
    this.#count = db.prepare('SELECT count(*) AS n FROM documents WHERE namespace = ?');
    this.#upsert = db.prepare(
      `INSERT INTO documents (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (namespace, id) DO UPDATE SET title = excluded.title, status = excluded.status, version = excluded.version,
         pending = excluded.pending, chars = excluded.chars, tokens = excluded.tokens, chunk_count = excluded.chunk_count,
         metadata = excluded.metadata, source = excluded.source, error = excluded.error, created_at = excluded.created_at,
         updated_at = excluded.updated_at`,
    );
    this.#delete = db.prepare('DELETE FROM documents WHERE namespace = ? AND id = ?');
    this.#putText = db.prepare(WRITE_SQL.putText);
    this.#getText = db.prepare(
      'SELECT text FROM document_versions WHERE namespace = ? AND document_id = ? AND version = ?',
    );
    this.#textSeq = db.prepare(
      'SELECT seq FROM document_versions WHERE namespace = ? AND document_id = ? AND version = ?',
    );
    this.#dropTextsBefore = db.prepare(
      'DELETE FROM document_versions WHERE namespace = ? AND document_id = ? AND seq < ?',
    );
    this.#deleteTexts = db.prepare('DELETE FROM document_versions WHERE namespace = ? AND document_id = ?');
    this.#deleteTextsBut = db.prepare(
      'DELETE FROM document_versions WHERE namespace = ? AND document_id = ? AND version <> ?',
    );
    this.#namespaces = db.prepare('SELECT DISTINCT namespace FROM documents ORDER BY namespace');
    // Bumped by triggers on documents (migration 006), in the writer's transaction.
    this.#generation = db
      .prepare<[string], number>('SELECT gen FROM namespace_generations WHERE namespace = ?')
      .pluck();

    this.#terms = new SqliteTermStats(db);
    const putTerms = db.transaction((namespace: string, id: string, version: string, terms: readonly string[]) =>
      this.#terms.put(namespace, id, version, terms, this.#get.get(namespace, id)?.version === version),
    );
    this.#putTerms = (namespace, id, version, terms) => putTerms.immediate(namespace, id, version, terms);
    const update = db.transaction(
      (
        namespace: string,
        id: string,
        fn: (current: DocumentRecord | null) => DocumentRecord | null,
        opts: UpdateOptions,
      ) => {
        const row = this.#get.get(namespace, id);
        const next = fn(row ? fromRow(row) : null);
        if (next === null) {
          // A document's texts go with it, in the same transaction: a crash cannot leave them behind, unreachable.
          if (row) {
            this.#delete.run(namespace, id);
            this.#deleteTexts.run(namespace, id);
            this.#terms.deleted(namespace, id, row.version);
          }
          return null;
        }
        if (next.namespace !== namespace || next.id !== id) {
          throw new AppError('INTERNAL', [], {
            cause: new Error(`update(${namespace}, ${id}) returned a record keyed ${next.namespace}/${next.id}`),
          });
        }
        this.#upsert.run(...toRow(next));
        this.#terms.liveChanged(namespace, id, row?.version ?? null, next.version);
        if (opts.dropTextsStoredBefore !== undefined) {
          const kept = this.#textSeq.get(namespace, id, opts.dropTextsStoredBefore);
          if (kept) this.#dropTextsBefore.run(namespace, id, kept.seq);
        }
        return structuredClone(next);
      },
    );
    // IMMEDIATE: the write lock is taken before the read, so no other process writes between the two.
    this.#update = (namespace, id, fn, opts) => update.immediate(namespace, id, fn, opts);
  }

  async generation(namespace: string): Promise<string> {
    return String(sqlite('documents.generation', () => this.#generation.get(namespace)) ?? 0);
  }

  async get(namespace: string, id: string): Promise<DocumentRecord | null> {
    const row = sqlite('documents.get', () => this.#get.get(namespace, id));
    return row ? fromRow(row) : null;
  }

  async list(namespace: string, opts: { limit: number; cursor?: string | null }): Promise<ListPage<DocumentRecord>> {
    const limit = Math.max(1, Math.floor(opts.limit));
    const after = opts.cursor ? decodeCursor(opts.cursor) : null;
    // One read transaction: the page and the total come from the same snapshot.
    const { rows, total } = sqlite('documents.list', () =>
      this.#db.transaction(() => ({
        rows: after
          ? this.#pageAfter.all(namespace, after.c, after.i, limit + 1)
          : this.#firstPage.all(namespace, limit + 1),
        total: this.#count.get(namespace)?.n ?? 0,
      }))(),
    );
    const items = rows.slice(0, limit).map(fromRow);
    const last = items.at(-1);
    return { items, next: rows.length > limit && last ? encodeCursor({ c: last.createdAt, i: last.id }) : null, total };
  }

  async put(record: DocumentRecord): Promise<void> {
    await this.update(record.namespace, record.id, () => record);
  }

  async update(
    namespace: string,
    id: string,
    fn: (current: DocumentRecord | null) => DocumentRecord | null,
    opts: UpdateOptions = {},
  ): Promise<DocumentRecord | null> {
    return sqlite('documents.update', () => this.#update(namespace, id, fn, opts));
  }

  async delete(namespace: string, id: string): Promise<void> {
    await this.update(namespace, id, () => null);
  }

  async putText(namespace: string, id: string, version: string, text: string): Promise<void> {
    if (this.#thread && text.length >= this.#threadMinChars) {
      await this.#thread.run('putText', [namespace, id, version, ownBytes(text), new Date().toISOString()]);
      return;
    }
    sqlite('documents.putText', () => this.#putText.run(namespace, id, version, text, new Date().toISOString()));
  }

  async putTerms(namespace: string, id: string, version: string, terms: readonly string[]): Promise<void> {
    sqlite('documents.putTerms', () => this.#putTerms(namespace, id, version, terms));
  }

  async hasTerms(namespace: string, id: string, version: string): Promise<boolean> {
    return sqlite('documents.hasTerms', () => this.#terms.has(namespace, id, version));
  }

  async termStats(namespace: string, terms: readonly string[]): Promise<TermDocumentStats> {
    return sqlite('documents.termStats', () => this.#terms.stats(namespace, terms));
  }

  /**
   * Read on the event loop: the string has to be built there either way, and receiving it from a thread cost
   * as much as reading it (docs/sqlite-stall.md).
   */
  async getText(namespace: string, id: string, version: string): Promise<string | null> {
    return sqlite('documents.getText', () => this.#getText.get(namespace, id, version)?.text ?? null);
  }

  async deleteTexts(namespace: string, id: string, opts: { keepVersion?: string } = {}): Promise<void> {
    sqlite('documents.deleteTexts', () =>
      opts.keepVersion === undefined
        ? this.#deleteTexts.run(namespace, id)
        : this.#deleteTextsBut.run(namespace, id, opts.keepVersion),
    );
  }

  async namespaces(): Promise<string[]> {
    return sqlite('documents.namespaces', () => this.#namespaces.all().map((r) => r.namespace));
  }

  async health(): Promise<void> {
    sqlite('documents.health', () => this.#count.get(''));
  }

  async close(): Promise<void> {
    await this.#thread?.close();
  }
}

function toRow(r: DocumentRecord): unknown[] {
  return [
    r.namespace,
    r.id,
    r.title,
    r.status,
    r.version,
    r.pending === null ? null : JSON.stringify(r.pending),
    r.chars,
    r.tokens,
    r.chunkCount,
    JSON.stringify(r.metadata),
    r.source,
    r.error === null ? null : JSON.stringify(r.error),
    r.createdAt,
    r.updatedAt,
  ];
}

function fromRow(row: Row): DocumentRecord {
  return {
    namespace: row.namespace,
    id: row.id,
    title: row.title,
    status: row.status as DocumentStatus,
    version: row.version,
    pending: row.pending === null ? null : JSON.parse(row.pending),
    chars: row.chars,
    tokens: row.tokens,
    chunkCount: row.chunk_count,
    metadata: JSON.parse(row.metadata),
    source: row.source,
    error: row.error === null ? null : JSON.parse(row.error),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
