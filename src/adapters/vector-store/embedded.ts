import { randomUUID } from 'node:crypto';
import { access, constants, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { AppError } from '../../errors.js';
import type { ChunkRecord, DocumentVersionRef, ScoredChunk, StoredChunk, VectorStore } from '../../ports/vector-store.js';
import {
  KeyedMutex,
  encodeName,
  isErrno,
  readFileOrNull,
  removeStrayTemps,
  withFileLock,
  writeFileAtomic,
  type FileLockOptions,
} from '../../core/fs-atomic.js';
import { toChunkRecord } from './chunk-record.js';

/** Options of {@link EmbeddedVectorStore}. */
export interface EmbeddedVectorStoreOptions {
  /** Root directory, e.g. `<DATA_DIR>/vectors`; a subdirectory per vector size is created in it. */
  dir: string;
  /** Upper bound of the in-memory segment cache, in bytes (vectors + text). Default 512 MiB. */
  cacheBytes?: number;
  /** Cross-process lock tuning for writes; defaults in {@link FileLockOptions}. */
  lock?: FileLockOptions;
}

/**
 * Per document: `epoch` changes when the document is deleted and re-created,
 * `gen` grows with every write, and each version lists its immutable part
 * files, later parts overriding earlier ones chunk by chunk.
 */
interface Manifest {
  v: 1;
  epoch: string;
  gen: number;
  dims: number;
  versions: Record<string, PartRef[]>;
}

interface PartRef {
  gen: number;
  n: number;
}

interface Segment {
  sig: string;
  /** Sorted by order, then id; frozen because they are shared by every reader. */
  chunks: readonly ChunkRecord[];
  vectors: Float32Array;
  norms: Float32Array;
  bytes: number;
}

const MAGIC = 0x31535641; // "AVS1" little-endian
const READ_RETRIES = 5;
const LITTLE_ENDIAN = endianness() === 'LE';
const READ_CONCURRENCY = 32;

/**
 * Vector store in a local directory, exact cosine scores, shared safely by the
 * API and worker processes:
 *
 * ```
 * <dir>/d<dims>/<ns>/<doc>.lock              held while writing the document
 * <dir>/d<dims>/<ns>/<doc>/manifest.json     which parts make up each version
 * <dir>/d<dims>/<ns>/<doc>/<gen>.part        header, chunk JSON, Float32 vectors
 * ```
 * (`<…>` are {@link encodeName}d). Part files are written once and only
 * deleted after a manifest no longer names them; every file goes through an
 * atomic rename, so a killed writer leaves at worst an unreferenced file that
 * readers never look at and the next writer removes.
 *
 * Readers take no lock: they read the small manifest on every call and use the
 * cached segment only when its epoch and part list still match, which is what
 * keeps the cache coherent with writes from another process. Small batches
 * appended by an ingest job are merged like a binary counter (a part is merged
 * into its predecessor while it is at least as large), so ingesting n chunks in
 * batches rewrites O(n log n) of them, and reads see few parts.
 */
export class EmbeddedVectorStore implements VectorStore {
  readonly name = 'embedded';
  readonly #dir: string;
  readonly #cacheBytes: number;
  readonly #lock: FileLockOptions;
  readonly #mutex = new KeyedMutex();
  readonly #cache = new Map<string, Segment>();
  #cached = 0;
  #dims: number | null = null;
  #root: string | null = null;

  constructor(opts: EmbeddedVectorStoreOptions) {
    this.#dir = opts.dir;
    this.#cacheBytes = opts.cacheBytes ?? 512 * 1024 * 1024;
    this.#lock = opts.lock ?? {};
  }

  async ensureReady(dimensions: number): Promise<void> {
    if (!Number.isInteger(dimensions) || dimensions <= 0) {
      throw new AppError('VECTOR_STORE_ERROR', [`invalid vector size ${dimensions}`]);
    }
    const root = join(this.#dir, `d${dimensions}`);
    try {
      await mkdir(root, { recursive: true });
    } catch (err) {
      throw new AppError('VECTOR_STORE_UNAVAILABLE', [`cannot create ${root}`], { cause: err });
    }
    this.#dims = dimensions;
    this.#root = root;
  }

  async upsert(namespace: string, chunks: readonly StoredChunk[]): Promise<void> {
    const { dims } = this.#ready();
    const byDoc = new Map<string, Map<string, Map<string, StoredChunk>>>();
    for (const c of chunks) {
      if (c.namespace !== namespace) {
        throw new AppError('VECTOR_STORE_ERROR', [`chunk ${c.id} belongs to namespace ${c.namespace}, not ${namespace}`]);
      }
      checkVector(c.vector, dims, `chunk ${c.id}`);
      let versions = byDoc.get(c.documentId);
      if (!versions) byDoc.set(c.documentId, (versions = new Map()));
      let byId = versions.get(c.version);
      if (!byId) versions.set(c.version, (byId = new Map()));
      byId.set(c.id, c);
    }
    for (const [documentId, versions] of byDoc) {
      await this.#write(namespace, documentId, async (docDir, manifest) => {
        const m = manifest ?? { v: 1, epoch: randomUUID(), gen: 0, dims, versions: {} };
        for (const [version, byId] of versions) {
          const parts = [...(m.versions[version] ?? [])];
          const gen = ++m.gen;
          await writePart(docDir, gen, dims, [...byId.values()]);
          parts.push({ gen, n: byId.size });
          // Binary-counter merging keeps the number of parts logarithmic.
          for (;;) {
            const last = parts.at(-1);
            const prev = parts.at(-2);
            if (!last || !prev || prev.n > last.n) break;
            const merged = mergeRows([await readPart(docDir, prev.gen, dims), await readPart(docDir, last.gen, dims)]);
            const mgen = ++m.gen;
            await writePart(docDir, mgen, dims, merged);
            parts.splice(-2, 2, { gen: mgen, n: merged.length });
          }
          m.versions[version] = parts;
        }
        return m;
      });
    }
  }

  async deleteDocument(namespace: string, documentId: string, opts: { keepVersion?: string } = {}): Promise<void> {
    this.#ready();
    await this.#write(namespace, documentId, async (_docDir, manifest) => {
      if (!manifest) return null;
      const kept = opts.keepVersion === undefined ? undefined : manifest.versions[opts.keepVersion];
      if (kept === undefined || opts.keepVersion === undefined) return null;
      return { ...manifest, versions: { [opts.keepVersion]: kept } };
    });
  }

  async scoreAll(namespace: string, docs: readonly DocumentVersionRef[], query: Float32Array): Promise<ScoredChunk[]> {
    const { dims } = this.#ready();
    checkVector(query, dims, 'query');
    const qn = norm(query, 0, dims);
    const out: ScoredChunk[] = [];
    const segments = await this.#segments(namespace, docs);
    for (const seg of segments) {
      const { chunks, vectors, norms } = seg;
      for (let i = 0; i < chunks.length; i++) {
        const d = dot(query, vectors, i * dims, dims);
        const denom = qn * (norms[i] as number);
        out.push({ chunk: chunks[i] as ChunkRecord, score: denom === 0 ? 0 : clamp(d / denom) });
      }
    }
    return out;
  }

  async search(namespace: string, docs: readonly DocumentVersionRef[], query: Float32Array, limit: number): Promise<ScoredChunk[]> {
    const all = await this.scoreAll(namespace, docs, query);
    all.sort((a, b) => b.score - a.score || a.chunk.documentId.localeCompare(b.chunk.documentId) || a.chunk.order - b.chunk.order);
    return all.slice(0, Math.max(0, Math.floor(limit)));
  }

  async getChunks(namespace: string, doc: DocumentVersionRef): Promise<ChunkRecord[]> {
    this.#ready();
    const [seg] = await this.#segments(namespace, [doc]);
    return seg ? seg.chunks.map((c) => ({ ...c })) : [];
  }

  async health(): Promise<void> {
    try {
      await mkdir(this.#dir, { recursive: true });
      await access(this.#dir, constants.R_OK | constants.W_OK);
    } catch (err) {
      throw new AppError('VECTOR_STORE_UNAVAILABLE', [`${this.#dir} is not writable`], { cause: err });
    }
  }

  async close(): Promise<void> {
    this.#cache.clear();
    this.#cached = 0;
  }

  #ready(): { dims: number; root: string } {
    if (this.#dims === null || this.#root === null) {
      throw new AppError('VECTOR_STORE_ERROR', ['ensureReady() must be called before use']);
    }
    return { dims: this.#dims, root: this.#root };
  }

  #docDir(namespace: string, documentId: string): string {
    return join(this.#ready().root, encodeName(namespace), encodeName(documentId));
  }

  /**
   * Serialised read-modify-write of one document's manifest. `fn` returns the
   * new manifest, or null to remove the document. Parts the new manifest does
   * not name, and temp files of dead writers, are removed afterwards.
   */
  async #write(
    namespace: string,
    documentId: string,
    fn: (docDir: string, manifest: Manifest | null) => Promise<Manifest | null>,
  ): Promise<void> {
    const docDir = this.#docDir(namespace, documentId);
    await this.#mutex.run(docDir, () =>
      wrapIo(async () => {
        await mkdir(join(docDir, '..'), { recursive: true });
        await withFileLock(
          `${docDir}.lock`,
          async () => {
            const current = await readManifest(docDir);
            if (current) await mkdir(docDir, { recursive: true });
            else {
              // A directory without a manifest is the debris of a killed first write.
              await rm(docDir, { recursive: true, force: true });
              await mkdir(docDir, { recursive: true });
            }
            if (current && current.dims !== this.#dims) {
              throw new AppError('VECTOR_STORE_ERROR', [`document ${documentId} holds ${current.dims}-d vectors`]);
            }
            const next = await fn(docDir, current ? structuredClone(current) : null);
            if (next === null || Object.keys(next.versions).length === 0) {
              const trash = join(docDir, '..', `.trash-${randomUUID()}`);
              await rename(docDir, trash);
              await rm(trash, { recursive: true, force: true });
              return;
            }
            await writeFileAtomic(join(docDir, 'manifest.json'), JSON.stringify(next));
            const live = new Set(Object.values(next.versions).flatMap((ps) => ps.map((p) => `${p.gen}.part`)));
            for (const name of await readdir(docDir)) {
              if (name.endsWith('.part') && !live.has(name)) await rm(join(docDir, name), { force: true });
            }
            await removeStrayTemps(docDir);
          },
          this.#lock,
        );
      }),
    );
  }

  /** The segments of the requested versions that exist, loaded through the cache. */
  async #segments(namespace: string, docs: readonly DocumentVersionRef[]): Promise<Segment[]> {
    const { dims } = this.#ready();
    const byDoc = new Map<string, Set<string>>();
    for (const d of docs) {
      let vs = byDoc.get(d.documentId);
      if (!vs) byDoc.set(d.documentId, (vs = new Set()));
      vs.add(d.version);
    }
    const groups = await mapLimit([...byDoc], READ_CONCURRENCY, ([documentId, versions]) =>
      wrapIo(() => this.#loadDoc(namespace, documentId, [...versions], dims)),
    );
    return groups.flat();
  }

  async #loadDoc(namespace: string, documentId: string, versions: string[], dims: number): Promise<Segment[]> {
    const docDir = this.#docDir(namespace, documentId);
    for (let attempt = 0; ; attempt++) {
      const manifest = await readManifest(docDir);
      if (!manifest) return [];
      try {
        const out: Segment[] = [];
        for (const version of versions) {
          const parts = manifest.versions[version];
          if (!parts) continue;
          const key = `${docDir}\0${version}`;
          const sig = `${manifest.epoch}:${parts.map((p) => p.gen).join(',')}`;
          const hit = this.#cache.get(key);
          if (hit && hit.sig === sig) {
            this.#cache.delete(key);
            this.#cache.set(key, hit);
            out.push(hit);
            continue;
          }
          const rows = mergeRows(await Promise.all(parts.map((p) => readPart(docDir, p.gen, dims))));
          const seg = buildSegment(sig, rows, dims);
          this.#remember(key, seg);
          out.push(seg);
        }
        return out;
      } catch (err) {
        // A writer replaced the manifest and removed the parts we were about to read: read it again.
        if (isErrno(err, 'ENOENT') && attempt < READ_RETRIES) continue;
        throw err;
      }
    }
  }

  #remember(key: string, seg: Segment): void {
    const old = this.#cache.get(key);
    if (old) {
      this.#cache.delete(key);
      this.#cached -= old.bytes;
    }
    if (seg.bytes > this.#cacheBytes) return;
    this.#cache.set(key, seg);
    this.#cached += seg.bytes;
    for (const [k, s] of this.#cache) {
      if (this.#cached <= this.#cacheBytes) break;
      this.#cache.delete(k);
      this.#cached -= s.bytes;
    }
  }
}

