import { createHash } from 'node:crypto';
import { mkdir, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from 'pino';
import { AppError } from '../../errors.js';
import { Lru } from '../../core/lru.js';
import type { Embedder } from '../../ports/embedder.js';
import { throwIfAborted } from './vectors.js';

export interface CachingEmbedderOptions {
  /** Directory of the cache files, normally `<DATA_DIR>/embedding-cache`. Created on first write. */
  dir: string;
  /**
   * Bytes of chunk vectors kept in memory (EMBEDDING_CACHE_MB), least
   * recently used dropped first; a dropped vector is read back from the file
   * when asked for again. Default 64 MiB (~30 000 USE-lite vectors).
   */
  maxBytes?: number;
  /** Query vectors kept in memory, least recently used dropped first. Default 1024. */
  maxQueries?: number;
  /** Bytes of the file decoded at a time while indexing it, so a large file is never read into memory whole. Default 8 MiB. */
  readChunkBytes?: number;
  logger?: Logger;
}

/** What a Map entry with a 64-character hex key and a Float32Array costs beyond the vector's own bytes (measured order of magnitude). */
const ENTRY_OVERHEAD_BYTES = 200;
/** Hex characters of the digest that key the file index (96 bits); the full digest in the record is checked on reading. */
const INDEX_KEY_CHARS = 24;

/**
 * Record layout, little-endian; one append-only file per embedder id:
 *
 *   magic "EMB1" | dims u32 | sha256(text) 32 B | dims × f32 | crc32(dims..vector) u32
 *
 * Every record carries its own size and checksum, so a torn write (a crash
 * mid-append, or two processes' appends interleaving on a filesystem that does
 * not keep O_APPEND writes whole) only loses the records it touches: the reader
 * skips bytes until the next magic that starts a record whose checksum holds.
 */
const MAGIC = Buffer.from('EMB1', 'latin1');
const HEADER = 4 + 4 + 32;
const MAX_DIMS = 1 << 16;

const recordSize = (dims: number): number => HEADER + dims * 4 + 4;

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Encodes one record per vector into a single buffer, so a batch is one write. */
export function encodeRecords(entries: readonly { hash: Buffer; vector: Float32Array }[]): Buffer {
  const size = entries.reduce((n, e) => n + recordSize(e.vector.length), 0);
  const buf = Buffer.alloc(size);
  let at = 0;
  for (const { hash, vector } of entries) {
    MAGIC.copy(buf, at);
    buf.writeUInt32LE(vector.length, at + 4);
    hash.copy(buf, at + 8);
    for (let i = 0; i < vector.length; i++) buf.writeFloatLE(vector[i]!, at + HEADER + i * 4);
    const end = at + HEADER + vector.length * 4;
    buf.writeUInt32LE(crc32(buf.subarray(at + 4, end)), end);
    at = end + 4;
  }
  return buf;
}

/**
 * Checks the records in `buf`, calling `onRecord` with the offset and
 * dimensions of each whole one (`readVector` decodes it: indexing a file needs
 * no vector). `consumed` is where the next read must resume: the start of a
 * record that runs past the end of `buf` (still being written, or torn by a
 * crash — the next read tells which), or the end of the buffer.
 */
export function decodeRecords(buf: Buffer, onRecord: (hashHex: string, at: number, dims: number) => void): { consumed: number; skippedBytes: number } {
  let at = 0;
  let skippedBytes = 0;
  const resync = (): number => {
    const next = buf.indexOf(MAGIC, at + 1);
    // Keep a possibly cut magic at the very end for the next read.
    const to = next === -1 ? Math.max(at + 1, buf.length - (MAGIC.length - 1)) : next;
    skippedBytes += to - at;
    return to;
  };
  while (at + HEADER <= buf.length) {
    if (buf.compare(MAGIC, 0, 4, at, at + 4) !== 0) {
      at = resync();
      continue;
    }
    const dims = buf.readUInt32LE(at + 4);
    if (dims === 0 || dims > MAX_DIMS) {
      at = resync();
      continue;
    }
    const end = at + recordSize(dims);
    if (end > buf.length) break;
    const vecEnd = end - 4;
    if (crc32(buf.subarray(at + 4, vecEnd)) !== buf.readUInt32LE(vecEnd)) {
      at = resync();
      continue;
    }
    onRecord(buf.toString('hex', at + 8, at + HEADER), at, dims);
    at = end;
  }
  return { consumed: Math.min(at, buf.length), skippedBytes };
}

/** The vector of the record at `at` in `buf`, one that {@link decodeRecords} passed. */
function readVector(buf: Buffer, at: number, dims: number): Float32Array {
  const vector = new Float32Array(dims);
  for (let i = 0; i < dims; i++) vector[i] = buf.readFloatLE(at + HEADER + i * 4);
  return vector;
}

/** File name for an embedder id: readable, filesystem-safe, and unique through a hash of the full id. */
export function cacheFileName(embedderId: string): string {
  const slug = embedderId.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80);
  return `${slug}-${sha256(embedderId).toString('hex').slice(0, 16)}.bin`;
}

