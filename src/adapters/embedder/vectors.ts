import { AppError, cancelledBy } from '../../errors.js';

/** Scales `v` in place to unit L2 norm (a zero vector stays zero) and returns it. */
export function l2normalize(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i] = v[i]! / norm;
  return v;
}

/** Splits `items` into consecutive slices of at most `size`. */
export function batches<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Throws AppError CANCELLED (transient) when the caller has given up. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelledBy(signal);
}

/** Checks an adapter's own output before it leaves the adapter. */
export function assertVectors(vectors: readonly Float32Array[], count: number, dims: number, what: string): void {
  if (vectors.length !== count) {
    throw new AppError('EMBEDDER_BAD_RESPONSE', [`${what}: expected ${count} vectors, got ${vectors.length}`]);
  }
  for (const v of vectors) {
    if (v.length !== dims)
      throw new AppError('EMBEDDER_BAD_RESPONSE', [`${what}: expected ${dims} dimensions, got ${v.length}`]);
  }
}