interface Row {
  chunk: ChunkRecord;
  vector: Float32Array;
}

function checkVector(v: Float32Array, dims: number, what: string): void {
  if (!(v instanceof Float32Array) || v.length !== dims) {
    throw new AppError('VECTOR_STORE_ERROR', [`${what} has ${v?.length ?? 'no'} dimensions, the store holds ${dims}`]);
  }
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) throw new AppError('VECTOR_STORE_ERROR', [`${what} has a non-finite component`]);
  }
}

function norm(v: Float32Array, off: number, dims: number): number {
  let s = 0;
  for (let j = 0; j < dims; j++) {
    const x = v[off + j] as number;
    s += x * x;
  }
  return Math.sqrt(s);
}

/** Four accumulators let the JIT overlap the multiply-adds (about 1.5x over the plain loop here). */
function dot(q: Float32Array, v: Float32Array, off: number, dims: number): number {
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  let j = 0;
  for (; j + 3 < dims; j += 4) {
    a += (q[j] as number) * (v[off + j] as number);
    b += (q[j + 1] as number) * (v[off + j + 1] as number);
    c += (q[j + 2] as number) * (v[off + j + 2] as number);
    d += (q[j + 3] as number) * (v[off + j + 3] as number);
  }
  for (; j < dims; j++) a += (q[j] as number) * (v[off + j] as number);
  return a + b + c + d;
}

