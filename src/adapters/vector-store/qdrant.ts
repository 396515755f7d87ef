import { createHash } from 'node:crypto';
import {
  QdrantClient,
  QdrantClientResourceExhaustedError,
  QdrantClientTimeoutError,
  type Schemas,
} from '@qdrant/js-client-rest';
import { AppError } from '../../errors.js';
import type {
  ChunkRecord,
  DocumentVersionRef,
  ScoredChunk,
  StoredChunk,
  VectorStore,
} from '../../ports/vector-store.js';
import { toChunkRecord } from './chunk-record.js';
import { DEFAULT_AVG_CHUNK_TERMS, chunkSparseVector, querySparseVector } from './sparse.js';
import { checkChunks, checkSpace, checkVector } from './space.js';

/** The named sparse vector of every point: its BM25 term weights, idf applied by Qdrant (`modifier: idf`). */
export const LEXICAL_VECTOR = 'text';

/** Qdrant's name of a collection's unnamed dense vector, when points carry named vectors too. */
const DENSE_VECTOR = '';

/** Options of {@link QdrantVectorStore}. */
export interface QdrantVectorStoreOptions {
  /** Server URL, e.g. http://localhost:6333. Ignored when `client` is given. */
  url: string;
  apiKey?: string;
  /** Base collection name; the vector size is appended (`chunks_384`) so embedders of different sizes never share one. */
  collection: string;
  /** A ready client (tests, custom transport). Default: a client built from `url` and `apiKey`. */
  client?: QdrantClient;
  /** Points per upsert request. Default 256. */
  upsertBatch?: number;
  /** Points per scroll page in getChunks. Default 512. */
  scrollPage?: number;
  /**
   * Timeout of each call in milliseconds (QDRANT_TIMEOUT_MS); a call past it is
   * aborted and fails with VECTOR_STORE_UNAVAILABLE. Ignored when `client` is
   * given. Default 10 000 (the client's own default is 300 s).
   */
  timeoutMs?: number;
  /** BM25's average chunk length in terms for the sparse vectors (see {@link DEFAULT_AVG_CHUNK_TERMS}). */
  avgChunkTerms?: number;
}

type Filter = Schemas['Filter'];

/**
 * Vector store on a Qdrant server. Every chunk is one point whose id is derived
 * from namespace and chunk id (so retried upserts overwrite, never duplicate),
 * whose payload holds the ChunkRecord, and every read or delete filters on the
 * namespace and on the requested (documentId, version) pairs, so versions and
 * namespaces never mix. Errors are translated at this boundary:
 * VECTOR_STORE_UNAVAILABLE (transient) for connection failures, timeouts, 429
 * and 5xx; VECTOR_STORE_ERROR otherwise. The original error is kept as `cause`.
 *
 * Each point also carries a sparse vector named {@link LEXICAL_VECTOR}: the
 * chunk's BM25 term weights, to which Qdrant applies the idf at query time
 * (the collection's sparse vector has `modifier: idf`), so `searchText` ranks
 * a namespace's chunks by BM25 at the store, beside the dense search.
 * Collections created before (without that vector) keep working for dense
 * search; `searchText` on them says they must be re-created.
 */
export class QdrantVectorStore implements VectorStore {
  readonly name = 'qdrant';
  readonly #client: QdrantClient;
  readonly #base: string;
  readonly #upsertBatch: number;
  readonly #scrollPage: number;
  readonly #avgChunkTerms: number;
  #collection: string | null = null;
  #dims: number | null = null;
  /** The embedding model whose points this store reads and writes (payload field `model`). */
  #model = '';
  /** Whether the collection has the sparse vector (false for one created before it existed). */
  #lexical = false;

