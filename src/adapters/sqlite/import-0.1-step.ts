import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { DocumentStore } from '../../ports/document-store.js';
import type { Embedder } from '../../ports/embedder.js';
import type { EmbeddingCacheStore } from '../../ports/embedding-cache.js';
import type { JobStore } from '../../ports/job-store.js';
import type { KeyStore } from '../../ports/key-store.js';
import type { VectorStore } from '../../ports/vector-store.js';

// The steps' types, in a module of their own: import-0.1.ts runs the steps and
// import-0.1-chunks.ts defines some, so neither imports the other for them.

/** What the steps read from and write to. */
export interface Import01Context {
  /** The DATA_DIR holding the 0.1 files. */
  dataDir: string;
  documents: DocumentStore;
  keys: KeyStore;
  jobs: JobStore;
  vectors: VectorStore;
  /** The embedding cache's store the imported vectors go to, under `embedder.id`. */
  embeddingCache: EmbeddingCacheStore;
  /** The configured embedder: its id names the model whose 0.1 cache is imported; it embeds only chunks that cache lacks. */
  embedder: Embedder;
  /** How ingestion cuts texts (CHUNK_TOKENS, CHUNK_OVERLAP_TOKENS): the chunks are rebuilt the same way. */
  chunking: { chunkTokens: number; overlapTokens: number };
  /** DATA_DIR's SQLite database, for steps whose store writes its own tables. */
  sqlite: Database.Database;
  logger: Logger;
}

/** One part of the import. Idempotent: writes only what is missing. Returns counts for the summary. */
export interface Import01Step {
  name: string;
  run(ctx: Import01Context): Promise<Record<string, number>>;
}
