import { endianness } from 'node:os';

const LITTLE_ENDIAN = endianness() === 'LE';

/** A vector as the BLOB the SQLite tables keep: its float32 components, little-endian. */
export function vectorBlob(v: Float32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  const buf = Buffer.alloc(v.length * 4);
  for (let i = 0; i < v.length; i++) buf.writeFloatLE(v[i] as number, i * 4);
  return buf;
}

/** Copies the vector in `blob` into `into` from component `at` on (a BLOB may sit at any offset of its buffer). */
export function readVectorBlob(blob: Uint8Array, into: Float32Array, at = 0): void {
  if (LITTLE_ENDIAN) {
    new Uint8Array(into.buffer, into.byteOffset + at * 4, blob.byteLength).set(blob);
    return;
  }
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  for (let i = 0; i < blob.byteLength / 4; i++) into[at + i] = view.getFloat32(i * 4, true);
}

/**
 * SQLite failures a retry can get past: another process holding the write
 * lock past the busy timeout, I/O errors, a full disk. Anything else (a
 * constraint, a bad statement) is a bug or bad data, and retrying will not help.
 */
export function isTransientSqliteError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|PROTOCOL)/.test(code);
}
