/**
 * Turns text into vectors. One adapter per model family lives in
 * src/adapters/embedder/; the composition root picks one from config.
 */
export interface Embedder {
  /**
   * Stable identity of the model and its settings. Cached vectors are keyed by
   * it, so two embedders with the same id must produce the same vectors.
   */
  readonly id: string;
  /** Vector size; resolves after the model is loaded. */
  dimensions(): Promise<number>;
  /** Embeds passages (document chunks). Order of the output follows the input. */
  embedDocuments(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]>;
  /** Embeds a search query (some models use a different prefix for queries). */
  embedQuery(text: string, signal?: AbortSignal): Promise<Float32Array>;
  /** Throws when the model or endpoint cannot serve requests. */
  health(): Promise<void>;
  close(): Promise<void>;
}