  constructor(opts: QdrantVectorStoreOptions) {
    if (!opts.collection || !/^[A-Za-z0-9_.-]+$/.test(opts.collection)) {
      throw new AppError('CONFIG_INVALID', [
        `Qdrant collection name ${JSON.stringify(opts.collection)} must match [A-Za-z0-9_.-]+`,
      ]);
    }
    if (!opts.client && !opts.url) throw new AppError('CONFIG_INVALID', ['QdrantVectorStore needs a url or a client']);
    this.#base = opts.collection;
    this.#upsertBatch = opts.upsertBatch ?? 256;
    this.#scrollPage = opts.scrollPage ?? 512;
    this.#avgChunkTerms = opts.avgChunkTerms ?? DEFAULT_AVG_CHUNK_TERMS;
    this.#client =
      opts.client ??
      new QdrantClient({
        url: opts.url,
        ...(opts.apiKey ? { apiKey: opts.apiKey } : {}),
        timeout: opts.timeoutMs ?? 10_000,
        // The check only logs a warning from a detached promise; health() reports reachability instead.
        checkCompatibility: false,
      });
  }

  /** The collection in use: base name suffixed with the vector size. */
  collectionName(dimensions: number): string {
    return `${this.#base}_${dimensions}`;
  }

  async ensureReady(dimensions: number, model: string): Promise<void> {
    checkSpace(dimensions, model);
    const name = this.collectionName(dimensions);
    const lexical = await this.#call('ensureReady', async () => {
      let created = false;
      const { exists } = await this.#client.collectionExists(name);
      if (!exists) {
        try {
          await this.#client.createCollection(name, {
            vectors: { size: dimensions, distance: 'Cosine' },
            sparse_vectors: { [LEXICAL_VECTOR]: { modifier: 'idf' } },
          });
          created = true;
        } catch (err) {
          // Another process created it between our check and our create.
          if (statusOf(err) !== 409 || !(await this.#client.collectionExists(name)).exists) throw err;
        }
      }
      for (const field of ['namespace', 'documentId', 'version', 'model']) {
        await this.#client.createPayloadIndex(name, { field_name: field, field_schema: 'keyword', wait: true });
      }
      if (created) return true;
      const info = await this.#client.getCollection(name);
      return info.config.params.sparse_vectors?.[LEXICAL_VECTOR] != null;
    });
    this.#collection = name;
    this.#dims = dimensions;
    this.#model = model;
    this.#lexical = lexical;
  }

  async upsert(namespace: string, chunks: readonly StoredChunk[]): Promise<void> {
    const { collection, dims } = this.#ready();
    checkChunks(namespace, chunks, dims);
    const points: Schemas['PointStruct'][] = chunks.map((c) => {
      const dense = Array.from(c.vector);
      const vector = this.#lexical
        ? { [DENSE_VECTOR]: dense, [LEXICAL_VECTOR]: chunkSparseVector(c.text, this.#avgChunkTerms) }
        : dense;
      return { id: pointId(namespace, c.id), vector, payload: { ...toChunkRecord(c), model: this.#model } };
    });
    // Another model's points of these versions go first (points written before the model was kept have none).
    const written = [...new Map(chunks.map((c) => [`${c.documentId}\0${c.version}`, c])).values()];
    if (written.length > 0) {
      const filter: Filter = {
        ...versionsFilter(namespace, written),
        must_not: [match('model', this.#model)],
      };
      await this.#call('upsert', () => this.#client.delete(collection, { filter, wait: true }));
    }
    for (let i = 0; i < points.length; i += this.#upsertBatch) {
      const batch = points.slice(i, i + this.#upsertBatch);
      await this.#call('upsert', () => this.#client.upsert(collection, { points: batch, wait: true }));
    }
  }

  async deleteDocument(namespace: string, documentId: string, opts: { keepVersion?: string } = {}): Promise<void> {
    const { collection } = this.#ready();
    const filter: Filter = { must: [match('namespace', namespace), match('documentId', documentId)] };
    if (opts.keepVersion !== undefined) filter.must_not = [match('version', opts.keepVersion)];
    await this.#call('deleteDocument', () => this.#client.delete(collection, { filter, wait: true }));
  }

  async scoreAll(namespace: string, docs: readonly DocumentVersionRef[], query: Float32Array): Promise<ScoredChunk[]> {
    const { collection } = this.#ready();
    this.#checkQuery(query);
    if (docs.length === 0) return [];
    const filter = versionsFilter(namespace, docs, this.#model);
    return this.#call('scoreAll', async () => {
      const { count } = await this.#client.count(collection, { filter, exact: true });
      if (count === 0) return [];
      const res = await this.#client.query(collection, {
        query: Array.from(query),
        filter,
        params: { exact: true },
        limit: count,
        with_payload: true,
        with_vector: false,
      });
      return res.points.map(toScored);
    });
  }

  async search(
    namespace: string,
    docs: readonly DocumentVersionRef[],
    query: Float32Array,
    limit: number,
  ): Promise<ScoredChunk[]> {
    const { collection } = this.#ready();
    this.#checkQuery(query);
    const n = Math.floor(limit);
    if (docs.length === 0 || n <= 0) return [];
    return this.#call('search', async () => {
      const res = await this.#client.query(collection, {
        query: Array.from(query),
        filter: versionsFilter(namespace, docs, this.#model),
        limit: n,
        with_payload: true,
        with_vector: false,
      });
      return res.points.map(toScored);
    });
  }

  async searchText(
    namespace: string,
    docs: readonly DocumentVersionRef[],
    query: string,
    limit: number,
  ): Promise<ScoredChunk[]> {
    const { collection } = this.#ready();
    if (!this.#lexical) {
      throw new AppError('VECTOR_STORE_ERROR', [
        `collection ${collection} was created without the sparse vector "${LEXICAL_VECTOR}" that text search needs: re-create it and re-ingest`,
      ]);
    }
    const n = Math.floor(limit);
    const sparse = querySparseVector(query);
    if (docs.length === 0 || n <= 0 || sparse.indices.length === 0) return [];
    return this.#call('searchText', async () => {
      const res = await this.#client.query(collection, {
        query: sparse,
        using: LEXICAL_VECTOR,
        filter: versionsFilter(namespace, docs, this.#model),
        limit: n,
        with_payload: true,
        with_vector: false,
      });
      return res.points.map(toScored);
    });
  }

  async hasChunks(namespace: string, doc: DocumentVersionRef): Promise<boolean> {
    // Reads the version's points (a scroll); a count request would be cheaper, but getChunks is the call the contract tests check.
    return (await this.getChunks(namespace, doc)).length > 0;
  }

  async getChunks(namespace: string, doc: DocumentVersionRef): Promise<ChunkRecord[]> {
    const { collection } = this.#ready();
    const filter = versionsFilter(namespace, [doc], this.#model);
    return this.#call('getChunks', async () => {
      const out: ChunkRecord[] = [];
      let offset: Schemas['ExtendedPointId'] | null | undefined;
      do {
        const page = await this.#client.scroll(collection, {
          filter,
          limit: this.#scrollPage,
          with_payload: true,
          with_vector: false,
          ...(offset != null ? { offset } : {}),
        });
        for (const p of page.points) out.push(payloadToRecord(p.payload));
        offset = page.next_page_offset as Schemas['ExtendedPointId'] | null | undefined;
      } while (offset != null);
      return out.sort((a, b) => a.order - b.order);
    });
  }

  async health(): Promise<void> {
    await this.#call('health', () => this.#client.versionInfo());
  }

  async close(): Promise<void> {
    // The REST client keeps no resources that need releasing.
  }

  #ready(): { collection: string; dims: number } {
    if (this.#collection === null || this.#dims === null) {
      throw new AppError('VECTOR_STORE_ERROR', ['ensureReady() must be called before use']);
    }
    return { collection: this.#collection, dims: this.#dims };
  }

  #checkQuery(query: Float32Array): void {
    checkVector(query, this.#dims!, 'query');
  }

  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw translateError(what, err);
    }
  }
}

