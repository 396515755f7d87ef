/**
 * The durable part of the embedding cache: chunk vectors by (model, key),
 * where the key is a digest of the chunk text. The in-memory LRU in front of
 * it lives in the caching embedder; this store outlives the process and is
 * shared by every process on the same data (API, workers, the ingest CLI).
 */
export interface EmbeddingCacheStore {
  /** Vectors stored under (model, key), in the order asked; null where missing. */
  getMany(model: string, keys: readonly string[]): Promise<Array<Float32Array | null>>;
  /** Idempotent: a key written twice keeps one vector. */
  putMany(model: string, entries: ReadonlyArray<{ key: string; vector: Float32Array }>): Promise<void>;
  close(): Promise<void>;
}
