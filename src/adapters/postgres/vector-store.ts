import { AppError } from '../../errors.js';
import type {
  ChunkRecord,
  DocumentVersionRef,
  ScoredChunk,
  StoredChunk,
  VectorStore,
} from '../../ports/vector-store.js';
import { ExactScoring, byScore, cosine, dot, norm, YIELD_EVERY } from '../vector-store/exact.js';
import { checkChunks, checkSpace, checkVector } from '../vector-store/space.js';
import type { PgDatabase } from './database.js';
import { bytesToVector, vectorToBytes } from './vectors.js';

/** Text search configuration of the full-text index: English stemming and stop words (what LaRA and most users hold). */
const TS_CONFIG = 'english';

/** Okapi BM25 parameters, the same as the service's own index (src/core/retrieval/bm25.ts). */
const BM25_K1 = 1.2;
const BM25_B = 0.75;

/** Rows per INSERT: well under PostgreSQL's 65 535 parameters and a statement a few MB large. */
const UPSERT_BATCH = 256;

interface ChunkRow {
  id: string;
  document_id: string;
  version: string;
  ord: number;
  start_at: number;
  end_at: number;
  tokens: number;
  body: Buffer;
}

/**
 * Vector store in PostgreSQL (table `chunks`, migration 002), for deployments
 * without Qdrant: every process reads and writes the same chunks.
 *
 * Scores are exact, as the embedded store gives: the vectors of the requested
 * document versions are read and compared with the query here (the server has
 * no vector type without pgvector). Lexical search ({@link searchText}) is
 * Okapi BM25 computed in SQL over the full-text index: term frequencies and
 * lengths from each chunk's tsvector, document frequencies and the average
 * length over the requested versions, so a score means what the service's own
 * BM25 means, over PostgreSQL's English stemming.
 */
export class PostgresVectorStore extends ExactScoring implements VectorStore {
  readonly name = 'postgres';
  readonly #db: PgDatabase;
  #dims: number | null = null;
  #model = '';

  constructor(opts: { db: PgDatabase }) {
    super();
    this.#db = opts.db;
  }

  async ensureReady(dimensions: number, model: string): Promise<void> {
    checkSpace(dimensions, model);
    await this.#db.ready();
    this.#dims = dimensions;
    this.#model = model;
  }