/**
 * Point id of a chunk: a UUID (version 5 layout) from SHA-256 of namespace and
 * chunk id, so the same chunk always lands on the same point.
 */
export function pointId(namespace: string, chunkId: string): string {
  const h = createHash('sha256').update(namespace).update('\0').update(chunkId).digest();
  h[6] = ((h[6] as number) & 0x0f) | 0x50;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/** Maps a client error to the catalogue; exported for tests. */
export function translateError(what: string, err: unknown): AppError {
  if (err instanceof AppError) return err;
  const status = statusOf(err);
  const detail = `${what}: ${describe(err)}`;
  if (err instanceof QdrantClientResourceExhaustedError) {
    return new AppError('VECTOR_STORE_UNAVAILABLE', [detail], {
      cause: err,
      transient: true,
      retryAfter: err.retry_after,
    });
  }
  if (err instanceof QdrantClientTimeoutError) {
    return new AppError('VECTOR_STORE_UNAVAILABLE', [`${what}: no answer within the timeout (QDRANT_TIMEOUT_MS)`], {
      cause: err,
      transient: true,
    });
  }
  if (status !== null) {
    if (status === 429 || status >= 500) {
      return new AppError('VECTOR_STORE_UNAVAILABLE', [detail], { cause: err, transient: true });
    }
    return new AppError('VECTOR_STORE_ERROR', [detail], { cause: err });
  }
  if (isNetworkError(err)) return new AppError('VECTOR_STORE_UNAVAILABLE', [detail], { cause: err, transient: true });
  return new AppError('VECTOR_STORE_ERROR', [detail], { cause: err });
}

function statusOf(err: unknown): number | null {
  const s = (err as { status?: unknown } | null)?.status;
  return typeof s === 'number' ? s : null;
}

function describe(err: unknown): string {
  const data = (err as { data?: { status?: { error?: unknown } } } | null)?.data;
  const serverMsg = data?.status?.error;
  const status = statusOf(err);
  if (typeof serverMsg === 'string') return `${status ?? ''} ${serverMsg}`.trim();
  const cause = (err as { cause?: { code?: unknown } } | null)?.cause;
  const code = typeof cause?.code === 'string' ? ` (${cause.code})` : '';
  return `${err instanceof Error ? err.message : String(err)}${code}`;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/** fetch reports transport failures as `TypeError: fetch failed` with the socket error as cause. */
function isNetworkError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
    if (e instanceof Error && e.name === 'AbortError') return true;
  }
  return err instanceof TypeError && /fetch failed/i.test(err.message);
}

