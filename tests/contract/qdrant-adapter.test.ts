import { randomUUID } from 'node:crypto';
import { QdrantClient } from '@qdrant/js-client-rest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LEXICAL_VECTOR, QdrantVectorStore, pointId } from '../../src/adapters/vector-store/qdrant.js';
import { chunkSparseVector, termIndex } from '../../src/adapters/vector-store/sparse.js';
import { buildBm25Index } from '../../src/core/retrieval/bm25.js';
import { analyze } from '../../src/core/text/analyse.js';
import { AppError } from '../../src/errors.js';
import { seededRandom } from '../../src/core/random.js';
import { FakeQdrant } from '../fixtures/fake-qdrant.js';
import { freePort, silentServer } from '../helpers/net.js';
import { DIMS, MODEL, makeChunks, randomVector } from './vector-store.contract.js';
import { appErrorOf } from '../helpers/errors.js';

const V1 = { documentId: 'doc', version: 'v1' };

describe('QdrantVectorStore specifics (against the schema-checking fake)', () => {
  const fake = new FakeQdrant();
  let store: QdrantVectorStore;
  let base: string;

  beforeAll(async () => {
    await fake.start();
  });
  afterAll(async () => {
    await fake.stop();
  });
  beforeEach(() => {
    base = `t_${randomUUID().replace(/-/g, '')}`;
    store = new QdrantVectorStore({ url: fake.url, collection: base });
  });

  it('derives a stable UUID point id from namespace and chunk id', () => {
    const id = pointId('ns', 'doc:v1:0');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(pointId('ns', 'doc:v1:0')).toBe(id);
    expect(pointId('other', 'doc:v1:0')).not.toBe(id);
    expect(pointId('ns', 'doc:v1:1')).not.toBe(id);
  });

  it('ensureReady creates a cosine collection named after the vector size, with keyword indexes (the embedding model too), once', async () => {
    await store.ensureReady(DIMS, MODEL);
    await store.ensureReady(DIMS, MODEL);
    const c = fake.collections.get(`${base}_${DIMS}`);
    expect(c?.dims).toBe(DIMS);
    expect(c?.distance).toBe('Cosine');
    expect(Object.fromEntries(c!.indexes)).toEqual({
      namespace: 'keyword',
      documentId: 'keyword',
      version: 'keyword',
      model: 'keyword',
    });
    expect(
      fake.requests.filter((r) => r.operationId === 'create_collection' && r.path.endsWith(`${base}_${DIMS}`)),
    ).toHaveLength(1);
  });

  it('ensureReady from two processes at once tolerates the loser of the creation race', async () => {
    const other = new QdrantVectorStore({ url: fake.url, collection: base });
    await other.ensureReady(DIMS, MODEL);
    // Stage the race: this process saw "missing" just before the other one created it.
    fake.answerNext('collection_exists', { exists: false });
    const before = fake.requests.length;
    await store.ensureReady(DIMS, MODEL);
    expect(
      fake.requests
        .slice(before)
        .map((r) => r.operationId)
        .slice(0, 3),
    ).toEqual(['collection_exists', 'create_collection', 'collection_exists']);
    expect(fake.collections.has(`${base}_${DIMS}`)).toBe(true);
  });

  it('stores the chunk record and the embedding model as payload under the deterministic point id', async () => {
    await store.ensureReady(DIMS, MODEL);
    const [chunk] = makeChunks('ns', 'doc', 'v1', 1, seededRandom(1));
    await store.upsert('ns', [chunk!]);
    const point = fake.collections.get(`${base}_${DIMS}`)!.points.get(pointId('ns', chunk!.id));
    const { vector: _v, ...record } = chunk!;
    expect(point?.payload).toEqual({ ...record, model: MODEL });
  });

  it('scoreAll counts the matching points, then asks for exact scores of all of them', async () => {
    await store.ensureReady(DIMS, MODEL);
    await store.upsert('ns', makeChunks('ns', 'doc', 'v1', 13, seededRandom(2)));
    await store.upsert('ns', makeChunks('ns', 'doc', 'v2', 4, seededRandom(3)));
    const before = fake.requests.length;
    const scored = await store.scoreAll('ns', [V1], randomVector(seededRandom(4)));
    expect(scored).toHaveLength(13);
    const sent = fake.requests.slice(before);
    expect(sent.map((r) => r.operationId)).toEqual(['count_points', 'query_points']);
    const query = sent[1]!.body as {
      params: { exact: boolean };
      limit: number;
      filter: unknown;
      with_payload: boolean;
    };
    expect(query.params.exact).toBe(true);
    expect(query.limit).toBe(13);
    expect(query.with_payload).toBe(true);
    expect(query.filter).toEqual({
      must: [
        { key: 'namespace', match: { value: 'ns' } },
        { key: 'model', match: { value: MODEL } },
      ],
      should: [
        {
          must: [
            { key: 'documentId', match: { value: 'doc' } },
            { key: 'version', match: { value: 'v1' } },
          ],
        },
      ],
    });
  });

  it('deleteDocument with keepVersion filters on namespace and document and spares that version', async () => {
    await store.ensureReady(DIMS, MODEL);
    await store.deleteDocument('ns', 'doc', { keepVersion: 'v2' });
    const del = fake.requests.at(-1)!;
    expect(del.operationId).toBe('delete_points');
    expect(del.query.wait).toBe('true');
    expect(del.body).toEqual({
      filter: {
        must: [
          { key: 'namespace', match: { value: 'ns' } },
          { key: 'documentId', match: { value: 'doc' } },
        ],
        must_not: [{ key: 'version', match: { value: 'v2' } }],
      },
    });
  });

  it('getChunks pages through scroll results and returns them in order', async () => {
    const small = new QdrantVectorStore({ url: fake.url, collection: base, scrollPage: 3 });
    await small.ensureReady(DIMS, MODEL);
    await small.upsert('ns', makeChunks('ns', 'doc', 'v1', 10, seededRandom(5)));
    const before = fake.requests.length;
    const got = await small.getChunks('ns', V1);
    expect(got.map((c) => c.order)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(fake.requests.slice(before).filter((r) => r.operationId === 'scroll_points')).toHaveLength(4);
  });

  it('upserts large inputs in batches', async () => {
    const batched = new QdrantVectorStore({ url: fake.url, collection: base, upsertBatch: 4 });
    await batched.ensureReady(DIMS, MODEL);
    const before = fake.requests.length;
    await batched.upsert('ns', makeChunks('ns', 'doc', 'v1', 10, seededRandom(6)));
    const sent = fake.requests.slice(before);
    // First the version's points of another embedding model, then the new points in batches.
    expect(sent.map((r) => r.operationId)).toEqual([
      'delete_points',
      'upsert_points',
      'upsert_points',
      'upsert_points',
    ]);
    expect(sent[0]!.body).toEqual({
      filter: {
        must: [{ key: 'namespace', match: { value: 'ns' } }],
        should: [
          {
            must: [
              { key: 'documentId', match: { value: 'doc' } },
              { key: 'version', match: { value: 'v1' } },
            ],
          },
        ],
        must_not: [{ key: 'model', match: { value: MODEL } }],
      },
    });
    expect(sent.slice(1).map((r) => (r.body as { points: unknown[] }).points.length)).toEqual([4, 4, 2]);
  });

  it('translates 5xx and 429 into transient VECTOR_STORE_UNAVAILABLE, keeping the cause', async () => {
    await store.ensureReady(DIMS, MODEL);
    for (const status of [500, 503, 429]) {
      fake.failNext(status, { operationId: 'count_points' });
      const err = await appErrorOf(store.scoreAll('ns', [V1], randomVector(seededRandom(7))));
      expect(err.code).toBe('VECTOR_STORE_UNAVAILABLE');
      expect(err.transient).toBe(true);
      expect(err.cause).toBeDefined();
      expect(err.message).toContain(String(status));
    }
  });

  it('translates other 4xx answers into VECTOR_STORE_ERROR that is not retried', async () => {
    await store.ensureReady(DIMS, MODEL);
    fake.failNext(400, { operationId: 'upsert_points' });
    const err = await appErrorOf(store.upsert('ns', makeChunks('ns', 'doc', 'v1', 1, seededRandom(8))));
    expect(err.code).toBe('VECTOR_STORE_ERROR');
    expect(err.transient).toBe(false);
    expect(err.message).toContain('Injected failure 400');
  });

  it('reports an unreachable server as transient VECTOR_STORE_UNAVAILABLE, from health and from calls', async () => {
    const dead = new QdrantVectorStore({ url: `http://127.0.0.1:${await freePort()}`, collection: base });
    const h = await appErrorOf(dead.health());
    expect(h.code).toBe('VECTOR_STORE_UNAVAILABLE');
    expect(h.transient).toBe(true);
    expect(h.message).toMatch(/ECONNREFUSED|fetch failed/);
    const e = await appErrorOf(dead.ensureReady(DIMS, MODEL));
    expect(e.code).toBe('VECTOR_STORE_UNAVAILABLE');
  });

  it('gives up on a server that accepts the connection but never answers, with transient VECTOR_STORE_UNAVAILABLE', async () => {
    const silent = await silentServer();
    try {
      const stuck = new QdrantVectorStore({ url: `http://127.0.0.1:${silent.port}`, collection: base, timeoutMs: 300 });
      const e = await appErrorOf(stuck.health());
      expect(e.code).toBe('VECTOR_STORE_UNAVAILABLE');
      expect(e.transient).toBe(true);
      expect(e.message).toContain('QDRANT_TIMEOUT_MS');
    } finally {
      await silent.close();
    }
  });

  it('sends the API key when one is configured', async () => {
    const locked = new FakeQdrant({ apiKey: 'secret' });
    await locked.start();
    try {
      const client = (apiKey?: string) =>
        new QdrantClient({ url: locked.url, ...(apiKey ? { apiKey } : {}), checkCompatibility: false });
      const good = new QdrantVectorStore({ url: locked.url, collection: base, client: client('secret') });
      await expect(good.health()).resolves.toBeUndefined();
      const bad = new QdrantVectorStore({ url: locked.url, collection: base, client: client('wrong') });
      expect((await appErrorOf(bad.health())).code).toBe('VECTOR_STORE_ERROR');
      expect(locked.violations, locked.report()).toEqual([]);
    } finally {
      await locked.stop();
    }
  });

  it('creates the collection with a sparse vector whose idf Qdrant applies, and gives every point its BM25 term weights', async () => {
    await store.ensureReady(DIMS, MODEL);
    const c = fake.collections.get(`${base}_${DIMS}`)!;
    expect(Object.fromEntries(c.sparse)).toEqual({ [LEXICAL_VECTOR]: 'idf' });
    const [chunk] = makeChunks('ns', 'doc', 'v1', 1, seededRandom(4)).map((x) => ({
      ...x,
      text: 'The keeper kept the lamp; the lamp kept burning.',
    }));
    await store.upsert('ns', [chunk!]);
    const sparse = c.points.get(pointId('ns', chunk!.id))!.sparse.get(LEXICAL_VECTOR)!;
    const expected = chunkSparseVector(chunk!.text);
    expect([...sparse.keys()].sort((a, b) => a - b)).toEqual(expected.indices);
    // "lamp" and "kept" occur twice: a higher saturated tf weight than "keeper" and "burn" (once).
    const w = (term: string) => sparse.get(termIndex(term))!;
    expect(w('lamp')).toBeGreaterThan(w('keeper'));
    expect(w('lamp')).toBeCloseTo(w('kept'), 6);
    expect(sparse.has(termIndex('the'))).toBe(false);
  });

  it('searchText ranks the requested versions by Okapi BM25 at the store (sparse vectors, idf modifier)', async () => {
    const texts = [
      'The keeper climbed the lighthouse stairs at dusk.',
      'Fishing boats returned to the harbour with their nets full.',
      'A storm battered the lighthouse all night; the keeper kept the lamp lit.',
      'The market sold bread, cheese and apples on Sundays.',
      'Gulls circled the harbour wall while the tide went out, and the harbour master watched.',
    ];
    // With the average length the chunks really have, the store's scores are exactly the service's own BM25 over them.
    const avg = texts.reduce((n, t) => n + analyze(t).length, 0) / texts.length;
    const lexical = new QdrantVectorStore({ url: fake.url, collection: base, avgChunkTerms: avg });
    await lexical.ensureReady(DIMS, MODEL);
    await lexical.upsert(
      'ns',
      makeChunks('ns', 'doc', 'v1', 5, seededRandom(5)).map((c, i) => ({ ...c, text: texts[i]! })),
    );
    const question = 'Who kept the lighthouse lamp lit in the storm near the harbour?';
    const hits = await lexical.searchText('ns', [V1], question, 10);
    const bm25 = buildBm25Index(texts).score(question);
    const expected = [...bm25.keys()].filter((i) => bm25[i]! > 0).sort((a, b) => bm25[b]! - bm25[a]!);
    expect(hits.map((h) => h.chunk.order)).toEqual(expected);
    for (const h of hits) expect(h.score).toBeCloseTo(bm25[h.chunk.order]!, 4);
    const q = fake.requests.filter((r) => r.operationId === 'query_points').at(-1)!;
    expect(q.body).toMatchObject({ using: LEXICAL_VECTOR, limit: 10 });
    expect(await lexical.searchText('ns', [{ documentId: 'doc', version: 'v2' }], question, 10)).toEqual([]);
    expect(await lexical.searchText('ns', [V1], 'the of and', 10)).toEqual([]);
  });

  it('keeps serving dense search on a collection created without the sparse vector, and says text search needs it re-created', async () => {
    const client = new QdrantClient({ url: fake.url, checkCompatibility: false });
    await client.createCollection(`${base}_${DIMS}`, { vectors: { size: DIMS, distance: 'Cosine' } });
    await store.ensureReady(DIMS, MODEL);
    await store.upsert('ns', makeChunks('ns', 'doc', 'v1', 3, seededRandom(6)));
    expect(await store.scoreAll('ns', [V1], randomVector(seededRandom(7)))).toHaveLength(3);
    const err = await appErrorOf(store.searchText('ns', [V1], 'lamp', 5));
    expect(err.code).toBe('VECTOR_STORE_ERROR');
    expect(err.message).toMatch(/re-create/);
  });

  it('rejects a collection name Qdrant would not accept, at construction', () => {
    expect(() => new QdrantVectorStore({ url: fake.url, collection: 'bad/name' })).toThrow(AppError);
  });

  it('made only schema-valid requests throughout this file', () => {
    expect(fake.violations, fake.report()).toEqual([]);
  });
});

describe('FakeQdrant itself', () => {
  const fake = new FakeQdrant();
  beforeAll(async () => {
    await fake.start();
  });
  afterAll(async () => {
    await fake.stop();
  });

  it('records a request body that the Qdrant schema rejects', async () => {
    const before = fake.violations.length;
    await fetch(`${fake.url}/collections/x`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ vectors: { size: 'eight', distance: 'Cosine' } }),
    });
    expect(fake.violations.slice(before).map((v) => v.where)).toContain('request');
  });

  it('records a filter condition with an unknown key, and an unknown query parameter', async () => {
    await fetch(`${fake.url}/collections/y`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ vectors: { size: 2, distance: 'Cosine' } }),
    });
    const before = fake.violations.length;
    const res = await fetch(`${fake.url}/collections/y/points/count?bogus=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ filter: { must: [{ key: 'a', mach: { value: 'b' } }] } }),
    });
    expect(res.status).toBe(501);
    const where = fake.violations.slice(before).map((v) => v.where);
    expect(where).toContain('query');
    expect(where).toContain('fake');
  });

  it('records a call to a path that is not in the Qdrant API', async () => {
    const before = fake.violations.length;
    const res = await fetch(`${fake.url}/collections/x/points/search`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
    expect(fake.violations.slice(before).map((v) => v.where)).toEqual(['route']);
  });

  it('answers in the Qdrant envelope, and GET / bare, as the real server does', async () => {
    const exists = (await (await fetch(`${fake.url}/collections/nope/exists`)).json()) as Record<string, unknown>;
    expect(exists).toMatchObject({ result: { exists: false }, status: 'ok' });
    expect(typeof exists.time).toBe('number');
    const root = (await (await fetch(`${fake.url}/`)).json()) as Record<string, unknown>;
    expect(root).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    const missing = await fetch(`${fake.url}/collections/nope`, { method: 'DELETE' });
    expect(missing.status).toBe(200);
    const err = await fetch(`${fake.url}/collections/nope/points/count`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(err.status).toBe(404);
    expect(await err.json()).toMatchObject({
      status: { error: expect.stringContaining("doesn't exist") },
      result: null,
    });
  });
});