  async upsert(namespace: string, chunks: readonly StoredChunk[]): Promise<void> {
    const dims = this.#ready();
    checkChunks(namespace, chunks, dims);
    // One row per id (the last wins): INSERT … ON CONFLICT may not touch a row twice.
    const byId = new Map<string, StoredChunk>();
    for (const c of chunks) byId.set(c.id, c);
    const rows = [...byId.values()];
    if (rows.length === 0) return;
    const model = this.#model;
    // Another model's chunks of these versions go first, whichever chunks this write brings.
    const { ids, versions } = refs(rows);
    await this.#db.query(
      'vectors.upsert',
      `DELETE FROM chunks c USING unnest($3::text[], $4::text[]) AS d(document_id, version)
       WHERE c.dims = $1 AND c.namespace = $2 AND c.document_id = d.document_id AND c.version = d.version AND c.model <> $5`,
      [dims, namespace, ids, versions, model],
    );
    for (let i = 0; i < rows.length; i += UPSERT_BATCH) {
      const batch = rows.slice(i, i + UPSERT_BATCH);
      await this.#db.query(
        'vectors.upsert',
        `INSERT INTO chunks (dims, namespace, id, document_id, version, ord, start_at, end_at, tokens, body, vector, lexemes, len, model)
         SELECT $1, $2, r.id, r.document_id, r.version, r.ord, r.start_at, r.end_at, r.tokens, r.body, r.vector, t.lexemes,
                (SELECT coalesce(sum(array_length(u.positions, 1)), 0) FROM unnest(t.lexemes) u), $13
         FROM unnest($3::text[], $4::text[], $5::text[], $6::int[], $7::int[], $8::int[], $9::int[], $10::bytea[], $11::bytea[], $12::text[])
              AS r(id, document_id, version, ord, start_at, end_at, tokens, body, vector, plain)
         CROSS JOIN LATERAL (SELECT to_tsvector('${TS_CONFIG}', r.plain) AS lexemes) t
         ON CONFLICT (dims, namespace, id) DO UPDATE SET
           document_id = EXCLUDED.document_id, version = EXCLUDED.version, ord = EXCLUDED.ord, start_at = EXCLUDED.start_at,
           end_at = EXCLUDED.end_at, tokens = EXCLUDED.tokens, body = EXCLUDED.body, vector = EXCLUDED.vector,
           lexemes = EXCLUDED.lexemes, len = EXCLUDED.len, model = EXCLUDED.model`,
        [
          dims,
          namespace,
          batch.map((c) => c.id),
          batch.map((c) => c.documentId),
          batch.map((c) => c.version),
          batch.map((c) => c.order),
          batch.map((c) => c.start),
          batch.map((c) => c.end),
          batch.map((c) => c.tokens),
          batch.map((c) => Buffer.from(c.text, 'utf8')),
          batch.map((c) => vectorToBytes(c.vector)),
          // text refuses U+0000; the exact text is kept in `body`, the index only needs the words.
          batch.map((c) => c.text.replaceAll('\u0000', ' ')),
          model,
        ],
      );
    }
  }

  async deleteDocument(namespace: string, documentId: string, opts: { keepVersion?: string } = {}): Promise<void> {
    const dims = this.#ready();
    if (opts.keepVersion === undefined) {
      await this.#db.query(
        'vectors.deleteDocument',
        'DELETE FROM chunks WHERE dims = $1 AND namespace = $2 AND document_id = $3',
        [dims, namespace, documentId],
      );
    } else {
      await this.#db.query(
        'vectors.deleteDocument',
        'DELETE FROM chunks WHERE dims = $1 AND namespace = $2 AND document_id = $3 AND version <> $4',
        [dims, namespace, documentId, opts.keepVersion],
      );
    }
  }

  /**
   * Every chunk of the versions asked for with its cosine to `query`, handed to `each`. The rows come through a cursor,
   * YIELD_EVERY at a time: over a whole namespace one result would hold every chunk's text and vector at once in this
   * process (gigabytes at a million chunks), and scoring it would hold the event loop.
   */
  protected async scoreEach(
    namespace: string,
    docs: readonly DocumentVersionRef[],
    query: Float32Array,
    each: (s: ScoredChunk) => void,
  ): Promise<void> {
    const dims = this.#ready();
    checkVector(query, dims, 'query');
    if (docs.length === 0) return;
    const { ids, versions } = refs(docs);
    const qn = norm(query);
    await this.#db.transaction('vectors.search', async (client) => {
      // A cursor reads one snapshot, taken when it is declared, however many fetches it takes.
      await client.query(
        `DECLARE scored NO SCROLL CURSOR FOR
         SELECT c.id, c.document_id, c.version, c.ord, c.start_at, c.end_at, c.tokens, c.body, c.vector
         FROM chunks c JOIN unnest($3::text[], $4::text[]) AS d(document_id, version) USING (document_id, version)
         WHERE c.dims = $1 AND c.namespace = $2 AND c.model = $5`,
        [dims, namespace, ids, versions, this.#model],
      );
      for (;;) {
        const { rows } = await client.query<ChunkRow & { vector: Buffer }>(`FETCH ${YIELD_EVERY} FROM scored`);
        for (const r of rows) {
          const v = bytesToVector(r.vector);
          each({ chunk: toRecord(namespace, r), score: cosine(dot(query, v), qn * norm(v)) });
        }
        if (rows.length < YIELD_EVERY) return;
      }
    });
  }

  async searchText(
    namespace: string,
    docs: readonly DocumentVersionRef[],
    query: string,
    limit: number,
  ): Promise<ScoredChunk[]> {
    const dims = this.#ready();
    const n = Math.floor(limit);
    if (docs.length === 0 || n <= 0) return [];
    const { ids, versions } = refs(docs);
    // Okapi BM25 (Robertson & Zaragoza 2009) with Lucene's non-negative idf, as src/core/retrieval/bm25.ts: the collection
    // is the requested versions' chunks; a query term is a distinct lexeme of the query under the same configuration.
    const { rows: top } = await this.#db.query<{ id: string; score: number }>(
      'vectors.searchText',
      `WITH refs AS (SELECT * FROM unnest($3::text[], $4::text[]) AS d(document_id, version)),
       terms AS (SELECT DISTINCT u.lexeme FROM unnest(to_tsvector('${TS_CONFIG}', $5)) u),
       -- Each lexeme quoted for tsquery input (quotes doubled, backslashes escaped), so whatever the question holds is
       -- read as words, never as operators.
       q AS (
         SELECT array_agg(lexeme) AS lexemes,
                coalesce(string_agg('''' || replace(replace(lexeme, '\\', '\\\\'), '''', '''''') || '''', ' | '), '')::tsquery AS query
         FROM terms
       ),
       -- N and the average length from the versions' sums (chunk_lengths, migration 008: count(*) and sum(len) of
       -- their chunks), not from a scan of every chunk in scope; and whether the scope is every version this model
       -- wrote in the namespace (a whole-namespace question with no version pending or replaced).
       stats AS (
         SELECT coalesce(sum(l.chunks) FILTER (WHERE d.document_id IS NOT NULL), 0)::float8 AS n,
                greatest(sum(l.len) FILTER (WHERE d.document_id IS NOT NULL)
                         / sum(l.chunks) FILTER (WHERE d.document_id IS NOT NULL), 1)::float8 AS avgdl,
                coalesce(bool_and(d.document_id IS NOT NULL), false) AS whole
         FROM chunk_lengths l LEFT JOIN refs d USING (document_id, version)
         WHERE l.dims = $1 AND l.namespace = $2 AND l.model = $9
       ),
       -- Only the query's lexemes are unnested: setweight marks their positions, ts_filter keeps those (both in C,
       -- where unnesting a chunk's every lexeme to pick a few costs a row per lexeme). The match is on the table
       -- rather than on a materialised scope, so the GIN index finds the chunks holding any term. One branch runs
       -- (the other's one-time filter is false): over the whole namespace every chunk found is in scope, and joining
       -- each to the scope is work for nothing (docs/postgres.md).
       hits AS (
         SELECT c.id, u.lexeme, array_length(u.positions, 1)::float8 AS tf, c.len::float8 AS len
         FROM chunks c
         CROSS JOIN LATERAL unnest(ts_filter(setweight(c.lexemes, 'A', (SELECT lexemes FROM q)), '{a}')) u
         WHERE (SELECT whole FROM stats)
           AND c.dims = $1 AND c.namespace = $2 AND c.model = $9 AND c.lexemes @@ (SELECT query FROM q)
         UNION ALL
         SELECT c.id, u.lexeme, array_length(u.positions, 1)::float8 AS tf, c.len::float8 AS len
         FROM chunks c JOIN refs d USING (document_id, version)
         CROSS JOIN LATERAL unnest(ts_filter(setweight(c.lexemes, 'A', (SELECT lexemes FROM q)), '{a}')) u
         WHERE NOT (SELECT whole FROM stats)
           AND c.dims = $1 AND c.namespace = $2 AND c.model = $9 AND c.lexemes @@ (SELECT query FROM q)
       ),
       df AS (SELECT lexeme, count(*)::float8 AS df FROM hits GROUP BY lexeme),
       scored AS (
         SELECT h.id, sum(ln(1 + (st.n - df.df + 0.5) / (df.df + 0.5)) * h.tf * ($6::float8 + 1) / (h.tf + $6::float8 * (1 - $7::float8 + $7::float8 * h.len / st.avgdl))) AS score
         FROM hits h JOIN df USING (lexeme) CROSS JOIN stats st
         GROUP BY h.id
       )
       SELECT sc.id, sc.score FROM scored sc ORDER BY sc.score DESC, sc.id LIMIT $8`,
      [dims, namespace, ids, versions, query.replaceAll('\u0000', ' '), BM25_K1, BM25_B, n, this.#model],
    );
    if (top.length === 0) return [];
    // The chunks themselves in a second statement: one scan for all of them, which the planner cannot turn into a
    // scan per chunk when the table's statistics lag behind a bulk ingestion.
    const { rows } = await this.#db.query<ChunkRow>(
      'vectors.searchText',
      `SELECT id, document_id, version, ord, start_at, end_at, tokens, body FROM chunks WHERE dims = $1 AND namespace = $2 AND id = ANY($3::text[])`,
      [dims, namespace, top.map((t) => t.id)],
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    const out: ScoredChunk[] = [];
    for (const t of top) {
      const r = byId.get(t.id);
      // A chunk deleted between the two statements is left out rather than returned half-known.
      if (r) out.push({ chunk: toRecord(namespace, r), score: Number(t.score) });
    }
    return out.sort(byScore);
  }

  async hasChunks(namespace: string, doc: DocumentVersionRef): Promise<boolean> {
    const dims = this.#ready();
    const { rows } = await this.#db.query(
      'vectors.hasChunks',
      'SELECT 1 FROM chunks WHERE dims = $1 AND namespace = $2 AND document_id = $3 AND version = $4 AND model = $5 LIMIT 1',
      [dims, namespace, doc.documentId, doc.version, this.#model],
    );
    return rows.length > 0;
  }

  async getChunks(namespace: string, doc: DocumentVersionRef): Promise<ChunkRecord[]> {
    const dims = this.#ready();
    const { rows } = await this.#db.query<ChunkRow>(
      'vectors.getChunks',
      `SELECT id, document_id, version, ord, start_at, end_at, tokens, body FROM chunks
       WHERE dims = $1 AND namespace = $2 AND document_id = $3 AND version = $4 AND model = $5 ORDER BY ord, id`,
      [dims, namespace, doc.documentId, doc.version, this.#model],
    );
    return rows.map((r) => toRecord(namespace, r));
  }

  /** Fails with DATABASE_UNAVAILABLE (503, Retry-After) while the server is away, like every call of this store. */
  async health(): Promise<void> {
    await this.#db.health();
  }

  async close(): Promise<void> {
    // The pool belongs to the container, which closes it after every adapter.
  }

  #ready(): number {
    if (this.#dims === null) throw new AppError('VECTOR_STORE_ERROR', ['ensureReady() must be called before use']);
    return this.#dims;
  }
}

/** The requested versions as two parallel arrays, duplicates removed (a join would repeat their chunks). */
function refs(docs: ReadonlyArray<{ documentId: string; version: string }>): { ids: string[]; versions: string[] } {
  const seen = new Set<string>();
  const ids: string[] = [];
  const versions: string[] = [];
  for (const d of docs) {
    const key = `${d.documentId}\0${d.version}`;
    if (seen.has(key)) continue;
    seen.add(key);
    ids.push(d.documentId);
    versions.push(d.version);
  }
  return { ids, versions };
}

function toRecord(namespace: string, r: ChunkRow): ChunkRecord {
  return {
    id: r.id,
    namespace,
    documentId: r.document_id,
    version: r.version,
    order: r.ord,
    start: r.start_at,
    end: r.end_at,
    tokens: r.tokens,
    text: r.body.toString('utf8'),
  };
}
