import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { seededRandom } from '../../src/core/random.js';
import type { ChunkRecord, StoredChunk, VectorStore } from '../../src/ports/vector-store.js';

/**
 * The behaviour every VectorStore must have, run against each adapter
 * (embedded, Qdrant through the schema-checking fake, live Qdrant).
 */
export interface VectorStoreHarness {
  store: VectorStore;
  cleanup(): Promise<void>;
}

export const DIMS = 8;
/** The embedding model id the contract's stores are readied with. */
export const MODEL = 'test-model';

export function randomVector(rand: () => number, dims = DIMS): Float32Array {
  const v = new Float32Array(dims);
  for (let i = 0; i < dims; i++) v[i] = rand() * 2 - 1;
  return v;
}

export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += (a[i] as number) * (b[i] as number);
    na += (a[i] as number) ** 2;
    nb += (b[i] as number) ** 2;
  }
  return dot / Math.sqrt(na * nb);
}

export function makeChunks(
  namespace: string,
  documentId: string,
  version: string,
  n: number,
  rand: () => number,
  dims = DIMS,
): StoredChunk[] {
  return Array.from({ length: n }, (_, order) => ({
    id: `${documentId}:${version}:${order}`,
    namespace,
    documentId,
    version,
    order,
    start: order * 10,
    end: order * 10 + 10,
    tokens: 3,
    text: `chunk ${order} of ${documentId}@${version} — ünïcödé`,
    vector: randomVector(rand, dims),
  }));
}

function withoutVector(c: StoredChunk): ChunkRecord {
  const { vector: _vector, ...rest } = c;
  return rest;
}

const byId = (a: { chunk: ChunkRecord }, b: { chunk: ChunkRecord }) =>
  a.chunk.id < b.chunk.id ? -1 : a.chunk.id > b.chunk.id ? 1 : 0;

