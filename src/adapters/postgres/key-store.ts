import type { ApiKeyRecord, KeyStore } from '../../ports/key-store.js';
import type { PgDatabase } from './database.js';

/** API keys (hashes only) in PostgreSQL (table `api_keys`, migration 001), seen by every API replica. */
export class PostgresKeyStore implements KeyStore {
  readonly #db: PgDatabase;

  constructor(opts: { db: PgDatabase }) {
    this.#db = opts.db;
  }

  async findByHash(hash: string): Promise<ApiKeyRecord | null> {
    const { rows } = await this.#db.query<{ record: string }>(
      'keys.findByHash',
      'SELECT record FROM api_keys WHERE hash = $1',
      [hash],
    );
    return rows[0] ? (JSON.parse(rows[0].record) as ApiKeyRecord) : null;
  }

  async add(record: ApiKeyRecord): Promise<void> {
    await this.#db.query(
      'keys.add',
      `INSERT INTO api_keys (hash, id, namespace, created_at, record) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (hash) DO UPDATE SET id = EXCLUDED.id, namespace = EXCLUDED.namespace, created_at = EXCLUDED.created_at, record = EXCLUDED.record`,
      [record.hash, record.id, record.namespace, record.createdAt, JSON.stringify(record)],
    );
  }

  async list(namespace?: string): Promise<ApiKeyRecord[]> {
    const { rows } =
      namespace === undefined
        ? await this.#db.query<{ record: string }>('keys.list', 'SELECT record FROM api_keys ORDER BY created_at, id')
        : await this.#db.query<{ record: string }>(
            'keys.list',
            'SELECT record FROM api_keys WHERE namespace = $1 ORDER BY created_at, id',
            [namespace],
          );
    return rows.map((r) => JSON.parse(r.record) as ApiKeyRecord);
  }

  async remove(id: string): Promise<boolean> {
    const { rowCount } = await this.#db.query('keys.remove', 'DELETE FROM api_keys WHERE id = $1', [id]);
    return (rowCount ?? 0) > 0;
  }

  async close(): Promise<void> {
    // The pool belongs to the container, which closes it after every adapter.
  }
}
