import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Embedder } from '../../src/ports/embedder.js';

const norm = (v: Float32Array): number => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

/**
 * What every Embedder adapter promises, whatever model is behind it. `make`
 * runs once per suite (models can take seconds to load); the suite closes
 * the embedder at the end.
 */
export function embedderContract(name: string, make: () => Promise<Embedder>): void {
  describe(`Embedder contract: ${name}`, () => {
    let embedder: Embedder;
    beforeAll(async () => {
      embedder = await make();
    });
    afterAll(async () => {
      await embedder?.close();
    });

    it('has a non-empty id', () => {
      expect(typeof embedder.id).toBe('string');
      expect(embedder.id.length).toBeGreaterThan(0);
    });

    it('reports positive dimensions, the same on every call', async () => {
      const dims = await embedder.dimensions();
      expect(Number.isInteger(dims)).toBe(true);
      expect(dims).toBeGreaterThan(0);
      expect(await embedder.dimensions()).toBe(dims);
    });

    it('returns one finite unit-norm vector of the right size per text, in input order', async () => {
      const dims = await embedder.dimensions();
      const texts = [
        'The captain steered the ship into the harbour before the storm.',
        'Knead the dough, then bake the bread in a hot oven.',
        'The rocket left orbit and headed for the moon.',
        'the',
        'A much longer passage about the sea: waves broke over the bow, the sailors hauled the ropes, and the anchor held through the night while the tide turned.',
      ];
      const vectors = await embedder.embedDocuments(texts);
      expect(vectors).toHaveLength(texts.length);
      for (const v of vectors) {
        expect(v).toBeInstanceOf(Float32Array);
        expect(v).toHaveLength(dims);
        expect(v.every(Number.isFinite)).toBe(true);
        expect(norm(v)).toBeCloseTo(1, 3);
      }
      // Order: each text embedded alone gives the vector at its position.
      const single = await embedder.embedDocuments([texts[2]!]);
      const alone = single[0]!;
      const dot = (a: Float32Array, b: Float32Array): number => a.reduce((s, x, i) => s + x * b[i]!, 0);
      expect(dot(alone, vectors[2]!)).toBeGreaterThan(0.999);
      expect(dot(alone, vectors[1]!)).toBeLessThan(0.999);
    });

    it('returns an empty list for no texts', async () => {
      expect(await embedder.embedDocuments([])).toEqual([]);
    });

    it('gives the same vector for the same text twice in one call and across calls', async () => {
      const text = 'Identical text should map to an identical vector.';
      const [a, b] = await embedder.embedDocuments([text, text]);
      const [c] = await embedder.embedDocuments([text]);
      for (let i = 0; i < a!.length; i++) {
        expect(b![i]).toBeCloseTo(a![i]!, 5);
        expect(c![i]).toBeCloseTo(a![i]!, 5);
      }
    });

    it('embeds a query into a finite unit vector of the same size', async () => {
      const q = await embedder.embedQuery('Who steered the ship?');
      expect(q).toHaveLength(await embedder.dimensions());
      expect(q.every(Number.isFinite)).toBe(true);
      expect(norm(q)).toBeCloseTo(1, 3);
    });

    it('passes its health check', async () => {
      await expect(embedder.health()).resolves.toBeUndefined();
    });

    it('can be closed twice', async () => {
      await embedder.close();
      await expect(embedder.close()).resolves.toBeUndefined();
    });
  });
}
