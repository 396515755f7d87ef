import type Database from 'better-sqlite3';
import type { TermDocumentStats } from '../../ports/document-store.js';

/**
 * The per-namespace counts of documents holding each term (migration
 * 003-term-documents), kept by the document store inside its own
 * transactions: `liveChanged` runs in the same transaction as the record
 * change that moves a document's live version, so the counts always describe
 * exactly the live versions whose terms are recorded.
 */
export class SqliteTermStats {
  readonly #insert: Database.Statement<[string, string, string, string]>;
  readonly #row: Database.Statement<[string, string, string], { terms: string; counted: number }>;
  readonly #setCounted: Database.Statement<[number, string, string, string]>;
  readonly #deleteRow: Database.Statement<[string, string, string]>;
  readonly #deleteDoc: Database.Statement<[string, string]>;
  readonly #add: Database.Statement<[{ namespace: string; terms: string }]>;
  readonly #subtract: Database.Statement<[{ namespace: string; terms: string }]>;
  readonly #prune: Database.Statement<[{ namespace: string; terms: string }]>;
  readonly #namespaceAdd: Database.Statement<[{ namespace: string; delta: number }]>;
  readonly #has: Database.Statement<[string, string, string], { one: number }>;
  readonly #counts: Database.Statement<[{ namespace: string; terms: string }], { term: string; documents: number }>;
  readonly #documents: Database.Statement<[string], { documents: number }>;

  constructor(db: Database.Database) {
    this.#insert = db.prepare(
      'INSERT OR IGNORE INTO version_terms (namespace, document_id, version, terms) VALUES (?, ?, ?, ?)',
    );
    this.#row = db.prepare(
      'SELECT terms, counted FROM version_terms WHERE namespace = ? AND document_id = ? AND version = ?',
    );
    this.#setCounted = db.prepare(
      'UPDATE version_terms SET counted = ? WHERE namespace = ? AND document_id = ? AND version = ?',
    );
    this.#deleteRow = db.prepare('DELETE FROM version_terms WHERE namespace = ? AND document_id = ? AND version = ?');
    this.#deleteDoc = db.prepare('DELETE FROM version_terms WHERE namespace = ? AND document_id = ?');
    this.#add = db.prepare(
      `INSERT INTO term_documents (namespace, term, documents) SELECT @namespace, value, 1 FROM json_each(@terms) WHERE true
       ON CONFLICT (namespace, term) DO UPDATE SET documents = documents + 1`,
    );
    this.#subtract = db.prepare(
      'UPDATE term_documents SET documents = documents - 1 WHERE namespace = @namespace AND term IN (SELECT value FROM json_each(@terms))',
    );
    this.#prune = db.prepare(
      'DELETE FROM term_documents WHERE namespace = @namespace AND term IN (SELECT value FROM json_each(@terms)) AND documents <= 0',
    );
    this.#namespaceAdd = db.prepare(
      `INSERT INTO namespace_term_documents (namespace, documents) VALUES (@namespace, @delta)
       ON CONFLICT (namespace) DO UPDATE SET documents = documents + @delta`,
    );
    this.#has = db.prepare(
      'SELECT 1 AS one FROM version_terms WHERE namespace = ? AND document_id = ? AND version = ?',
    );
    this.#counts = db.prepare(
      'SELECT term, documents FROM term_documents WHERE namespace = @namespace AND term IN (SELECT value FROM json_each(@terms))',
    );
    this.#documents = db.prepare('SELECT documents FROM namespace_term_documents WHERE namespace = ?');
  }

  /** Records a version's terms; counts them at once if it is the live version (`live`). In the caller's transaction. */
  put(namespace: string, id: string, version: string, terms: readonly string[], live: boolean): void {
    this.#insert.run(namespace, id, version, JSON.stringify([...new Set(terms)]));
    if (live) this.#count(namespace, id, version, true);
  }

  /** The live version of a document moved from `before` to `after` (either may be null). In the caller's transaction. */
  liveChanged(namespace: string, id: string, before: string | null, after: string | null): void {
    if (before === after) return;
    if (before !== null) {
      this.#count(namespace, id, before, false);
      // A version replaced is not coming back as it is (the same text again is stored and recorded again).
      this.#deleteRow.run(namespace, id, before);
    }
    if (after !== null) this.#count(namespace, id, after, true);
  }

  /** The document is deleted: its live version stops counting and every recorded version goes. */
  deleted(namespace: string, id: string, live: string | null): void {
    if (live !== null) this.#count(namespace, id, live, false);
    this.#deleteDoc.run(namespace, id);
  }

  has(namespace: string, id: string, version: string): boolean {
    return this.#has.get(namespace, id, version) !== undefined;
  }

  stats(namespace: string, terms: readonly string[]): TermDocumentStats {
    const counts = new Map<string, number>();
    if (terms.length > 0)
      for (const r of this.#counts.all({ namespace, terms: JSON.stringify([...new Set(terms)]) }))
        counts.set(r.term, r.documents);
    return { documents: this.#documents.get(namespace)?.documents ?? 0, counts };
  }

  #count(namespace: string, id: string, version: string, on: boolean): void {
    const row = this.#row.get(namespace, id, version);
    if (!row || (row.counted === 1) === on) return;
    if (on) this.#add.run({ namespace, terms: row.terms });
    else {
      this.#subtract.run({ namespace, terms: row.terms });
      this.#prune.run({ namespace, terms: row.terms });
    }
    this.#namespaceAdd.run({ namespace, delta: on ? 1 : -1 });
    this.#setCounted.run(on ? 1 : 0, namespace, id, version);
  }
}
