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

const byId = (a: { chunk: ChunkRecord }, b: { chunk: ChunkRecord }) => (a.chunk.id < b.chunk.id ? -1 : a.chunk.id > b.chunk.id ? 1 : 0);

export function vectorStoreContract(name: string, make: () => Promise<VectorStoreHarness>): void {
  describe(`VectorStore contract: ${name}`, () => {
    let h: VectorStoreHarness;
    let store: VectorStore;
    let ns: string;
    let rand: () => number;

    beforeEach(async () => {
      h = await make();
      store = h.store;
      await store.ensureReady(DIMS);
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
      await store.ensureReady(DIMS);
      expect(await store.getChunks(ns, { documentId: 'doc', version: 'v1' })).toHaveLength(3);
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
      await store.deleteDocument(ns, 'doc', { keepVersion: 'v2' });
      expect(await store.getChunks(ns, { documentId: 'doc', version: 'v1' })).toEqual([]);
      expect(await store.getChunks(ns, { documentId: 'doc', version: 'v2' })).toHaveLength(4);
      await store.deleteDocument(ns, 'doc');
      expect(await store.getChunks(ns, { documentId: 'doc', version: 'v2' })).toEqual([]);
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
      const shuffled = [chunks[4]!, chunks[8]!, chunks[0]!, chunks[2]!, chunks[7]!, chunks[1]!, chunks[6]!, chunks[3]!, chunks[5]!];
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
      const err = await store.scoreAll(ns, [{ documentId: 'doc', version: 'v1' }], new Float32Array(DIMS + 1)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('VECTOR_STORE_ERROR');
    });

    it('health resolves when the backend is reachable', async () => {
      await expect(store.health()).resolves.toBeUndefined();
    });
  });
}
