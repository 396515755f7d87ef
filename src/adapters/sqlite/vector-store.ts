import { setImmediate } from 'node:timers/promises';
import type Database from 'better-sqlite3';
import { AppError } from '../../errors.js';
import { Lru } from '../../core/lru.js';
import { STOPWORDS } from '../../core/text/analyse.js';
import type {
  ChunkRecord,
  DocumentVersionRef,
  ScoredChunk,
  StoredChunk,
  VectorStore,
} from '../../ports/vector-store.js';
import { isTransientSqliteError, readVectorBlob, vectorBlob } from './blob.js';
import { ExactScoring, cosine, dot, norm, YIELD_EVERY } from '../vector-store/exact.js';
import { checkChunks, checkSpace, checkVector } from '../vector-store/space.js';
import { FtsTables } from './fts-tables.js';
import { type ChunkRow, Fts5TopK, type LexicalQuery, type SearchRow } from './lexical-search.js';
import { SqliteSearchThread } from './search-thread.js';

/** Options of {@link SqliteVectorStore}. */
export interface SqliteVectorStoreOptions {
  /** The process's database (`openSqlite`), migrated; the container owns and closes it. */
  db: Database.Database;
  /** Upper bound of the in-memory cache of versions' chunks and vectors, in bytes. Default 512 MiB. */
  cacheBytes?: number;
  /** Run searchText on a worker thread of its own (off the event loop). Default true; always false for an in-memory database. */
  searchThread?: boolean;
}

/** The chunks and vectors of one document version, as read at generation `gen`. */
interface Segment {
  gen: bigint;
  /** In order; frozen because every reader shares them. */
  chunks: readonly ChunkRecord[];
  /** Row i's vector at [i * dims, (i + 1) * dims). */
  vectors: Float32Array;
  norms: Float32Array;
  bytes: number;
}

/** What a cached chunk record costs beyond its text (object, strings' headers), roughly. */
const CHUNK_OVERHEAD_BYTES = 200;

// Words as FTS5's unicode61 tokenizer cuts them (letters, marks and digits).
const FTS_WORD = /[\p{L}\p{M}\p{N}]+/gu;

/**
 * The FTS5 phrases of a question: each distinct word a quoted string (so no
 * character of the question is FTS syntax), stopwords left out (they match
 * nearly every chunk, so they would make the query read the whole index for
 * terms that weigh next to nothing in BM25).
 */
export function ftsPhrases(question: string): string[] {
  const words = new Set<string>();
  for (const m of question.toLowerCase().matchAll(FTS_WORD)) if (!STOPWORDS.has(m[0])) words.add(m[0]);
  return [...words].map((w) => `"${w.replace(/"/g, '""')}"`);
}

/** The FTS5 query of a question: its phrases OR-ed; null when no word is left. */
export function ftsQuery(question: string): string | null {
  const phrases = ftsPhrases(question);
  return phrases.length === 0 ? null : phrases.join(' OR ');
}

/**
 * Vector store in the embedded SQLite database (migration 002-chunks): one row
 * per chunk with its text, offsets, order, token count and vector as a BLOB,
 * an FTS5 index over the texts of each namespace (fts-tables.ts), and exact cosine scores computed here for
 * every chunk in scope (Adaptive-k needs the whole curve).
 *
 * Each write is one transaction, so a killed process leaves the chunks of a
 * batch all written or not at all, and SQLite's WAL lets the API, the workers
 * and the ingest CLI read and write one file safely. A version's vectors are
 * read once into memory and kept in an LRU; every write bumps the version's
 * `gen` in the same transaction, and readers check it (one indexed read per
 * version) before using what they hold, which keeps the cache coherent with
 * writes from other processes.
 */
export class SqliteVectorStore extends ExactScoring implements VectorStore {
  readonly name = 'sqlite';
  readonly #db: Database.Database;
  readonly #cache: Lru<string, Segment>;
  readonly #sql;
  readonly #thread: SqliteSearchThread | null;
  readonly #fts: FtsTables;
  #inline: Fts5TopK | null = null;
  /** The last refs sent to the lexical search and their JSON: whole-namespace questions send the same ones each time. */
  #refs: { docs: readonly DocumentVersionRef[]; json: string } | null = null;
  #dims: number | null = null;
  #model = '';

