/** A piece of a document: `text === original.slice(start, end)`. */
export interface TextChunk {
  order: number;
  start: number;
  end: number;
  tokens: number;
  text: string;
}

/** Chunk sizes in cl100k tokens (see `chunkText`). */
export interface ChunkSizes {
  chunkTokens: number;
  overlapTokens: number;
}

/**
 * The tokenizer-heavy steps of ingestion: BPE over a whole book costs ~100 ms
 * per 88k tokens, so whoever runs them decides where (the event loop:
 * `inlineTokenWork` in src/core/ingest/inline-token-work.ts, or threads:
 * `TokenPool` in src/infra/token-pool.ts). Every implementation gives exactly
 * what `cl100k.count` and `chunkText` give.
 */
export interface TokenWork {
  /** The exact cl100k count of `text`. Rejects with CANCELLED (transient) when `signal` fires first. */
  count(text: string, signal?: AbortSignal): Promise<number>;
  /** `chunkText(text, sizes)` with the cl100k tokenizer. Rejects with CANCELLED (transient) when `signal` fires first. */
  chunk(text: string, sizes: ChunkSizes, signal?: AbortSignal): Promise<TextChunk[]>;
  /** Stops the threads, if any; pending calls reject. Idempotent. */
  close(): Promise<void>;
}
