import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bestScored, byScore, cosine, dot, norm, TopScored } from '../../src/adapters/vector-store/exact.js';
import type { ScoredChunk } from '../../src/ports/vector-store.js';

function scored(documentId: string, order: number, score: number): ScoredChunk {
  const chunk = {
    id: `${documentId}#${order}`,
    namespace: 'ns',
    documentId,
    version: 'v',
    order,
    start: 0,
    end: 1,
    tokens: 1,
    text: 'x',
  };
  return { chunk, score };
}

describe('exact vector search', () => {
  it('dot and norm read a slice of a flat array as the plain loop does', () => {
    const q = Float32Array.from([1, 2, 3, 4, 5]);
    const flat = Float32Array.from([9, 9, 2, 0, 1, 0, 3]);
    expect(dot(q, flat, 2, 5)).toBe(1 * 2 + 2 * 0 + 3 * 1 + 4 * 0 + 5 * 3);
    expect(norm(flat, 2, 5)).toBeCloseTo(Math.sqrt(4 + 1 + 9), 12);
    expect(norm(q)).toBeCloseTo(Math.sqrt(55), 12);
  });

  it('cosine is 0 against a zero vector and stays within [-1, 1] despite rounding', () => {
    expect(cosine(0, 0)).toBe(0);
    expect(cosine(1.0000001, 1)).toBe(1);
    expect(cosine(-1.0000001, 1)).toBe(-1);
    expect(cosine(0.5, 2)).toBe(0.25);
  });

  it('orders by score, then document id by code units (not the locale), then chunk order', () => {
    const all = [
      scored('b', 0, 0.5),
      scored('a', 2, 0.5),
      scored('B', 0, 0.5),
      scored('a', 1, 0.5),
      scored('z', 0, 0.9),
    ];
    expect(all.sort(byScore).map((s) => s.chunk.id)).toEqual(['z#0', 'B#0', 'a#1', 'a#2', 'b#0']);
  });

  it('bestScored keeps the best floor(limit) of a scoring pass, none for a negative limit', async () => {
    const pass = async (each: (s: ScoredChunk) => void) => {
      for (const s of [scored('a', 0, 0.1), scored('a', 1, 0.3), scored('a', 2, 0.2)]) each(s);
    };
    expect((await bestScored(pass, 2.7)).map((s) => s.chunk.order)).toEqual([1, 2]);
    expect(await bestScored(pass, -1)).toEqual([]);
  });

  it('keeps, chunk by chunk, the same best `limit` as sorting them all, ties included', () => {
    // Few documents, orders and scores, so that ties on score, and on score and document, are common.
    const chunk = fc.tuple(fc.constantFrom('a', 'B', 'b', 'é'), fc.nat(20), fc.constantFrom(0, 0.1, 0.5, -0.5, 1));
    fc.assert(
      fc.property(fc.array(chunk, { maxLength: 300 }), fc.integer({ min: -2, max: 320 }), (cs, limit) => {
        const all = cs.map(([d, o, score]) => scored(d, o, score));
        const top = new TopScored(limit);
        for (const s of all) top.offer(s);
        const want = [...all].sort(byScore).slice(0, Math.max(0, limit));
        expect(top.sorted()).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });
});
