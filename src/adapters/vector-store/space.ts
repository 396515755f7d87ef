import { AppError } from '../../errors.js';

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