/**
 * Persistent cache of document-chunk vectors in front of any embedder, keyed
 * by (embedder id, sha256 of the text): a chunk the same model has embedded
 * once — in this process, an earlier run, or another worker sharing the
 * directory — is never embedded again. Identical texts within a call, and
 * texts another call is already embedding, are embedded once.
 *
 * Memory is bounded: vectors live in an LRU of `maxBytes`; the file is the
 * store, and an index of it (record offset by digest, ~70 bytes per record
 * against 2 KB for a USE-lite vector; it grows with the file, not with
 * requests) lets an evicted vector be read back instead of embedded again.
 * Query vectors are kept in a small LRU of their own, in memory only: a
 * question asked again (an eval replay, a retried request, every step of a
 * Chain-of-Agents run that embeds the question) is not embedded again.
 */
export class CachingEmbedder implements Embedder {
  readonly id: string;
  private readonly file: string;
  private readonly dir: string;
  private readonly logger: Logger | undefined;
  private readonly vectors: Lru<string, Float32Array>;
  private readonly queries: Lru<string, Float32Array>;
  /** Offset in the file of the record of each digest (by its first INDEX_KEY_CHARS hex characters). */
  private readonly offsets = new Map<string, number>();
  /** Dimensions of the records in the file, once one was read. */
  private dims: number | undefined;
  private readonly inFlight = new Map<string, Promise<Float32Array>>();
  private readonly readChunkBytes: number;
  private readOffset = 0;
  private reading: Promise<void> = Promise.resolve();
  private loaded: Promise<void> | undefined;
  private hits = 0;
  private misses = 0;

  constructor(
    private readonly inner: Embedder,
    opts: CachingEmbedderOptions,
  ) {
    this.id = inner.id;
    this.dir = opts.dir;
    this.file = join(opts.dir, cacheFileName(inner.id));
    this.logger = opts.logger;
    const weigh = (v: Float32Array): number => v.byteLength + ENTRY_OVERHEAD_BYTES;
    this.vectors = new Lru(opts.maxBytes ?? 64 * 1024 * 1024, weigh);
    this.queries = new Lru(opts.maxQueries ?? 1024);
    // At least one whole record of the largest size, so every pass can make progress.
    this.readChunkBytes = Math.max(recordSize(MAX_DIMS), opts.readChunkBytes ?? 8 * 1024 * 1024);
  }

  /** Texts served from the cache (hits) and texts sent to the inner embedder (misses), since construction; vectors and index entries held in memory. */
  stats(): { hits: number; misses: number; vectorsInMemory: number; bytesInMemory: number; indexed: number; queriesInMemory: number } {
    return {
      hits: this.hits,
      misses: this.misses,
      vectorsInMemory: this.vectors.size,
      bytesInMemory: this.vectors.weight,
      indexed: this.offsets.size,
      queriesInMemory: this.queries.size,
    };
  }

  dimensions(): Promise<number> {
    return this.inner.dimensions();
  }

  async embedQuery(text: string, signal?: AbortSignal): Promise<Float32Array> {
    const key = sha256(text).toString('hex');
    let v = this.queries.get(key);
    if (!v) {
      v = await this.inner.embedQuery(text, signal);
      this.queries.set(key, v);
    }
    // A copy, so a caller scaling its vector cannot corrupt the cache.
    return v.slice();
  }