export function vectorStoreContract(name: string, make: () => Promise<VectorStoreHarness>): void {
  describe(`VectorStore contract: ${name}`, () => {
    let h: VectorStoreHarness;
    let store: VectorStore;
    let ns: string;
    let rand: () => number;

    beforeEach(async () => {
      h = await make();
      store = h.store;
      await store.ensureReady(DIMS, MODEL);
      // Unique namespaces keep tests apart even on a shared live server.
      ns = `ns-${randomUUID()}`;
      rand = seededRandom(42);
    });

    afterEach(async () => {
      await h.cleanup();
    });

    it('ensureReady can be called again without losing data', async () => {
      const chunks = makeChunks(ns, 'doc', 'v1', 3, rand);
      await store.upsert(ns, chunks);
      await store.ensureReady(DIMS, MODEL);
      expect(await store.getChunks(ns, { documentId: 'doc', version: 'v1' })).toHaveLength(3);
    });

    it("reads a version another embedding model of the same size wrote as absent, and replaces that model's chunks when it writes the version", async () => {
      const doc = { documentId: 'doc', version: 'v1' };
      const old = makeChunks(ns, 'doc', 'v1', 3, rand);
      await store.upsert(ns, old);
      const query = randomVector(rand);

      await store.ensureReady(DIMS, `${MODEL}-other`);
      expect(await store.hasChunks(ns, doc)).toBe(false);
      expect(await store.getChunks(ns, doc)).toEqual([]);
      expect(await store.scoreAll(ns, [doc], query)).toEqual([]);
      expect(await store.search(ns, [doc], query, 10)).toEqual([]);
      if (store.searchText) expect(await store.searchText(ns, [doc], 'chunk', 10)).toEqual([]);

      // Re-embedded with fewer chunks: none of the old model's is left, not even those this write does not overwrite.
      const fresh = makeChunks(ns, 'doc', 'v1', 2, rand);
      await store.upsert(ns, fresh);
      expect(await store.hasChunks(ns, doc)).toBe(true);
      expect(await store.getChunks(ns, doc)).toEqual(fresh.map(withoutVector));
      const scored = await store.scoreAll(ns, [doc], query);
      expect(scored.sort(byId).map((s) => s.score)).toEqual(
        [...fresh].sort((a, b) => (a.id < b.id ? -1 : 1)).map((c) => expect.closeTo(cosine(query, c.vector), 5)),
      );

      await store.ensureReady(DIMS, MODEL);
      expect(await store.hasChunks(ns, doc)).toBe(false);
      expect(await store.getChunks(ns, doc)).toEqual([]);
    });

    it('refuses an empty embedding model id', async () => {
      await expect(store.ensureReady(DIMS, '')).rejects.toMatchObject({ code: 'VECTOR_STORE_ERROR' });
    });

    it('scoreAll returns exactly the upserted chunks with their cosine similarity to the query', async () => {
      const chunks = makeChunks(ns, 'doc', 'v1', 12, rand);
      await store.upsert(ns, chunks);
      const query = randomVector(rand);
      const scored = await store.scoreAll(ns, [{ documentId: 'doc', version: 'v1' }], query);
      expect(scored).toHaveLength(12);
      const expected = chunks.map((c) => ({ chunk: withoutVector(c), score: cosine(c.vector, query) })).sort(byId);
      const got = [...scored].sort(byId);
      got.forEach((g, i) => {
        const e = expected[i]!;
        expect(g.chunk).toEqual(e.chunk);
        expect(g.score).toBeCloseTo(e.score, 4);
      });
    });

    it('scoreAll covers several documents at once and skips unknown ones', async () => {
      await store.upsert(ns, [...makeChunks(ns, 'a', 'v1', 4, rand), ...makeChunks(ns, 'b', 'v1', 5, rand)]);
      const scored = await store.scoreAll(
        ns,
        [
          { documentId: 'a', version: 'v1' },
          { documentId: 'b', version: 'v1' },
          { documentId: 'missing', version: 'v1' },
        ],
        randomVector(rand),
      );
      expect(scored.map((s) => s.chunk.documentId).sort()).toEqual(['a', 'a', 'a', 'a', 'b', 'b', 'b', 'b', 'b']);
      expect(await store.scoreAll(ns, [], randomVector(rand))).toEqual([]);
    });

    it('re-upserting the same chunk ids overwrites instead of duplicating', async () => {
      const chunks = makeChunks(ns, 'doc', 'v1', 6, rand);
      await store.upsert(ns, chunks);
      const retried = chunks.map((c) => ({ ...c, text: `${c.text} (retry)`, vector: randomVector(rand) }));
      await store.upsert(ns, retried);
      await store.upsert(ns, retried.slice(0, 2));
      const query = randomVector(rand);
      const scored = await store.scoreAll(ns, [{ documentId: 'doc', version: 'v1' }], query);
      expect(scored).toHaveLength(6);
      for (const s of scored) {
        const r = retried.find((c) => c.id === s.chunk.id)!;
        expect(s.chunk.text).toBe(r.text);
        expect(s.score).toBeCloseTo(cosine(r.vector, query), 4);
      }
    });

    it('keeps namespaces apart even for the same document id and version', async () => {
      const other = `${ns}-other`;
      await store.upsert(ns, makeChunks(ns, 'doc', 'v1', 3, rand));
      await store.upsert(other, makeChunks(other, 'doc', 'v1', 5, rand));
      const q = randomVector(rand);
      const mine = await store.scoreAll(ns, [{ documentId: 'doc', version: 'v1' }], q);
      const theirs = await store.scoreAll(other, [{ documentId: 'doc', version: 'v1' }], q);
      expect(mine).toHaveLength(3);
      expect(mine.every((s) => s.chunk.namespace === ns)).toBe(true);
      expect(theirs).toHaveLength(5);
      expect(theirs.every((s) => s.chunk.namespace === other)).toBe(true);
      await store.deleteDocument(other, 'doc');
      expect(await store.getChunks(ns, { documentId: 'doc', version: 'v1' })).toHaveLength(3);
    });

    it('never returns chunks of another version of the document', async () => {
      await store.upsert(ns, makeChunks(ns, 'doc', 'v1', 4, rand));
      await store.upsert(ns, makeChunks(ns, 'doc', 'v2', 7, rand));
      const q = randomVector(rand);
      const v1 = await store.scoreAll(ns, [{ documentId: 'doc', version: 'v1' }], q);
      expect(v1).toHaveLength(4);
      expect(v1.every((s) => s.chunk.version === 'v1')).toBe(true);
      const v2 = await store.search(ns, [{ documentId: 'doc', version: 'v2' }], q, 100);
      expect(v2).toHaveLength(7);
      expect(v2.every((s) => s.chunk.version === 'v2')).toBe(true);
      const both = await store.scoreAll(
        ns,
        [
          { documentId: 'doc', version: 'v1' },
          { documentId: 'doc', version: 'v2' },
        ],
        q,
      );
      expect(both).toHaveLength(11);
    });

    it('deleteDocument removes every version, or all but keepVersion', async () => {
      await store.upsert(ns, [...makeChunks(ns, 'doc', 'v1', 3, rand), ...makeChunks(ns, 'doc', 'v2', 4, rand)]);
      await store.upsert(ns, makeChunks(ns, 'keep', 'v1', 2, rand));
      expect(await store.hasChunks(ns, { documentId: 'doc', version: 'v1' })).toBe(true);
      await store.deleteDocument(ns, 'doc', { keepVersion: 'v2' });
      expect(await store.getChunks(ns, { documentId: 'doc', version: 'v1' })).toEqual([]);
      expect(await store.hasChunks(ns, { documentId: 'doc', version: 'v1' })).toBe(false);
      expect(await store.getChunks(ns, { documentId: 'doc', version: 'v2' })).toHaveLength(4);
      expect(await store.hasChunks(ns, { documentId: 'doc', version: 'v2' })).toBe(true);
      await store.deleteDocument(ns, 'doc');
      expect(await store.getChunks(ns, { documentId: 'doc', version: 'v2' })).toEqual([]);
      expect(await store.hasChunks(ns, { documentId: 'doc', version: 'v2' })).toBe(false);
      expect(await store.scoreAll(ns, [{ documentId: 'doc', version: 'v2' }], randomVector(rand))).toEqual([]);
      expect(await store.getChunks(ns, { documentId: 'keep', version: 'v1' })).toHaveLength(2);
      await store.deleteDocument(ns, 'never-existed');
    });

    it('a document can be re-created after it was deleted', async () => {
      await store.upsert(ns, makeChunks(ns, 'doc', 'v1', 3, rand));
      await store.scoreAll(ns, [{ documentId: 'doc', version: 'v1' }], randomVector(rand));
      await store.deleteDocument(ns, 'doc');
      const fresh = makeChunks(ns, 'doc', 'v1', 2, rand).map((c) => ({ ...c, text: `new ${c.order}` }));
      await store.upsert(ns, fresh);
      const got = await store.getChunks(ns, { documentId: 'doc', version: 'v1' });
      expect(got.map((c) => c.text)).toEqual(['new 0', 'new 1']);
    });

    it('search returns the `limit` best chunks, best first', async () => {
      const chunks = [...makeChunks(ns, 'a', 'v1', 15, rand), ...makeChunks(ns, 'b', 'v1', 15, rand)];
      await store.upsert(ns, chunks);
      const q = randomVector(rand);
      const docs = [
        { documentId: 'a', version: 'v1' },
        { documentId: 'b', version: 'v1' },
      ];
      const top = await store.search(ns, docs, q, 5);
      expect(top).toHaveLength(5);
      const expected = chunks
        .map((c) => ({ id: c.id, score: cosine(c.vector, q) }))
        .sort((x, y) => y.score - x.score)
        .slice(0, 5);
      expect(top.map((s) => s.chunk.id)).toEqual(expected.map((e) => e.id));
      for (let i = 1; i < top.length; i++) expect(top[i - 1]!.score).toBeGreaterThanOrEqual(top[i]!.score);
    });

    it('getChunks returns the chunks of one version in order, without vectors', async () => {
      const chunks = makeChunks(ns, 'doc', 'v1', 9, rand);
      const shuffled = [
        chunks[4]!,
        chunks[8]!,
        chunks[0]!,
        chunks[2]!,
        chunks[7]!,
        chunks[1]!,
        chunks[6]!,
        chunks[3]!,
        chunks[5]!,
      ];
      // Several calls, as an ingest job embedding in batches would make.
      await store.upsert(ns, shuffled.slice(0, 3));
      await store.upsert(ns, shuffled.slice(3, 5));
      await store.upsert(ns, shuffled.slice(5));
      await store.upsert(ns, makeChunks(ns, 'doc', 'v2', 2, rand));
      const got = await store.getChunks(ns, { documentId: 'doc', version: 'v1' });
      expect(got.map((c) => c.order)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
      expect(got).toEqual(chunks.map(withoutVector));
      for (const c of got) expect(c).not.toHaveProperty('vector');
    });

    it('rejects a query of the wrong size with VECTOR_STORE_ERROR', async () => {
      await store.upsert(ns, makeChunks(ns, 'doc', 'v1', 2, rand));
      const err = await store
        .scoreAll(ns, [{ documentId: 'doc', version: 'v1' }], new Float32Array(DIMS + 1))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('VECTOR_STORE_ERROR');
    });

    it('refuses a vector with a NaN or an infinity, or of the wrong size, with VECTOR_STORE_ERROR, and writes none of the batch', async () => {
      const doc = { documentId: 'doc', version: 'v1' };
      for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
        const chunks = makeChunks(ns, 'doc', 'v1', 3, rand);
        chunks[2]!.vector[1] = bad;
        const err = await store.upsert(ns, chunks).catch((e: unknown) => e);
        expect((err as AppError).code).toBe('VECTOR_STORE_ERROR');
        expect((err as AppError).message).toMatch(/non-finite/);
        const query = randomVector(rand);
        query[0] = bad;
        await store.upsert(ns, makeChunks(ns, 'other', 'v1', 1, rand));
        const q = await store.scoreAll(ns, [{ documentId: 'other', version: 'v1' }], query).catch((e: unknown) => e);
        expect((q as AppError).code).toBe('VECTOR_STORE_ERROR');
      }
      const short = makeChunks(ns, 'doc', 'v1', 2, rand);
      short[1] = { ...short[1]!, vector: new Float32Array(DIMS - 1) };
      expect(((await store.upsert(ns, short).catch((e: unknown) => e)) as AppError).code).toBe('VECTOR_STORE_ERROR');
      expect(await store.hasChunks(ns, doc)).toBe(false);
      expect(await store.getChunks(ns, doc)).toEqual([]);
    });

    describe('searchText (lexical search at the store, where the backend has it)', () => {
      const texts = [
        'The lighthouse keeper rowed to the island at dawn.',
        'A storm broke over the island; the lighthouse lamp failed.',
        'Grain prices rose in the autumn market.',
        'The keeper wrote: lighthouse, lighthouse, lighthouse — all dark.',
        'Nothing here but the harbour and its gulls.',
      ];
      function withTexts(documentId: string, version: string, list: readonly string[], ns0 = ns): StoredChunk[] {
        return makeChunks(ns0, documentId, version, list.length, rand).map((c, i) => ({ ...c, text: list[i]! }));
      }

      it('returns the chunks that hold the words, best first, at most `limit`, only of the versions asked', async (ctx) => {
        if (!store.searchText) return ctx.skip();
        const chunks = withTexts('doc', 'v1', texts);
        await store.upsert(ns, [...chunks, ...withTexts('doc', 'v0', texts), ...withTexts('other', 'v1', texts)]);
        const hits = await store.searchText(ns, [{ documentId: 'doc', version: 'v1' }], 'Where is the lighthouse?', 10);
        expect(hits.map((h) => h.chunk.order).sort()).toEqual([0, 1, 3]);
        // Three occurrences in a chunk of similar length outrank one.
        expect(hits[0]!.chunk.order).toBe(3);
        for (let i = 1; i < hits.length; i++) expect(hits[i - 1]!.score).toBeGreaterThanOrEqual(hits[i]!.score);
        expect(
          hits.every((h) => h.chunk.documentId === 'doc' && h.chunk.version === 'v1' && h.chunk.namespace === ns),
        ).toBe(true);
        expect(hits.find((h) => h.chunk.order === 3)!.chunk).toEqual(withoutVector(chunks[3]!));
        expect(hits[0]!.chunk).not.toHaveProperty('vector');
        expect(await store.searchText(ns, [{ documentId: 'doc', version: 'v1' }], 'lighthouse', 2)).toHaveLength(2);
      });

      it('spans every document version given, and a rare word outranks a common one', async (ctx) => {
        if (!store.searchText) return ctx.skip();
        await store.upsert(ns, [...withTexts('a', 'v1', texts.slice(0, 3)), ...withTexts('b', 'v2', texts.slice(3))]);
        const docs = [
          { documentId: 'a', version: 'v1' },
          { documentId: 'b', version: 'v2' },
        ];
        const hits = await store.searchText(ns, docs, 'island gulls', 10);
        // "gulls" occurs once in the corpus, "island" twice: the gulls chunk (in b) comes first.
        expect(hits.map((h) => `${h.chunk.documentId}:${h.chunk.order}`)).toEqual(['b:1', 'a:0', 'a:1']);
      });

      it('keeps namespaces apart', async (ctx) => {
        if (!store.searchText) return ctx.skip();
        const other = `${ns}-other`;
        await store.upsert(other, withTexts('doc', 'v1', texts, other));
        expect(await store.searchText(ns, [{ documentId: 'doc', version: 'v1' }], 'lighthouse', 10)).toEqual([]);
        expect(await store.searchText(other, [{ documentId: 'doc', version: 'v1' }], 'lighthouse', 10)).toHaveLength(3);
      });

      it('forgets deleted and overwritten texts', async (ctx) => {
        if (!store.searchText) return ctx.skip();
        const ref = [{ documentId: 'doc', version: 'v1' }];
        const chunks = withTexts('doc', 'v1', texts);
        await store.upsert(ns, chunks);
        await store.upsert(ns, [{ ...chunks[2]!, text: 'The lighthouse was sold.' }]);
        expect((await store.searchText(ns, ref, 'grain', 10)).length).toBe(0);
        expect((await store.searchText(ns, ref, 'sold lighthouse', 10))[0]!.chunk.order).toBe(2);
        await store.deleteDocument(ns, 'doc');
        expect(await store.searchText(ns, ref, 'lighthouse', 10)).toEqual([]);
      });

      it('takes any question as plain words: FTS syntax, quotes and stopwords alone match nothing special and never fail', async (ctx) => {
        if (!store.searchText) return ctx.skip();
        await store.upsert(ns, withTexts('doc', 'v1', texts));
        const ref = [{ documentId: 'doc', version: 'v1' }];
        for (const q of [
          '"lighthouse',
          'lighthouse AND NOT',
          'NEAR(keeper lighthouse)',
          'light*',
          'text:keeper',
          '-keeper ^lamp {x}',
        ]) {
          await expect(store.searchText(ns, ref, q, 10)).resolves.toBeInstanceOf(Array);
        }
        expect((await store.searchText(ns, ref, 'NEAR(keeper)', 10)).map((h) => h.chunk.order).sort()).toEqual([0, 3]);
        expect(await store.searchText(ns, ref, 'what is the', 10)).toEqual([]);
        expect(await store.searchText(ns, ref, '?!', 10)).toEqual([]);
        expect(await store.searchText(ns, [], 'lighthouse', 10)).toEqual([]);
        expect(await store.searchText(ns, ref, 'lighthouse', 0)).toEqual([]);
      });
    });

    it('health resolves when the backend is reachable', async () => {
      await expect(store.health()).resolves.toBeUndefined();
    });
  });
}
