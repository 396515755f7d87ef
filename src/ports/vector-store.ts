/**
 * A chunk of a document as stored. `version` is the content hash of the
 * document text the chunk was cut from: readers ask only for the live version
 * of each document, so a re-ingested document never shows old and new chunks
 * mixed.
 */
export interface ChunkRecord {
  /** Deterministic: derived from namespace, document id, version and order. */
  id: string;
  namespace: string;
  documentId: string;
  version: string;
  /** Position of the chunk in the document, from 0. */
  order: number;
  /** Character offsets into the original text: text === original.slice(start, end). */
  start: number;
  end: number;
  /** Token count with the service tokenizer (cl100k). */
  tokens: number;
  text: string;
}

export interface StoredChunk extends ChunkRecord {
  vector: Float32Array;
}

export interface ScoredChunk {
  chunk: ChunkRecord;
  /** Cosine similarity to the query, in [-1, 1]; from `searchText`, the lexical score (higher is better). */
  score: number;
}

/** A document version to read: the store only returns chunks of these. */
export interface DocumentVersionRef {
  documentId: string;
  version: string;
}

export interface VectorStore {
  readonly name: string;
  /**
   * Creates the collection and indexes if missing; idempotent. `model` is the
   * id of the embedder whose vectors the store is given and reads (its
   * `Embedder.id`): vectors of one size from two models cannot be compared,
   * so a document version whose vectors another model wrote reads as absent
   * (`hasChunks` false, no chunks, no scores) until it is written again with
   * this model, which replaces the other's chunks of that version.
   */
  ensureReady(dimensions: number, model: string): Promise<void>;
  /** Inserts or overwrites chunks by id; idempotent, so a retried job never duplicates. */
  upsert(namespace: string, chunks: readonly StoredChunk[]): Promise<void>;
  /**
   * Deletes the chunks of a document: all versions, or all but `keepVersion`.
   */
  deleteDocument(namespace: string, documentId: string, opts?: { keepVersion?: string }): Promise<void>;
  /** Every chunk of the given document versions with its exact similarity, unsorted. */
  scoreAll(namespace: string, docs: readonly DocumentVersionRef[], query: Float32Array): Promise<ScoredChunk[]>;
  /** The `limit` most similar chunks among the given versions (approximate in Qdrant). */
  search(
    namespace: string,
    docs: readonly DocumentVersionRef[],
    query: Float32Array,
    limit: number,
  ): Promise<ScoredChunk[]>;
  /**
   * The `limit` best chunks of the given document versions by lexical relevance
   * (BM25 or the backend's equivalent: SQLite FTS5 bm25, PostgreSQL full text,
   * Qdrant sparse vectors with the IDF modifier), best first. Scores are
   * higher-is-better and comparable only within one call.
   */
  searchText?(
    namespace: string,
    docs: readonly DocumentVersionRef[],
    query: string,
    limit: number,
  ): Promise<ScoredChunk[]>;
  /** Whether the store holds chunks of this document version (in its vector size, from its model): what a start checks per live version, cheaply. */
  hasChunks(namespace: string, doc: DocumentVersionRef): Promise<boolean>;
  /** The chunks of one document version in order, without vectors. */
  getChunks(namespace: string, doc: DocumentVersionRef): Promise<ChunkRecord[]>;
  /** Throws when the backend is unreachable. */
  health(): Promise<void>;
  close(): Promise<void>;
}
