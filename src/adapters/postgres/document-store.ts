import { AppError } from '../../errors.js';
import type {
  DocumentRecord,
  DocumentStore,
  ListPage,
  TermDocumentStats,
  UpdateOptions,
} from '../../ports/document-store.js';
import { decodeCursor, encodeCursor } from '../document-store/cursor.js';
import type { PgDatabase, Queryable } from './database.js';
import {
  documentDeleted,
  HAS_TERMS_SQL,
  liveChanged,
  putVersionTerms,
  TERM_STATS_SQL,
  termStatsFromRows,
} from './term-stats.js';

/**
 * The document catalogue and texts in PostgreSQL (tables `documents` and
 * `document_texts`, migration 001), shared by every API replica and worker.
 * `update` is a transaction holding a per-record advisory lock, so
 * read-modify-writes of one record from any number of processes serialise,
 * creation included (a row lock alone cannot guard a row that does not exist yet).
 */
export class PostgresDocumentStore implements DocumentStore {
  readonly #db: PgDatabase;

  constructor(opts: { db: PgDatabase }) {
    this.#db = opts.db;
  }

  /** The namespace's counter (migration 007), bumped by a trigger in the transaction of every write of its documents. */
  async generation(namespace: string): Promise<string> {
    const { rows } = await this.#db.query<{ gen: string }>(
      'documents.generation',
      'SELECT gen FROM namespace_generations WHERE namespace = $1',
      [namespace],
    );
    return String(rows[0]?.gen ?? 0);
  }

  async get(namespace: string, id: string): Promise<DocumentRecord | null> {
    const { rows } = await this.#db.query<{ record: string }>(
      'documents.get',
      'SELECT record FROM documents WHERE namespace = $1 AND id = $2',
      [namespace, id],
    );
    return rows[0] ? parseRecord(rows[0].record) : null;
  }

  async list(namespace: string, opts: { limit: number; cursor?: string | null }): Promise<ListPage<DocumentRecord>> {
    const limit = Math.max(1, Math.floor(opts.limit));
    const after = opts.cursor ? decodeCursor(opts.cursor) : null;
    // One statement, so the page and the total come from one snapshot (a READ COMMITTED transaction would take one
    // per statement) and one round trip.
    const { rows } = await this.#db.query<{ total: string; records: string[] }>(
      'documents.list',
      `SELECT (SELECT count(*) FROM documents WHERE namespace = $1) AS total,
              coalesce((SELECT array_agg(p.record ORDER BY p.created_at, p.id) FROM (
                SELECT record, created_at, id FROM documents
                WHERE namespace = $1 AND ($2::text IS NULL OR (created_at, id) > ($2::text, $3::text))
                ORDER BY created_at, id LIMIT $4) p), '{}') AS records`,
      [namespace, after?.c ?? null, after?.i ?? null, limit + 1],
    );
    const total = Number(rows[0]?.total ?? 0);
    const records = rows[0]?.records ?? [];
    const items = records.slice(0, limit).map(parseRecord);
    const last = items.at(-1);
    return {
      items,
      next: records.length > limit && last ? encodeCursor({ c: last.createdAt, i: last.id }) : null,
      total,
    };
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
    return this.#db.transaction('documents.update', async (c) => {
      await lockRecord(c, namespace, id);
      const { rows } = await c.query<{ record: string }>(
        'SELECT record FROM documents WHERE namespace = $1 AND id = $2',
        [namespace, id],
      );
      const next = fn(rows[0] ? parseRecord(rows[0].record) : null);
      if (next === null) {
        // A document's texts go with it, in the same transaction: a crash cannot leave them behind, unreachable.
        if (rows[0]) {
          await c.query('DELETE FROM documents WHERE namespace = $1 AND id = $2', [namespace, id]);
          await c.query('DELETE FROM document_texts WHERE namespace = $1 AND id = $2', [namespace, id]);
          await documentDeleted(c, namespace, id, parseRecord(rows[0].record).version);
        }
        return null;
      }
      if (next.namespace !== namespace || next.id !== id) {
        throw new AppError('INTERNAL', [], {
          cause: new Error(`update(${namespace}, ${id}) returned a record keyed ${next.namespace}/${next.id}`),
        });
      }
      const json = JSON.stringify(next);
      await c.query(
        `INSERT INTO documents (namespace, id, created_at, record) VALUES ($1, $2, $3, $4)
         ON CONFLICT (namespace, id) DO UPDATE SET created_at = EXCLUDED.created_at, record = EXCLUDED.record`,
        [namespace, id, next.createdAt, json],
      );
      await liveChanged(c, namespace, id, rows[0] ? parseRecord(rows[0].record).version : null, next.version);
      if (opts.dropTextsStoredBefore !== undefined) {
        await c.query(
          `DELETE FROM document_texts WHERE namespace = $1 AND id = $2
             AND seq < (SELECT seq FROM document_texts WHERE namespace = $1 AND id = $2 AND version = $3)`,
          [namespace, id, opts.dropTextsStoredBefore],
        );
      }
      return parseRecord(json);
    });
  }

  async delete(namespace: string, id: string): Promise<void> {
    await this.update(namespace, id, () => null);
  }

  async putText(namespace: string, id: string, version: string, text: string): Promise<void> {
    await this.#db.query(
      'documents.putText',
      `INSERT INTO document_texts (namespace, id, version, body) VALUES ($1, $2, $3, $4)
       ON CONFLICT (namespace, id, version) DO UPDATE SET body = EXCLUDED.body, seq = nextval(pg_get_serial_sequence('document_texts', 'seq'))`,
      [namespace, id, version, Buffer.from(text, 'utf8')],
    );
  }

  async putTerms(namespace: string, id: string, version: string, terms: readonly string[]): Promise<void> {
    await this.#db.transaction('documents.putTerms', async (c) => {
      // The record's lock: the version cannot go live (or stop being live) between the check and the count.
      await lockRecord(c, namespace, id);
      const { rows } = await c.query<{ record: string }>(
        'SELECT record FROM documents WHERE namespace = $1 AND id = $2',
        [namespace, id],
      );
      const live = rows[0] ? parseRecord(rows[0].record).version === version : false;
      await putVersionTerms(c, namespace, id, version, terms, live);
    });
  }

  async hasTerms(namespace: string, id: string, version: string): Promise<boolean> {
    const { rows } = await this.#db.query('documents.hasTerms', HAS_TERMS_SQL, [namespace, id, version]);
    return rows.length > 0;
  }

  async termStats(namespace: string, terms: readonly string[]): Promise<TermDocumentStats> {
    const { rows } = await this.#db.query<{ term: string | null; documents: number }>(
      'documents.termStats',
      TERM_STATS_SQL,
      [namespace, [...new Set(terms)]],
    );
    return termStatsFromRows(rows);
  }

  async getText(namespace: string, id: string, version: string): Promise<string | null> {
    const { rows } = await this.#db.query<{ body: Buffer }>(
      'documents.getText',
      'SELECT body FROM document_texts WHERE namespace = $1 AND id = $2 AND version = $3',
      [namespace, id, version],
    );
    return rows[0] ? rows[0].body.toString('utf8') : null;
  }

  async deleteTexts(namespace: string, id: string, opts: { keepVersion?: string } = {}): Promise<void> {
    if (opts.keepVersion === undefined) {
      await this.#db.query('documents.deleteTexts', 'DELETE FROM document_texts WHERE namespace = $1 AND id = $2', [
        namespace,
        id,
      ]);
    } else {
      await this.#db.query(
        'documents.deleteTexts',
        'DELETE FROM document_texts WHERE namespace = $1 AND id = $2 AND version <> $3',
        [namespace, id, opts.keepVersion],
      );
    }
  }

  async namespaces(): Promise<string[]> {
    const { rows } = await this.#db.query<{ namespace: string }>(
      'documents.namespaces',
      'SELECT DISTINCT namespace FROM documents ORDER BY namespace',
    );
    return rows.map((r) => r.namespace);
  }

  async health(): Promise<void> {
    await this.#db.health();
  }

  async close(): Promise<void> {
    // The pool belongs to the container, which closes it after every adapter.
  }
}

/** Serialises transactions on one record, across processes, until this transaction ends. */
async function lockRecord(c: Queryable, namespace: string, id: string): Promise<void> {
  await c.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [namespace, id]);
}

function parseRecord(json: string): DocumentRecord {
  return JSON.parse(json) as DocumentRecord;
}