function match(key: string, value: string): Schemas['FieldCondition'] {
  return { key, match: { value } };
}

/** namespace [AND model] AND ((documentId AND version) OR ...), one pair per requested version. */
function versionsFilter(namespace: string, docs: readonly DocumentVersionRef[], model?: string): Filter {
  const seen = new Set<string>();
  const should: Filter[] = [];
  for (const d of docs) {
    const key = `${d.documentId}\0${d.version}`;
    if (seen.has(key)) continue;
    seen.add(key);
    should.push({ must: [match('documentId', d.documentId), match('version', d.version)] });
  }
  return {
    must:
      model === undefined ? [match('namespace', namespace)] : [match('namespace', namespace), match('model', model)],
    should,
  };
}

function payloadToRecord(payload: Record<string, unknown> | null | undefined): ChunkRecord {
  const p = payload ?? {};
  const str = (k: string): string => {
    const v = p[k];
    if (typeof v !== 'string') throw new AppError('VECTOR_STORE_ERROR', [`point payload lacks string field ${k}`]);
    return v;
  };
  const num = (k: string): number => {
    const v = p[k];
    if (typeof v !== 'number') throw new AppError('VECTOR_STORE_ERROR', [`point payload lacks number field ${k}`]);
    return v;
  };
  return {
    id: str('id'),
    namespace: str('namespace'),
    documentId: str('documentId'),
    version: str('version'),
    order: num('order'),
    start: num('start'),
    end: num('end'),
    tokens: num('tokens'),
    text: str('text'),
  };
}

function toScored(p: Schemas['ScoredPoint']): ScoredChunk {
  return { chunk: payloadToRecord(p.payload), score: p.score };
}