function clamp(x: number): number {
  return x > 1 ? 1 : x < -1 ? -1 : x;
}

/** Later rows override earlier ones with the same chunk id. */
function mergeRows(parts: readonly (readonly Row[])[]): Row[] {
  const byId = new Map<string, Row>();
  for (const rows of parts) for (const r of rows) byId.set(r.chunk.id, r);
  return [...byId.values()];
}

function buildSegment(sig: string, rows: Row[], dims: number): Segment {
  rows.sort((a, b) => a.chunk.order - b.chunk.order || (a.chunk.id < b.chunk.id ? -1 : a.chunk.id > b.chunk.id ? 1 : 0));
  const vectors = new Float32Array(rows.length * dims);
  const norms = new Float32Array(rows.length);
  let textBytes = 0;
  const chunks = rows.map((r, i) => {
    vectors.set(r.vector, i * dims);
    norms[i] = norm(r.vector, 0, dims);
    textBytes += r.chunk.text.length * 2 + 200;
    return Object.freeze(r.chunk);
  });
  return { sig, chunks, vectors, norms, bytes: vectors.byteLength + norms.byteLength + textBytes };
}

/** Part file: magic, JSON length, chunk JSON, zero padding to 4 bytes, Float32 LE vectors in chunk order. */
async function writePart(docDir: string, gen: number, dims: number, rows: readonly (Row | StoredChunk)[]): Promise<void> {
  const records = rows.map((r) => ('chunk' in r ? r.chunk : toChunkRecord(r)));
  const json = Buffer.from(JSON.stringify({ dims, chunks: records }), 'utf8');
  const head = 8 + json.length;
  const pad = (4 - (head % 4)) % 4;
  const buf = Buffer.alloc(head + pad + rows.length * dims * 4);
  buf.writeUInt32LE(MAGIC, 0);
  buf.writeUInt32LE(json.length, 4);
  json.copy(buf, 8);
  const body = head + pad;
  if (LITTLE_ENDIAN) {
    const view = new Float32Array(buf.buffer, buf.byteOffset + body, rows.length * dims);
    rows.forEach((r, i) => view.set(r.vector, i * dims));
  } else {
    let off = body;
    for (const r of rows) for (const x of r.vector) off = buf.writeFloatLE(x, off);
  }
  await writeFileAtomic(join(docDir, `${gen}.part`), buf);
}

