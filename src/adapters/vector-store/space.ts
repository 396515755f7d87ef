import { AppError } from '../../errors.js';
import type { StoredChunk } from '../../ports/vector-store.js';

/**
 * What every store's ensureReady accepts: a positive integer vector size and
 * the id of the embedding model whose vectors it reads and writes (never
 * empty: stores record '' for vectors written before the model was kept).
 */
export function checkSpace(dimensions: number, model: string): void {
  if (!Number.isInteger(dimensions) || dimensions <= 0) {
    throw new AppError('VECTOR_STORE_ERROR', [`invalid vector size ${dimensions}`]);
  }
  if (typeof model !== 'string' || model === '') {
    throw new AppError('VECTOR_STORE_ERROR', ['the embedding model id must be a non-empty string']);
  }
}

/**
 * A vector a store may write or compare: a Float32Array of the store's size with every component finite. A NaN or an
 * infinity (an embedding endpoint's fault) would make every cosine against it NaN, so it is refused, not kept.
 */
export function checkVector(v: Float32Array, dims: number, what: string): void {
  if (!(v instanceof Float32Array) || v.length !== dims) {
    throw new AppError('VECTOR_STORE_ERROR', [`${what} has ${v?.length ?? 'no'} dimensions, the store holds ${dims}`]);
  }
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) throw new AppError('VECTOR_STORE_ERROR', [`${what} has a non-finite component`]);
  }
}

/** Chunks a store may write into `namespace`: each of that namespace, with a vector {@link checkVector} accepts. */
export function checkChunks(namespace: string, chunks: readonly StoredChunk[], dims: number): void {
  for (const c of chunks) {
    if (c.namespace !== namespace) {
      throw new AppError('VECTOR_STORE_ERROR', [`chunk ${c.id} belongs to namespace ${c.namespace}, not ${namespace}`]);
    }
    checkVector(c.vector, dims, `chunk ${c.id}`);
  }
}
