import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PgDatabase } from '../../src/adapters/postgres/database.js';
import { PostgresEmbeddingCache } from '../../src/adapters/postgres/embedding-cache.js';
import { PostgresVectorStore } from '../../src/adapters/postgres/vector-store.js';
import { seededRandom } from '../../src/core/random.js';
import type { StoredChunk } from '../../src/ports/vector-store.js';
import { freshSchema, type TestSchema, schemaPools } from '../helpers/postgres.js';
import { DIMS, MODEL, makeChunks, randomVector, vectorStoreContract } from './vector-store.contract.js';

vectorStoreContract('PostgresVectorStore', async () => {
  const pools = await schemaPools();
  const store = new PostgresVectorStore({ db: pools.dbs[0]! });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await pools.cleanup();
    },
  };
});

function withTexts(chunks: StoredChunk[], texts: readonly string[]): StoredChunk[] {
  return chunks.map((c, i) => ({ ...c, text: texts[i]!, end: c.start + texts[i]!.length }));
}

describe('PostgresVectorStore specifics on the real server', () => {
  let schema: TestSchema;
  let db: PgDatabase;
  let store: PostgresVectorStore;
  const rand = seededRandom(7);
  const V1 = { documentId: 'doc', version: 'v1' };

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

  const TEXTS = [
    'The keeper climbed the lighthouse stairs at dusk.',
    'Fishing boats returned to the harbour with their nets full.',
    'A storm battered the lighthouse all night; the keeper kept the lamp lit.',
    'The market sold bread, cheese and apples on Sundays.',
    'Gulls circled the harbour wall while the tide went out.',
  ];

  it('reads a scope larger than one fetch of its cursor whole: every chunk once, and the same best chunks as sorting them all', async () => {
    // 3 × 3,100 chunks: the cursor fetches 4,096 rows at a time, so the rows come in three fetches.
    const docs = ['a', 'b', 'c'].map((documentId) => ({ documentId, version: 'v1' }));
    const chunks = docs.flatMap((d) => makeChunks('ns', d.documentId, d.version, 3100, rand));
    await store.upsert('ns', chunks);
    const q = randomVector(rand);
    const all = await store.scoreAll('ns', docs, q);
    expect(all).toHaveLength(chunks.length);
    expect(new Set(all.map((s) => s.chunk.id)).size).toBe(chunks.length);
    const best = [...all].sort((x, y) => y.score - x.score).slice(0, 7);
    expect((await store.search('ns', docs, q, 7)).map((s) => s.chunk.id)).toEqual(best.map((s) => s.chunk.id));
  });

  it('searchText ranks by BM25: chunks holding more and rarer query terms first, only those of the requested versions', async () => {
    await store.upsert('ns', withTexts(makeChunks('ns', 'doc', 'v1', 5, rand), TEXTS));
    await store.upsert(
      'ns',
      withTexts(makeChunks('ns', 'doc', 'v2', 1, rand), ['the lighthouse keeper storm storm storm']),
    );
    const hits = await store.searchText('ns', [V1], 'Who kept the lighthouse lamp lit during the storm?', 10);
    expect(hits.map((h) => h.chunk.order)).toEqual([2, 0]);
    expect(hits[0]!.score).toBeGreaterThan(hits[1]!.score);
    expect(hits.every((h) => h.chunk.version === 'v1' && h.chunk.text === TEXTS[h.chunk.order])).toBe(true);
    expect(await store.searchText('ns', [V1], 'harbour', 1)).toHaveLength(1);
    expect(await store.searchText('other-ns', [V1], 'harbour', 5)).toEqual([]);
    expect(await store.searchText('ns', [], 'harbour', 5)).toEqual([]);
  });

  it('searchText gives a rare term more weight than a common one (idf over the requested versions)', async () => {
    const texts = ['harbour harbour boat', 'harbour lamp', 'harbour tide', 'harbour wall', 'quay stone'];
    await store.upsert('ns', withTexts(makeChunks('ns', 'doc', 'v1', 5, rand), texts));
    const hits = await store.searchText('ns', [V1], 'harbour lamp', 5);
    expect(hits.map((h) => h.chunk.order)).toEqual([1, 0, 2, 3]);
    // Okapi BM25 by hand (k1 = 1.2, b = 0.75, Lucene idf), every word here being its own lexeme: N = 5, avgdl = 11 / 5.
    const idf = (df: number) => Math.log(1 + (5 - df + 0.5) / (df + 0.5));
    const term = (tf: number, len: number, df: number) =>
      (idf(df) * tf * 2.2) / (tf + 1.2 * (1 - 0.75 + (0.75 * len) / 2.2));
    const expected = [term(2, 3, 4), term(1, 2, 4) + term(1, 2, 1), term(1, 2, 4), term(1, 2, 4)];
    for (const h of hits) expect(h.score).toBeCloseTo(expected[h.chunk.order]!, 9);
  });

  it('searchText reads any question as words: quotes, operators, backslashes and U+0000 neither fail nor inject', async () => {
    await store.upsert(
      'ns',
      withTexts(makeChunks('ns', 'doc', 'v1', 2, rand), ["it's the keeper's \\lamp\\ & co", 'a\u0000b lighthouse']),
    );
    for (const q of [
      "keeper's",
      "'); DROP TABLE chunks; --",
      'lamp & | ! <-> :*',
      '\\lamp\\',
      'a\u0000b',
      '',
      'the of and',
    ]) {
      await expect(store.searchText('ns', [V1], q, 5)).resolves.toBeInstanceOf(Array);
    }
    expect((await store.searchText('ns', [V1], "the keeper's lamp", 5))[0]?.chunk.order).toBe(0);
    expect((await store.getChunks('ns', V1))[1]!.text).toBe('a\u0000b lighthouse');
  });

  it('keeps embedders of different vector sizes apart', async () => {
    await store.upsert('ns', makeChunks('ns', 'doc', 'v1', 3, rand));
    const wide = new PostgresVectorStore({ db });
    await wide.ensureReady(DIMS * 2, MODEL);
    expect(await wide.getChunks('ns', V1)).toEqual([]);
    await wide.upsert('ns', makeChunks('ns', 'doc', 'v1', 1, rand, DIMS * 2));
    expect(await store.getChunks('ns', V1)).toHaveLength(3);
    expect(await wide.scoreAll('ns', [V1], randomVector(rand, DIMS * 2))).toHaveLength(1);
  });

  it('embedding cache: returns vectors in the order asked with null for missing keys; a second write keeps the first vector', async () => {
    const cache = new PostgresEmbeddingCache({ db });
    const a = randomVector(rand);
    const b = randomVector(rand);
    await cache.putMany('m1', [
      { key: 'a', vector: a },
      { key: 'b', vector: b },
    ]);
    await cache.putMany('m1', [{ key: 'a', vector: randomVector(rand) }]);
    const got = await cache.getMany('m1', ['b', 'missing', 'a']);
    expect(got[0]).toEqual(b);
    expect(got[1]).toBeNull();
    expect(got[2]).toEqual(a);
    expect(await cache.getMany('m2', ['a'])).toEqual([null]);
    const many = Array.from({ length: 1200 }, (_, i) => ({ key: `k${i}`, vector: randomVector(rand) }));
    await cache.putMany('m1', many);
    const back = await cache.getMany(
      'm1',
      many.map((e) => e.key),
    );
    expect(back.every((v, i) => v !== null && v.every((x, j) => x === many[i]!.vector[j]))).toBe(true);
  });
});
