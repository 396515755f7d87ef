import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/core/random.js';
import type { EmbeddingCacheStore } from '../../src/ports/embedding-cache.js';

/**
 * The behaviour every EmbeddingCacheStore must have, run against each adapter
 * (SQLite here; PostgreSQL where DATABASE_URL-backed stores exist).
 */
export interface EmbeddingCacheHarness {
  store: EmbeddingCacheStore;
  /** A second store on the same data, as another process or a restart would open it. */
  reopen(): Promise<EmbeddingCacheStore>;
  cleanup(): Promise<void>;
}

function vector(rand: () => number, dims: number): Float32Array {
  return Float32Array.from({ length: dims }, () => rand() * 2 - 1);
}

export function embeddingCacheContract(name: string, make: () => Promise<EmbeddingCacheHarness>): void {
  describe(`EmbeddingCacheStore contract: ${name}`, () => {
    let h: EmbeddingCacheHarness;
    let store: EmbeddingCacheStore;
    let model: string;
    let rand: () => number;

    beforeEach(async () => {
      h = await make();
      store = h.store;
      // A unique model keeps tests apart on a shared database.
      model = `model-${randomUUID()}`;
      rand = seededRandom(3);
    });

    afterEach(async () => {
      await h.cleanup();
    });

    it('returns the vectors stored, bit for bit, in the order asked, and null where missing', async () => {
      const a = vector(rand, 16);
      const b = Float32Array.from([0, -0, 1e-38, -3.4e38, 1.5, Number.MIN_VALUE, 0.1, -1]);
      await store.putMany(model, [
        { key: 'a', vector: a },
        { key: 'b', vector: b },
      ]);
      const got = await store.getMany(model, ['b', 'missing', 'a', 'b']);
      expect(got).toHaveLength(4);
      expect(got[1]).toBeNull();
      expect(Buffer.from(got[0]!.buffer, got[0]!.byteOffset, got[0]!.byteLength)).toEqual(Buffer.from(b.buffer));
      expect(got[2]).toEqual(a);
      expect(got[3]).toEqual(b);
      expect(await store.getMany(model, [])).toEqual([]);
      await store.putMany(model, []);
    });

    it('keeps one vector for a key written twice', async () => {
      const first = vector(rand, 8);
      const second = vector(rand, 8);
      await store.putMany(model, [{ key: 'k', vector: first }]);
      await store.putMany(model, [
        { key: 'k', vector: second },
        { key: 'other', vector: second },
      ]);
      const [got] = await store.getMany(model, ['k']);
      expect([first, second]).toContainEqual(got);
      expect(await store.getMany(model, ['other'])).toEqual([second]);
    });

    it('keeps the vectors of different models apart, whatever their sizes', async () => {
      const other = `${model}-other`;
      await store.putMany(model, [{ key: 'same text', vector: vector(rand, 8) }]);
      expect(await store.getMany(other, ['same text'])).toEqual([null]);
      const big = vector(rand, 512);
      await store.putMany(other, [{ key: 'same text', vector: big }]);
      expect(await store.getMany(other, ['same text'])).toEqual([big]);
      expect((await store.getMany(model, ['same text']))[0]).toHaveLength(8);
    });

    it('handles batches of thousands of keys', async () => {
      const entries = Array.from({ length: 2500 }, (_, i) => ({ key: `key-${i}`, vector: vector(rand, 4) }));
      await store.putMany(model, entries);
      const keys = entries.map((e) => e.key).reverse();
      const got = await store.getMany(model, [...keys, 'absent']);
      expect(got.slice(0, -1)).toEqual(entries.map((e) => e.vector).reverse());
      expect(got.at(-1)).toBeNull();
    });

    it('is durable: another store opened on the same data sees what was written', async () => {
      const v = vector(rand, 8);
      await store.putMany(model, [{ key: 'durable', vector: v }]);
      const again = await h.reopen();
      expect(await again.getMany(model, ['durable'])).toEqual([v]);
      await again.close();
    });
  });
}
