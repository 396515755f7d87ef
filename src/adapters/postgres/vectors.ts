import { endianness } from 'node:os';

const LITTLE_ENDIAN = endianness() === 'LE';

/** A vector as the bytes stored in PostgreSQL: float32, little-endian whatever the machine. */
export function vectorToBytes(v: Float32Array): Buffer {
  const buf = Buffer.from(new Float32Array(v).buffer);
  return LITTLE_ENDIAN ? buf : buf.swap32();
}

/** The vector of {@link vectorToBytes}' bytes (copied: a pg Buffer need not be aligned for a Float32Array view). */
export function bytesToVector(buf: Buffer): Float32Array {
  const out = new Float32Array(buf.length / 4);
  const bytes = Buffer.from(out.buffer);
  bytes.set(buf);
  if (!LITTLE_ENDIAN) bytes.swap32();
  return out;
}
