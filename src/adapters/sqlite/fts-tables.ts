import type Database from 'better-sqlite3';

/**
 * The FTS5 index of each namespace and vector size (migration 007): a table
 * of its own, so that bm25()'s statistics are the namespace's, not the
 * file's. `chunk_fts_tables` maps (dims, namespace) to the table's number;
 * the table is `chunks_fts_<tbl>`, contentless with contentless_delete (the
 * texts stay in `chunks`; a row goes by its rowid, the chunk's seq).
 */

/** Porter stemming over unicode61 words, diacritics folded (as the file's index was, migration 002). */
const CREATE = (name: string) =>
  `CREATE VIRTUAL TABLE ${name} USING fts5 (text, content = '', contentless_delete = 1, tokenize = 'porter unicode61 remove_diacritics 2')`;

export const ftsTableName = (tbl: number): string => `chunks_fts_${tbl}`;

/** The registry's reads, for any connection (the search thread's is read-only). */
export class FtsTableLookup {
  readonly #get;

  constructor(db: Database.Database) {
    this.#get = db
      .prepare<[number, string], number>('SELECT tbl FROM chunk_fts_tables WHERE dims = ? AND namespace = ?')
      .pluck();
  }

  /** The namespace's table at `dims`, or null when nothing of it was ever indexed. */
  get(dims: number, namespace: string): string | null {
    const tbl = this.#get.get(dims, namespace);
    return tbl === undefined ? null : ftsTableName(tbl);
  }
}

/** A namespace's index (at one size), written in the transaction that writes its chunks. */
export interface FtsWriter {
  /** Indexes a chunk's text under its seq, replacing what that seq had. */
  put(seq: number | bigint, text: string): void;
  /** Removes the rows of a document's chunks (those of `version`, or of every version but `except`). */
  removeDocument(documentId: string, opts?: { version?: string; except?: string }): void;
}

/** The writer's side: creates a namespace's table on its first chunk and keeps one set of statements per table. */
export class FtsTables {
  readonly #db: Database.Database;
  readonly #lookup: FtsTableLookup;
  readonly #register;
  /** By table name: a table is one (dims, namespace), so its writer binds them. */
  readonly #writers = new Map<string, FtsWriter>();

  constructor(db: Database.Database) {
    this.#db = db;
    this.#lookup = new FtsTableLookup(db);
    this.#register = db
      .prepare<[number, string], number>(
        `INSERT INTO chunk_fts_tables (dims, namespace, tbl)
         VALUES (?, ?, (SELECT coalesce(max(tbl), 0) + 1 FROM chunk_fts_tables)) RETURNING tbl`,
      )
      .pluck();
  }

  /** The namespace's index if it has one (deletes need no new table). Call inside the write's transaction. */
  existing(dims: number, namespace: string): FtsWriter | null {
    const name = this.#lookup.get(dims, namespace);
    return name === null ? null : this.#writer(name, dims, namespace);
  }

  /** The namespace's index, created if it has none. Call inside the write's transaction (it may create a table). */
  ensure(dims: number, namespace: string): FtsWriter {
    const name = this.#lookup.get(dims, namespace) ?? this.#create(dims, namespace);
    return this.#writer(name, dims, namespace);
  }

  /**
   * Indexes every (dims, namespace) whose chunks have no table yet: the chunks a file held before migration 007,
   * one namespace a transaction. Another process opening the file at once waits for each transaction and then
   * finds the namespace registered. Returns how many chunks were indexed.
   */
  indexUnindexed(): number {
    let indexed = 0;
    for (const { dims, namespace } of this.unindexed()) indexed += this.index(dims, namespace);
    return indexed;
  }

  /** The (dims, namespace) pairs whose chunks have no table yet. */
  unindexed(): Array<{ dims: number; namespace: string }> {
    return this.#db
      .prepare<[], { dims: number; namespace: string }>(
        `SELECT DISTINCT v.dims, v.namespace FROM chunk_versions v
         WHERE NOT EXISTS (SELECT 1 FROM chunk_fts_tables t WHERE t.dims = v.dims AND t.namespace = v.namespace)`,
      )
      .all();
  }

  /**
   * Creates and fills the table of one (dims, namespace) from its chunks, in one transaction; 0 when it has one
   * already (another process may have indexed it since `unindexed` was read). Returns how many chunks were indexed.
   */
  index(dims: number, namespace: string): number {
    return this.#db
      .transaction(() => {
        if (this.#lookup.get(dims, namespace) !== null) return 0;
        const name = this.#create(dims, namespace);
        return this.#db
          .prepare(`INSERT INTO ${name} (rowid, text) SELECT seq, text FROM chunks WHERE dims = ? AND namespace = ?`)
          .run(dims, namespace).changes;
      })
      .immediate();
  }

  #create(dims: number, namespace: string): string {
    const name = ftsTableName(this.#register.get(dims, namespace)!);
    this.#db.exec(CREATE(name));
    return name;
  }

  #writer(name: string, dims: number, namespace: string): FtsWriter {
    let w = this.#writers.get(name);
    if (w) return w;
    const put = this.#db.prepare(`INSERT OR REPLACE INTO ${name} (rowid, text) VALUES (?, ?)`);
    const chunksOf = 'SELECT seq FROM chunks WHERE dims = ? AND namespace = ? AND document_id = ?';
    const all = this.#db.prepare(`DELETE FROM ${name} WHERE rowid IN (${chunksOf})`);
    const one = this.#db.prepare(`DELETE FROM ${name} WHERE rowid IN (${chunksOf} AND version = ?)`);
    const others = this.#db.prepare(`DELETE FROM ${name} WHERE rowid IN (${chunksOf} AND version <> ?)`);
    w = {
      put: (seq, text) => void put.run(seq, text),
      removeDocument: (documentId, opts = {}) => {
        if (opts.version !== undefined) one.run(dims, namespace, documentId, opts.version);
        else if (opts.except !== undefined) others.run(dims, namespace, documentId, opts.except);
        else all.run(dims, namespace, documentId);
      },
    };
    this.#writers.set(name, w);
    return w;
  }
}
