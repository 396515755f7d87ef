import type Database from 'better-sqlite3';
import type { EmbeddingCacheStore } from '../../ports/embedding-cache.js';
import { readVectorBlob, vectorBlob } from './blob.js';

/** Keys per statement: json_each takes any number, this bounds one statement's work. */
const KEYS_PER_READ = 500;

/**
 * The embedding cache's durable store in the embedded SQLite database
 * (table `embedding_cache`, migration 002-chunks): one row per (model, key),
 * the vector as a float32 BLOB. A batch of new vectors is one transaction,
 * so a killed process leaves each batch whole or absent, and every process on
 * the DATA_DIR sees the others' vectors as soon as they commit.
 */
export class SqliteEmbeddingCache implements EmbeddingCacheStore {
  readonly #db: Database.Database;
  readonly #get: Database.Statement<[string, string], { key: string; vector: Buffer }>;
  readonly #put: Database.Statement<[string, string, Buffer]>;

  /** `db`: the process's database (`openSqlite`), migrated; its owner closes it. */
  constructor(opts: { db: Database.Database }) {
    this.#db = opts.db;
    this.#get = this.#db.prepare(
      'SELECT key, vector FROM embedding_cache WHERE model = ? AND key IN (SELECT value FROM json_each(?))',
    );
    // DO NOTHING: the first vector stored under a key stays (the model gives the same one again).
    this.#put = this.#db.prepare(
      'INSERT INTO embedding_cache (model, key, vector) VALUES (?, ?, ?) ON CONFLICT (model, key) DO NOTHING',
    );
  }

  async getMany(model: string, keys: readonly string[]): Promise<Array<Float32Array | null>> {
    const found = new Map<string, Float32Array>();
    for (let i = 0; i < keys.length; i += KEYS_PER_READ) {
      for (const row of this.#get.all(model, JSON.stringify(keys.slice(i, i + KEYS_PER_READ)))) {
        // A row not a whole number of floats was damaged: treat it as missing (embedded again).
        if (row.vector.byteLength === 0 || row.vector.byteLength % 4 !== 0) continue;
        const v = new Float32Array(row.vector.byteLength / 4);
        readVectorBlob(row.vector, v);
        found.set(row.key, v);
      }
    }
    return keys.map((k) => found.get(k) ?? null);
  }

  async putMany(model: string, entries: ReadonlyArray<{ key: string; vector: Float32Array }>): Promise<void> {
    if (entries.length === 0) return;
    this.#db
      .transaction(() => {
        for (const e of entries) this.#put.run(model, e.key, vectorBlob(e.vector));
      })
      .immediate();
  }

  async close(): Promise<void> {}
}
