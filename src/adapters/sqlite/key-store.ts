import type Database from 'better-sqlite3';
import type { ApiKeyRecord, KeyStore } from '../../ports/key-store.js';
import { sqlite } from './errors.js';

interface Row {
  id: string;
  hash: string;
  namespace: string;
  name: string;
  created_at: string;
}

const toRecord = (r: Row): ApiKeyRecord => ({
  id: r.id,
  hash: r.hash,
  namespace: r.namespace,
  name: r.name,
  createdAt: r.created_at,
});

/**
 * API keys in the process's SQLite database (table `api_keys`, migration
 * 001-catalogue): the sha256 of each secret, never the secret. A lookup by
 * hash is one indexed read. The database is the container's; close() leaves it open.
 */
export class SqliteKeyStore implements KeyStore {
  readonly #byHash: Database.Statement<[string], Row>;
  readonly #insert: Database.Statement<[string, string, string, string, string]>;
  readonly #all: Database.Statement<[], Row>;
  readonly #inNamespace: Database.Statement<[string], Row>;
  readonly #remove: Database.Statement<[string]>;

  constructor(opts: { db: Database.Database }) {
    const db = opts.db;
    this.#byHash = db.prepare('SELECT id, hash, namespace, name, created_at FROM api_keys WHERE hash = ?');
    this.#insert = db.prepare('INSERT INTO api_keys (id, hash, namespace, name, created_at) VALUES (?, ?, ?, ?, ?)');
    this.#all = db.prepare('SELECT id, hash, namespace, name, created_at FROM api_keys ORDER BY created_at, id');
    this.#inNamespace = db.prepare(
      'SELECT id, hash, namespace, name, created_at FROM api_keys WHERE namespace = ? ORDER BY created_at, id',
    );
    this.#remove = db.prepare('DELETE FROM api_keys WHERE id = ?');
  }

  async findByHash(hash: string): Promise<ApiKeyRecord | null> {
    const row = sqlite('keys.findByHash', () => this.#byHash.get(hash));
    return row ? toRecord(row) : null;
  }

  async add(record: ApiKeyRecord): Promise<void> {
    sqlite('keys.add', () => this.#insert.run(record.id, record.hash, record.namespace, record.name, record.createdAt));
  }

  async list(namespace?: string): Promise<ApiKeyRecord[]> {
    return sqlite('keys.list', () =>
      (namespace === undefined ? this.#all.all() : this.#inNamespace.all(namespace)).map(toRecord),
    );
  }

  async remove(id: string): Promise<boolean> {
    return sqlite('keys.remove', () => this.#remove.run(id).changes > 0);
  }

  async close(): Promise<void> {}
}
