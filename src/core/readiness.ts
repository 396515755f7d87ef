import type { Embedder } from '../ports/embedder.js';
import type { VectorStore } from '../ports/vector-store.js';

/**
 * Prepares a vector store for an embedder's vector size and model, once: the first call
 * loads the model to learn its size; later calls share that promise; a failure
 * is not remembered, so the next call tries again.
 */
export function vectorReadiness(vectors: VectorStore, embedder: Embedder): () => Promise<void> {
  let pending: Promise<void> | null = null;
  return () => {
    pending ??= (async () => vectors.ensureReady(await embedder.dimensions(), embedder.id))().catch((err: unknown) => {
      pending = null;
      throw err;
    });
    return pending;
  };
}
