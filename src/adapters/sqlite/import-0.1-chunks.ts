import { createHash } from 'node:crypto';
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { chunkText } from '../../core/ingest/chunker.js';
import { chunkId } from '../../core/ids.js';
import { textKey } from '../embedder/cached.js';
import type { StoredChunk } from '../../ports/vector-store.js';
import type { Import01Step } from './import-0.1-step.js';

/**
 * The chunk store's part of the 0.1 import: the embedding cache (0.1 kept it
 * in a CRC-checked append-only file per model), then the chunks of every live
 * version, cut again from the imported texts with this release's chunker and
 * given their vectors from the imported cache, so that nothing is embedded
 * again. 0.1's vector part files are not read: the texts and the cache hold
 * everything they held.
 */

/**
 * 0.1's cache record, little-endian:
 *
 *   magic "EMB1" | dims u32 | sha256(text) 32 B | dims × f32 | crc32(dims..vector) u32
 *
 * A record torn by a crash or damaged fails its checksum and is skipped (it is
 * embedded again when needed), as 0.1's reader did.
 */
const MAGIC = Buffer.from('EMB1', 'latin1');
const HEADER = 4 + 4 + 32;
const MAX_DIMS = 1 << 16;
const recordSize = (dims: number): number => HEADER + dims * 4 + 4;
/** Bytes of a cache file read at a time, so a large file never sits in memory whole. */
const READ_BYTES = 8 * 1024 * 1024;
/** Vectors written to the cache store per call. */
const PUT_BATCH = 500;

/** 0.1's file name of a model's cache: readable, filesystem-safe, unique through a hash of the full id. */
export function cacheFileName01(model: string): string {
  const slug = model.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80);
  return `${slug}-${createHash('sha256').update(model, 'utf8').digest('hex').slice(0, 16)}.bin`;
}

/**
 * The whole records of `buf` from its start: key (hex digest) and vector of
 * each, and where the next read must resume (the start of a record cut by the
 * end of `buf`). Bytes that start no valid record are skipped up to the next magic.
 */
export function decodeCacheRecords01(buf: Buffer): {
  records: Array<{ key: string; vector: Float32Array }>;
  consumed: number;
  skippedBytes: number;
} {
  const records: Array<{ key: string; vector: Float32Array }> = [];
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
    if (crc32(buf.subarray(at + 4, end - 4)) !== buf.readUInt32LE(end - 4)) {
      at = resync();
      continue;
    }
    const vector = new Float32Array(dims);
    for (let i = 0; i < dims; i++) vector[i] = buf.readFloatLE(at + HEADER + i * 4);
    records.push({ key: buf.toString('hex', at + 8, at + HEADER), vector });
    at = end;
  }
  return { records, consumed: Math.min(at, buf.length), skippedBytes };
}

/**
 * The cache file of the configured embedder's model (0.1 named files by a hash
 * of the model id, so only a model this release knows can be matched; files of
 * other models are counted, not imported). Vectors already in the store stay.
 */
const embeddingCacheStep: Import01Step = {
  name: 'embeddingCache',
  async run(ctx) {
    const counts = { vectors: 0, damagedBytes: 0, otherModelFiles: 0 };
    const dir = join(ctx.dataDir, 'embedding-cache');
    let files: string[];
    try {
      files = (await readdir(dir)).filter((f) => f.endsWith('.bin'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return counts;
      throw err;
    }
    const model = ctx.embedder.id;
    const mine = cacheFileName01(model);
    counts.otherModelFiles = files.filter((f) => f !== mine).length;
    if (!files.includes(mine)) return counts;
    const fh = await open(join(dir, mine), 'r');
    try {
      const size = (await fh.stat()).size;
      const buf = Buffer.alloc(Math.min(size, Math.max(READ_BYTES, recordSize(MAX_DIMS))));
      let offset = 0;
      while (offset < size) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
        if (bytesRead === 0) break;
        const last = offset + bytesRead >= size;
        const { records, consumed, skippedBytes } = decodeCacheRecords01(buf.subarray(0, bytesRead));
        counts.damagedBytes += skippedBytes;
        for (let i = 0; i < records.length; i += PUT_BATCH)
          await ctx.embeddingCache.putMany(model, records.slice(i, i + PUT_BATCH));
        counts.vectors += records.length;
        if (last || consumed === 0) {
          // What is left at the end of the file is a record torn by a crash.
          counts.damagedBytes += bytesRead - consumed;
          break;
        }
        offset += consumed;
      }
    } finally {
      await fh.close();
    }
    return counts;
  },
};

/**
 * The chunks of every document's live version that the store does not hold
 * yet, cut from the imported text as ingestion cuts it, with vectors from the
 * embedding cache. A chunk the cache lacks (0.1 ran with other chunk sizes, or
 * its cache file was lost) is embedded, and counted: `embedded` says how many.
 * A pending version is left to its ingestion job, which the import brought over.
 */
const chunksStep: Import01Step = {
  name: 'chunks',
  async run(ctx) {
    const counts = { documents: 0, alreadyThere: 0, chunks: 0, fromCache: 0, embedded: 0, missingTexts: 0 };
    const model = ctx.embedder.id;
    await ctx.vectors.ensureReady(await ctx.embedder.dimensions(), ctx.embedder.id);
    for (const namespace of await ctx.documents.namespaces()) {
      let cursor: string | null = null;
      do {
        const page = await ctx.documents.list(namespace, { limit: 200, cursor });
        for (const doc of page.items) {
          if (doc.version === null) continue;
          const ref = { documentId: doc.id, version: doc.version };
          if ((await ctx.vectors.getChunks(namespace, ref)).length > 0) {
            counts.alreadyThere++;
            continue;
          }
          const text = await ctx.documents.getText(namespace, doc.id, doc.version);
          if (text === null) {
            counts.missingTexts++;
            continue;
          }
          const pieces = chunkText(text, ctx.chunking);
          const cached = await ctx.embeddingCache.getMany(
            model,
            pieces.map((p) => textKey(p.text)),
          );
          const missing = pieces.filter((_, i) => cached[i] === null);
          const embedded = missing.length > 0 ? await ctx.embedder.embedDocuments(missing.map((p) => p.text)) : [];
          let next = 0;
          const chunks: StoredChunk[] = pieces.map((p, i) => ({
            id: chunkId(namespace, doc.id, doc.version!, p.order),
            namespace,
            documentId: doc.id,
            version: doc.version!,
            order: p.order,
            start: p.start,
            end: p.end,
            tokens: p.tokens,
            text: p.text,
            vector: cached[i] ?? (embedded[next++] as Float32Array),
          }));
          await ctx.vectors.upsert(namespace, chunks);
          counts.documents++;
          counts.chunks += chunks.length;
          counts.fromCache += pieces.length - missing.length;
          counts.embedded += missing.length;
        }
        cursor = page.next;
      } while (cursor);
    }
    return counts;
  },
};

/** The chunk store's steps, after the documents', in this order. */
export const CHUNK_IMPORT_01_STEPS: readonly Import01Step[] = [embeddingCacheStep, chunksStep];
