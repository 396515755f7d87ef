import type { EmbeddingCacheStore } from '../../ports/embedding-cache.js';
import type { PgDatabase } from './database.js';
import { bytesToVector, vectorToBytes } from './vectors.js';

/** Rows per statement. */
const BATCH = 500;

/**
 * The durable embedding cache in PostgreSQL (table `embedding_cache`,
 * migration 002): a chunk embedded by one worker is never embedded again by
 * any process of the deployment.
 */
export class PostgresEmbeddingCache implements EmbeddingCacheStore {
  readonly #db: PgDatabase;

  constructor(opts: { db: PgDatabase }) {
    this.#db = opts.db;
  }

  async getMany(model: string, keys: readonly string[]): Promise<Array<Float32Array | null>> {
    const found = new Map<string, Float32Array>();
    for (let i = 0; i < keys.length; i += BATCH) {
      const { rows } = await this.#db.query<{ key: string; vector: Buffer }>(
        'embeddingCache.getMany',
        'SELECT key, vector FROM embedding_cache WHERE model = $1 AND key = ANY($2::text[])',
        [model, keys.slice(i, i + BATCH)],
      );
      for (const r of rows) found.set(r.key, bytesToVector(r.vector));
    }
    return keys.map((k) => found.get(k) ?? null);
  }

  async putMany(model: string, entries: ReadonlyArray<{ key: string; vector: Float32Array }>): Promise<void> {
    const byKey = new Map(entries.map((e) => [e.key, e.vector]));
    const all = [...byKey];
    for (let i = 0; i < all.length; i += BATCH) {
      const batch = all.slice(i, i + BATCH);
      // The first vector written under a key stays: the same model embeds the same text to the same vector.
      await this.#db.query(
        'embeddingCache.putMany',
        'INSERT INTO embedding_cache (model, key, vector) SELECT $1, k, v FROM unnest($2::text[], $3::bytea[]) AS e(k, v) ON CONFLICT DO NOTHING',
        [model, batch.map(([k]) => k), batch.map(([, v]) => vectorToBytes(v))],
      );
    }
  }

  async close(): Promise<void> {
    // The pool belongs to the container, which closes it after every adapter.
  }
}