async function readPart(docDir: string, gen: number, dims: number): Promise<Row[]> {
  const path = join(docDir, `${gen}.part`);
  const buf = await readFileOrNull(path);
  if (buf === null) throw Object.assign(new Error(`missing part ${path}`), { code: 'ENOENT' });
  const fail = (why: string): never => {
    throw new AppError('VECTOR_STORE_ERROR', [`corrupt part file ${path}: ${why}`]);
  };
  if (buf.length < 8 || buf.readUInt32LE(0) !== MAGIC) fail('bad header');
  const len = buf.readUInt32LE(4);
  const head = 8 + len;
  const start = head + ((4 - (head % 4)) % 4);
  let meta: { dims: number; chunks: ChunkRecord[] };
  try {
    meta = JSON.parse(buf.subarray(8, head).toString('utf8')) as typeof meta;
  } catch {
    return fail('bad metadata');
  }
  if (meta.dims !== dims || buf.length !== start + meta.chunks.length * dims * 4) fail('size mismatch');
  let all: Float32Array;
  if (LITTLE_ENDIAN) {
    // One aligned copy: readFile's Buffer may sit at any offset of a pooled ArrayBuffer.
    all = new Float32Array(buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + buf.length));
  } else {
    all = new Float32Array(meta.chunks.length * dims);
    for (let k = 0; k < all.length; k++) all[k] = buf.readFloatLE(start + k * 4);
  }
  return meta.chunks.map((chunk, i) => ({ chunk, vector: all.subarray(i * dims, (i + 1) * dims) }));
}

async function readManifest(docDir: string): Promise<Manifest | null> {
  const buf = await readFileOrNull(join(docDir, 'manifest.json'));
  if (buf === null) return null;
  try {
    return JSON.parse(buf.toString('utf8')) as Manifest;
  } catch (err) {
    throw new AppError('VECTOR_STORE_ERROR', [`corrupt manifest in ${docDir}`], { cause: err });
  }
}

/** File-system failures become VECTOR_STORE_UNAVAILABLE (transient); our own errors pass through. */
async function wrapIo<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError('VECTOR_STORE_UNAVAILABLE', [(err as Error)?.message ?? String(err)], { cause: err, transient: true });
  }
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  });
  await Promise.all(workers);
  return out;
}