  constructor(opts: SqliteVectorStoreOptions) {
    super();
    this.#db = opts.db;
    this.#cache = new Lru(opts.cacheBytes ?? 512 * 1024 * 1024, (s) => s.bytes);
    const db = this.#db;
    this.#thread = db.memory || opts.searchThread === false ? null : new SqliteSearchThread(db.name);
    this.#fts = new FtsTables(db);
    // Chunks indexed by the file's single index before migration 007: indexed again, per namespace, before any search.
    this.#fts.indexUnindexed();
    this.#sql = {
      // RETURNING seq: the row's key in the namespace's FTS5 index (an update keeps it).
      upsert: db
        .prepare<[string, string, string, string, number, number, number, number, string, number, Buffer], number>(
          `INSERT INTO chunks (namespace, id, document_id, version, ord, start_char, end_char, tokens, text, dims, vector)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (dims, namespace, id) DO UPDATE SET
             document_id = excluded.document_id, version = excluded.version, ord = excluded.ord, start_char = excluded.start_char,
             end_char = excluded.end_char, tokens = excluded.tokens, text = excluded.text, dims = excluded.dims, vector = excluded.vector
           RETURNING seq`,
        )
        .pluck(),
      touch: db.prepare(
        `INSERT INTO chunk_versions (dims, namespace, document_id, version, gen, model) VALUES (?, ?, ?, ?, random(), ?)
         ON CONFLICT (dims, namespace, document_id, version) DO UPDATE SET gen = random(), model = excluded.model`,
      ),
      // A version's generation when its vectors are this model's: another model's version reads as absent.
      gen: db
        .prepare<[number, string, string, string, string], bigint>(
          'SELECT gen FROM chunk_versions WHERE dims = ? AND namespace = ? AND document_id = ? AND version = ? AND model = ?',
        )
        .pluck()
        .safeIntegers(),
      modelOf: db
        .prepare<[number, string, string, string], string>(
          'SELECT model FROM chunk_versions WHERE dims = ? AND namespace = ? AND document_id = ? AND version = ?',
        )
        .pluck(),
      deleteVersion: db.prepare(
        'DELETE FROM chunks WHERE dims = ? AND namespace = ? AND document_id = ? AND version = ?',
      ),
      // A version's chunks without their vectors (getChunks: BM25 retrieval reads no vector).
      records: db.prepare<[number, string, string, string], ChunkRow>(
        `SELECT id, document_id, version, ord, start_char, end_char, tokens, text FROM chunks
           WHERE dims = ? AND namespace = ? AND document_id = ? AND version = ? ORDER BY ord, id`,
      ),
      rows: db.prepare<[number, string, string, string], ChunkRow & { vector: Buffer }>(
        `SELECT id, document_id, version, ord, start_char, end_char, tokens, text, vector FROM chunks
           WHERE dims = ? AND namespace = ? AND document_id = ? AND version = ? ORDER BY ord, id`,
      ),
      deleteAll: db.prepare('DELETE FROM chunks WHERE dims = ? AND namespace = ? AND document_id = ?'),
      deleteAllVersions: db.prepare('DELETE FROM chunk_versions WHERE dims = ? AND namespace = ? AND document_id = ?'),
      deleteOthers: db.prepare(
        'DELETE FROM chunks WHERE dims = ? AND namespace = ? AND document_id = ? AND version <> ?',
      ),
      deleteOtherVersions: db.prepare(
        'DELETE FROM chunk_versions WHERE dims = ? AND namespace = ? AND document_id = ? AND version <> ?',
      ),
      // chunk_versions has a row per version and size, so this reads a few rows per document, not its chunks.
      sizes: db
        .prepare<[string, string], number>(
          'SELECT DISTINCT dims FROM chunk_versions WHERE namespace = ? AND document_id = ?',
        )
        .pluck(),
      ping: db.prepare('SELECT 1'),
    };
  }

  async ensureReady(dimensions: number, model: string): Promise<void> {
    checkSpace(dimensions, model);
    this.#dims = dimensions;
    this.#model = model;
  }

  async upsert(namespace: string, chunks: readonly StoredChunk[]): Promise<void> {
    const dims = this.#ready();
    checkChunks(namespace, chunks, dims);
    const { upsert, touch, modelOf, deleteVersion } = this.#sql;
    const model = this.#model;
    this.#run(() =>
      this.#db
        .transaction(() => {
          const fts = this.#fts.ensure(dims, namespace);
          const versions = new Set<string>();
          for (const c of chunks) {
            const key = `${c.documentId}\0${c.version}`;
            if (!versions.has(key)) {
              versions.add(key);
              // Another model's vectors of this version go first, whichever chunks this write brings.
              const had = modelOf.get(dims, namespace, c.documentId, c.version);
              if (had !== undefined && had !== model) {
                fts.removeDocument(c.documentId, { version: c.version });
                deleteVersion.run(dims, namespace, c.documentId, c.version);
              }
              touch.run(dims, namespace, c.documentId, c.version, model);
            }
            const seq = upsert.get(...chunkColumns(namespace, c, dims))!;
            fts.put(seq, c.text);
          }
        })
        .immediate(),
    );
  }

  async deleteDocument(namespace: string, documentId: string, opts: { keepVersion?: string } = {}): Promise<void> {
    const dims = this.#ready();
    const s = this.#sql;
    this.#run(() =>
      this.#db
        .transaction(() => {
          // Deletes reach every size: vectors of another size are another embedder's, which no reader of this store
          // uses; once this size holds the live version (re-embedded, DocumentService.reembedStale) they are stale.
          for (const size of new Set([dims, ...s.sizes.all(namespace, documentId)])) {
            const fts = this.#fts.existing(size, namespace);
            if (opts.keepVersion === undefined || size !== dims) {
              fts?.removeDocument(documentId);
              s.deleteAll.run(size, namespace, documentId);
              s.deleteAllVersions.run(size, namespace, documentId);
            } else {
              fts?.removeDocument(documentId, { except: opts.keepVersion });
              s.deleteOthers.run(size, namespace, documentId, opts.keepVersion);
              s.deleteOtherVersions.run(size, namespace, documentId, opts.keepVersion);
            }
          }
        })
        .immediate(),
    );
  }

  /** Every chunk of the versions asked for with its cosine to `query`, handed to `each`, giving way to the event loop. */
  protected async scoreEach(
    namespace: string,
    docs: readonly DocumentVersionRef[],
    query: Float32Array,
    each: (s: ScoredChunk) => void,
  ): Promise<void> {
    const dims = this.#ready();
    checkVector(query, dims, 'query');
    const qn = norm(query, 0, dims);
    let sinceYield = 0;
    for (const seg of this.#segments(namespace, docs, dims)) {
      const { chunks, vectors, norms } = seg;
      for (let i = 0; i < chunks.length; i++) {
        const denom = qn * (norms[i] as number);
        each({ chunk: chunks[i] as ChunkRecord, score: cosine(dot(query, vectors, i * dims, dims), denom) });
      }
      sinceYield += chunks.length;
      if (sinceYield >= YIELD_EVERY) {
        sinceYield = 0;
        await setImmediate();
      }
    }
  }

  /**
   * FTS5's bm25 (k1 = 1.2, b = 0.75), negated so that higher is better, with the namespace's statistics (its own FTS5
   * table, fts-tables.ts). The top `limit` without scoring every chunk that holds a common word (lexical-search.ts, MaxScore), on the search thread.
   */
  async searchText(
    namespace: string,
    docs: readonly DocumentVersionRef[],
    query: string,
    limit: number,
  ): Promise<ScoredChunk[]> {
    const dims = this.#ready();
    const phrases = ftsPhrases(query);
    const n = Math.floor(limit);
    if (phrases.length === 0 || n <= 0 || docs.length === 0) return [];
    const q: LexicalQuery = {
      phrases,
      namespace,
      dims,
      model: this.#model,
      // One string: it crosses to the search thread as one copy, and the search keeps its scope while it is the same.
      refs: this.#refsJson(docs),
      limit: n,
    };
    let rows: SearchRow[];
    if (this.#thread) {
      try {
        rows = await this.#thread.search(q);
      } catch (err) {
        rows = this.#run(() => {
          throw err;
        });
      }
    } else
      rows = this.#run(() => {
        this.#inline ??= new Fts5TopK(this.#db);
        return this.#inline.search(q).rows;
      });
    return rows.map((r) => ({ chunk: toRecord(namespace, r), score: r.score }));
  }

  /** The refs as JSON, the last string again when they are the same (comparing 10,000 refs costs less than writing them). */
  #refsJson(docs: readonly DocumentVersionRef[]): string {
    const last = this.#refs;
    if (
      last &&
      last.docs.length === docs.length &&
      last.docs.every((d, i) => d.documentId === docs[i]!.documentId && d.version === docs[i]!.version)
    )
      return last.json;
    const json = JSON.stringify(docs.map((d) => [d.documentId, d.version]));
    this.#refs = { docs: docs.map((d) => ({ documentId: d.documentId, version: d.version })), json };
    return json;
  }

  async hasChunks(namespace: string, doc: DocumentVersionRef): Promise<boolean> {
    const dims = this.#ready();
    // chunk_versions has a row for a version exactly while it has chunks (written and deleted with them).
    return this.#run(() => this.#sql.gen.get(dims, namespace, doc.documentId, doc.version, this.#model)) !== undefined;
  }

  async getChunks(namespace: string, doc: DocumentVersionRef): Promise<ChunkRecord[]> {
    const dims = this.#ready();
    const { gen, records } = this.#sql;
    const key = `${dims}\0${namespace}\0${doc.documentId}\0${doc.version}`;
    const model = this.#model;
    // The records of a segment held for the current generation; else read without the vectors, which are not cached
    // here for a later dense search: BM25 retrieval (whole-namespace questions above all) reads chunks and no vector,
    // and building a segment read and converted 2 KiB of vector a chunk for nothing.
    const chunks = this.#run(() =>
      this.#db.transaction(() => {
        const g = gen.get(dims, namespace, doc.documentId, doc.version, model);
        if (g === undefined) return [];
        const hit = this.#cache.get(key);
        if (hit && hit.gen === g) return hit.chunks;
        return records.all(dims, namespace, doc.documentId, doc.version).map((r) => toRecord(namespace, r));
      })(),
    );
    return chunks.map((c) => ({ ...c }));
  }

  async health(): Promise<void> {
    this.#run(() => this.#sql.ping.get());
  }

  async close(): Promise<void> {
    this.#cache.clear();
    await this.#thread?.close();
  }

  #ready(): number {
    if (this.#dims === null) throw new AppError('VECTOR_STORE_ERROR', ['ensureReady() must be called before use']);
    return this.#dims;
  }

  /** The segments of the requested versions that exist, each read once per generation, as they are asked for. */
  *#segments(namespace: string, docs: readonly DocumentVersionRef[], dims: number): Generator<Segment> {
    const seen = new Set<string>();
    for (const d of docs) {
      const key = `${dims}\0${namespace}\0${d.documentId}\0${d.version}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const seg = this.#segment(key, namespace, d, dims);
      if (seg) yield seg;
    }
  }

  #segment(key: string, namespace: string, d: DocumentVersionRef, dims: number): Segment | null {
    const { gen, rows } = this.#sql;
    const model = this.#model;
    const current = this.#run(() => gen.get(dims, namespace, d.documentId, d.version, model));
    if (current === undefined) {
      this.#cache.delete(key);
      return null;
    }
    const hit = this.#cache.get(key);
    if (hit && hit.gen === current) return hit;
    // The generation and the rows from one snapshot: a concurrent writer cannot slip in between.
    const seg = this.#run(() =>
      this.#db.transaction(() => {
        const g = gen.get(dims, namespace, d.documentId, d.version, model);
        return g === undefined
          ? null
          : buildSegment(g, namespace, rows.all(dims, namespace, d.documentId, d.version), dims);
      })(),
    );
    if (seg) this.#cache.set(key, seg);
    else this.#cache.delete(key);
    return seg;
  }

  /** SQLite failures become VECTOR_STORE_UNAVAILABLE (transient: busy, I/O) or VECTOR_STORE_ERROR, keeping the cause. */
  #run<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof AppError) throw err;
      const message = (err as Error)?.message ?? String(err);
      if (isTransientSqliteError(err))
        throw new AppError('VECTOR_STORE_UNAVAILABLE', [message], { cause: err, transient: true });
      throw new AppError('VECTOR_STORE_ERROR', [message], { cause: err });
    }
  }
}

/** A chunk's columns in the order of the `chunks` table's insert (namespace … text, dims, vector). */
export function chunkColumns(
  namespace: string,
  c: StoredChunk,
  dims: number,
): [string, string, string, string, number, number, number, number, string, number, Buffer] {
  return [
    namespace,
    c.id,
    c.documentId,
    c.version,
    c.order,
    c.start,
    c.end,
    c.tokens,
    c.text,
    dims,
    vectorBlob(c.vector),
  ];
}

function toRecord(namespace: string, r: ChunkRow): ChunkRecord {
  return {
    id: r.id,
    namespace,
    documentId: r.document_id,
    version: r.version,
    order: r.ord,
    start: r.start_char,
    end: r.end_char,
    tokens: r.tokens,
    text: r.text,
  };
}

function buildSegment(
  gen: bigint,
  namespace: string,
  rows: ReadonlyArray<ChunkRow & { vector: Buffer }>,
  dims: number,
): Segment {
  const vectors = new Float32Array(rows.length * dims);
  const norms = new Float32Array(rows.length);
  let textBytes = 0;
  const chunks = rows.map((r, i) => {
    if (r.vector.byteLength !== dims * 4)
      throw new AppError('VECTOR_STORE_ERROR', [
        `chunk ${r.id} has a vector of ${r.vector.byteLength} bytes, not ${dims * 4}`,
      ]);
    readVectorBlob(r.vector, vectors, i * dims);
    norms[i] = norm(vectors, i * dims, dims);
    textBytes += r.text.length * 2 + CHUNK_OVERHEAD_BYTES;
    return Object.freeze(toRecord(namespace, r));
  });
  return { gen, chunks, vectors, norms, bytes: vectors.byteLength + norms.byteLength + textBytes };
}