  health(): Promise<void> {
    return this.inner.health();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  async embedDocuments(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]> {
    throwIfAborted(signal);
    if (texts.length === 0) return [];
    this.loaded ??= this.readNew();
    await this.loaded;

    const keys = texts.map((t) => sha256(t).toString('hex'));
    const found = new Map<string, Float32Array | Promise<Float32Array>>();
    const take = (): Map<string, string> => {
      const missing = new Map<string, string>();
      keys.forEach((key, i) => {
        if (found.has(key)) return;
        const v = this.vectors.get(key) ?? this.inFlight.get(key);
        if (v) found.set(key, v);
        else missing.set(key, texts[i]!);
      });
      return missing;
    };
    let missing = take();
    if (missing.size > 0) {
      // In the file (evicted from memory, or another process embedded them since we last looked)?
      await this.readNew();
      for (const [key, v] of await this.readBack([...missing.keys()])) found.set(key, v);
      missing = take();
    }
    this.misses += missing.size;
    this.hits += texts.length - missing.size;
    if (missing.size > 0) {
      this.embedMissing(missing, signal);
      take();
    }

    // Taken synchronously above: an in-flight entry is removed as soon as its batch settles.
    const vectors = await Promise.all(keys.map((key) => found.get(key)));
    return vectors.map((v, i) => {
      if (!v) throw new AppError('INTERNAL', [], { cause: new Error(`embedding cache lost ${keys[i]}`) });
      // A copy, so a caller scaling its vector cannot corrupt the cache.
      return v.slice();
    });
  }

  /**
   * Starts one inner call for all missing texts. Calls that need the same texts
   * meanwhile wait for it, so they share its fate, cancellation included.
   */
  private embedMissing(missing: Map<string, string>, signal: AbortSignal | undefined): void {
    const keys = [...missing.keys()];
    const batch = this.inner.embedDocuments([...missing.values()], signal).then(async (vectors) => {
      if (vectors.length !== keys.length) {
        throw new AppError('EMBEDDER_BAD_RESPONSE', [`${this.id}: ${vectors.length} vectors for ${keys.length} texts`]);
      }
      keys.forEach((key, i) => this.vectors.set(key, vectors[i]!));
      await this.append(keys.map((key, i) => ({ hash: Buffer.from(key, 'hex'), vector: vectors[i]! })));
      return vectors;
    });
    keys.forEach((key, i) => {
      const one = batch.then((vectors) => vectors[i]!);
      // Waiters observe the failure through their own await; this keeps it from being "unhandled".
      one.catch(() => undefined);
      this.inFlight.set(key, one);
    });
    const settle = (): void => keys.forEach((key) => this.inFlight.delete(key));
    batch.then(settle, settle);
  }

  /**
   * Appends the records. The index learns their offsets from the next
   * readNew, which reads them back like another process's: appends of
   * several processes interleave, so only the file knows where each landed.
   */
  private async append(entries: { hash: Buffer; vector: Float32Array }[]): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
      const fh = await open(this.file, 'a');
      try {
        // One write call per batch: with O_APPEND, concurrent writers' batches do not interleave.
        const buf = encodeRecords(entries);
        let written = 0;
        while (written < buf.length) written += (await fh.write(buf, written)).bytesWritten;
      } finally {
        await fh.close();
      }
    } catch (err) {
      // The vectors are still returned and kept in memory; only their reuse after eviction or a restart is lost.
      this.logger?.warn({ err, file: this.file }, 'embedding cache write failed');
    }
  }

  /**
   * The vectors of `keys` that the index knows, read from the file (and put
   * back in memory); a record that fails its checks is left out, to be
   * embedded again.
   */
  private async readBack(keys: readonly string[]): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    const wanted = keys.flatMap((key) => {
      const at = this.offsets.get(key.slice(0, INDEX_KEY_CHARS));
      return at === undefined || this.dims === undefined ? [] : [{ key, at }];
    });
    if (wanted.length === 0) return out;
    const size = recordSize(this.dims!);
    try {
      const fh = await open(this.file, 'r');
      try {
        const buf = Buffer.alloc(size);
        for (const { key, at } of wanted.sort((a, b) => a.at - b.at)) {
          const { bytesRead } = await fh.read(buf, 0, size, at);
          const record = buf.subarray(0, bytesRead);
          decodeRecords(record, (hashHex, start, dims) => {
            if (hashHex !== key) return;
            const vector = readVector(record, start, dims);
            out.set(key, vector);
            this.vectors.set(key, vector);
          });
        }
      } finally {
        await fh.close();
      }
    } catch (err) {
      this.logger?.warn({ err, file: this.file }, 'embedding cache unreadable');
    }
    return out;
  }

  /** Indexes records appended since the last read (by this or another process), serialised. */
  private readNew(): Promise<void> {
    this.reading = this.reading.then(() =>
      this.readTail().catch((err: unknown) => {
        // Like a failed write, an unreadable cache costs re-embedding, not the request.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.logger?.warn({ err, file: this.file }, 'embedding cache unreadable');
      }),
    );
    return this.reading;
  }

  private async readTail(): Promise<void> {
    const size = (await stat(this.file)).size;
    if (size < this.readOffset) {
      // Replaced or truncated by hand: what the index says no longer holds.
      this.readOffset = 0;
      this.offsets.clear();
    }
    if (size === this.readOffset) return;
    const fh = await open(this.file, 'r');
    try {
      let skipped = 0;
      const buf = Buffer.alloc(Math.min(this.readChunkBytes, size - this.readOffset));
      while (this.readOffset < size) {
        const base = this.readOffset;
        let got = 0;
        while (got < buf.length) {
          const { bytesRead } = await fh.read(buf, got, buf.length - got, base + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        const { consumed, skippedBytes } = decodeRecords(buf.subarray(0, got), (key, at, dims) => {
          this.offsets.set(key.slice(0, INDEX_KEY_CHARS), base + at);
          this.dims = dims;
        });
        skipped += skippedBytes;
        this.readOffset += consumed;
        // A record cut by the end of the file is finished by a later read; one cut by the end of the buffer by the next pass.
        if (consumed === 0 || got < buf.length) break;
      }
      if (skipped > 0) this.logger?.warn({ file: this.file, skippedBytes: skipped }, 'embedding cache: skipped damaged bytes');
    } finally {
      await fh.close();
    }
  }
}
