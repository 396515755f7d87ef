import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PgDatabase } from '../../src/adapters/postgres/database.js';
import { PostgresVectorStore } from '../../src/adapters/postgres/vector-store.js';
import { seededRandom } from '../../src/core/random.js';
import type { DocumentVersionRef, StoredChunk } from '../../src/ports/vector-store.js';
import { freshSchema, type TestSchema } from '../helpers/postgres.js';
import { DIMS, MODEL, randomVector } from './vector-store.contract.js';

/**
 * The exhaustive scorer: BM25 with N and the average length counted over every chunk in scope (what searchText ran
 * before it read them from chunk_lengths). $1 dims, $2 namespace, $3/$4 document ids/versions, $5 question, $6 model.
 */
const EXHAUSTIVE = `WITH scope AS (
    SELECT c.id, c.len, c.lexemes FROM chunks c JOIN unnest($3::text[], $4::text[]) AS d(document_id, version) USING (document_id, version)
    WHERE c.dims = $1 AND c.namespace = $2 AND c.model = $6),
  terms AS (SELECT DISTINCT u.lexeme FROM unnest(to_tsvector('english', $5)) u),
  stats AS (SELECT count(*)::float8 AS n, greatest(avg(len), 1)::float8 AS avgdl FROM scope),
  hits AS (
    SELECT s.id, u.lexeme, array_length(u.positions, 1)::float8 AS tf, s.len::float8 AS len
    FROM scope s CROSS JOIN LATERAL unnest(s.lexemes) u WHERE u.lexeme IN (SELECT lexeme FROM terms)),
  df AS (SELECT lexeme, count(*)::float8 AS df FROM hits GROUP BY lexeme)
  SELECT h.id, sum(ln(1 + (st.n - df.df + 0.5) / (df.df + 0.5)) * h.tf * 2.2 / (h.tf + 1.2 * (0.25 + 0.75 * h.len / st.avgdl))) AS score
  FROM hits h JOIN df USING (lexeme) CROSS JOIN stats st GROUP BY h.id`;

const word = (i: number): string => `w${i.toString(36)}q`;

/** Chunks of Zipf-distributed words: a few words in most chunks, most words in a few. */
function corpus(ns: string, doc: string, version: string, count: number, rand: () => number, tag = ''): StoredChunk[] {
  return Array.from({ length: count }, (_, o) => {
    const text = Array.from({ length: 5 + Math.floor(rand() * 25) }, () => word(Math.floor(300 ** rand()) - 1)).join(
      ' ',
    );
    return {
      id: `${ns}:${doc}:${version}:${o}${tag}`,
      namespace: ns,
      documentId: doc,
      version,
      order: o,
      start: 0,
      end: text.length,
      tokens: 10,
      text,
      vector: randomVector(rand),
    };
  });
}

describe('PostgreSQL searchText against the exhaustive BM25 query, after writes that replace, move and delete chunks', () => {
  let schema: TestSchema;
  let db: PgDatabase;
  let store: PostgresVectorStore;

  beforeEach(async () => {
    schema = await freshSchema();
    db = new PgDatabase({ url: schema.url });
    store = new PostgresVectorStore({ db });
    await store.ensureReady(DIMS, MODEL);
  });
  afterEach(async () => {
    await db.close();
    await schema.drop();
  });

  it("keeps chunk_lengths equal to the chunks' counts and lengths, and ranks and scores as the exhaustive query", async () => {
    const rand = seededRandom(18);
    for (let d = 0; d < 12; d++) {
      await store.upsert('ns', corpus('ns', `d${d}`, 'v1', 8 + d, rand));
      if (d % 3 === 0) await store.upsert('ns', corpus('ns', `d${d}`, 'v0', 5, rand));
    }
    await store.upsert('other', corpus('other', 'd0', 'v1', 20, rand));
    // Another model's chunks of other versions, in the same namespace and size.
    const otherModel = new PostgresVectorStore({ db });
    await otherModel.ensureReady(DIMS, 'other-model');
    await otherModel.upsert('ns', corpus('ns', 'm0', 'v1', 10, rand));
    // Chunks written again with other texts (an upsert that updates rows), and one moved to another version.
    await store.upsert('ns', corpus('ns', 'd1', 'v1', 4, rand));
    await store.upsert('ns', [{ ...corpus('ns', 'd2', 'v1', 1, rand)[0]!, version: 'v9' }]);
    await store.deleteDocument('ns', 'd3', { keepVersion: 'v1' });
    await store.deleteDocument('ns', 'd4');

    const { rows: kept } = await db.query('t', 'SELECT * FROM chunk_lengths ORDER BY 1, 2, 3, 4, 5');
    const { rows: counted } = await db.query(
      't',
      `SELECT dims, namespace, document_id, version, model, count(*)::bigint AS chunks, sum(len)::bigint AS len
       FROM chunks GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5`,
    );
    expect(kept.length).toBeGreaterThan(10);
    expect(kept).toEqual(counted);

    const all: DocumentVersionRef[] = Array.from({ length: 12 }, (_, d) => ({ documentId: `d${d}`, version: 'v1' }));
    // Every version this model wrote in the namespace, stale ones too: the search reads no scope join for it.
    const { rows: everyVersion } = await db.query<DocumentVersionRef>(
      't',
      `SELECT document_id AS "documentId", version FROM chunk_lengths WHERE namespace = 'ns' AND model = $1`,
      [MODEL],
    );
    expect(everyVersion.length).toBeGreaterThan(all.length);
    const scopes = [
      all,
      all.slice(0, 5),
      [...all, { documentId: 'd0', version: 'v0' }, { documentId: 'm0', version: 'v1' }],
      everyVersion,
    ];
    let compared = 0;
    for (let i = 0; i < 48; i++) {
      const question = Array.from({ length: 1 + Math.floor(rand() * 5) }, () =>
        word(Math.floor(300 ** rand()) - 1),
      ).join(' ');
      const refs = scopes[i % scopes.length]!;
      const { rows } = await db.query<{ id: string; score: number }>('t', EXHAUSTIVE, [
        DIMS,
        'ns',
        refs.map((r) => r.documentId),
        refs.map((r) => r.version),
        question,
        MODEL,
      ]);
      const expected = new Map(rows.map((r) => [r.id, Number(r.score)]));
      const got = await store.searchText('ns', refs, question, 10_000);
      expect(got.map((h) => h.chunk.id).sort()).toEqual([...expected.keys()].sort());
      for (const h of got) expect(h.score).toBeCloseTo(expected.get(h.chunk.id)!, 9);
      // The top k: the exhaustive scores' k best (scores rounded against summation order, ties by id).
      const best = [...expected].sort(
        (a, b) => Number(b[1].toFixed(9)) - Number(a[1].toFixed(9)) || (a[0] < b[0] ? -1 : 1),
      );
      for (const k of [1, 5]) {
        const top = await store.searchText('ns', refs, question, k);
        expect(top.map((h) => h.score.toFixed(9))).toEqual(best.slice(0, k).map(([, s]) => s.toFixed(9)));
      }
      if (rows.length > 0) compared++;
    }
    expect(compared).toBeGreaterThan(36);
  });
});
