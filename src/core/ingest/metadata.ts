import { AppError } from '../../errors.js';

/** Deepest nesting of a document's metadata (the object itself is depth 1). */
export const METADATA_MAX_DEPTH = 16;
/** Largest metadata, serialised as JSON, in bytes. */
export const METADATA_MAX_BYTES = 64 * 1024;
/** Most values (objects, arrays and scalars) in one metadata object. */
const METADATA_MAX_VALUES = 10_000;

/**
 * Refuses metadata no store should keep, before anything is written: nested
 * deeper than {@link METADATA_MAX_DEPTH} (5,000 levels overflowed the stack
 * of JSON.stringify in the store, after the text was on disk), larger than
 * {@link METADATA_MAX_BYTES}, or holding a number JSON cannot write back
 * (1e999 parses to Infinity and would be stored as null). The walk is
 * iterative, so no depth overflows it.
 */
export function assertValidMetadata(metadata: unknown): void {
  if (metadata === undefined) return;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
    throw new AppError('INVALID_METADATA', ['it must be a JSON object']);
  const stack: Array<[unknown, number, string]> = [[metadata, 1, 'metadata']];
  let values = 0;
  while (stack.length > 0) {
    const [value, depth, path] = stack.pop()!;
    if (++values > METADATA_MAX_VALUES)
      throw new AppError('INVALID_METADATA', [`it holds more than ${METADATA_MAX_VALUES} values`]);
    if (typeof value === 'number' && !Number.isFinite(value))
      throw new AppError('INVALID_METADATA', [`${path} is not a finite number`]);
    if (typeof value !== 'object' || value === null) continue;
    if (depth > METADATA_MAX_DEPTH)
      throw new AppError('INVALID_METADATA', [`it is nested deeper than ${METADATA_MAX_DEPTH} levels`]);
    for (const [k, v] of Object.entries(value))
      stack.push([v, depth + 1, Array.isArray(value) ? `${path}[${k}]` : `${path}.${k.slice(0, 40)}`]);
  }
  const bytes = Buffer.byteLength(JSON.stringify(metadata));
  if (bytes > METADATA_MAX_BYTES)
    throw new AppError('INVALID_METADATA', [`it is ${bytes} bytes as JSON, more than ${METADATA_MAX_BYTES}`]);
}
