import { describe, expect, it } from 'vitest';
import { fuseWeighted, minMaxNormalize, reciprocalRankFusion } from '../../src/core/retrieval/fusion.js';
import { capTokens, select, selectPerDocument, type Candidate } from '../../src/core/retrieval/select.js';
import { AppError } from '../../src/errors.js';

const cands = (scores: number[], tokens = 100): Candidate[] =>
  scores.map((score, i) => ({ id: `c${i}`, order: i, tokens, score }));

describe('fusion', () => {
  it('min-max normalises to [0, 1] and maps a constant list to zeros', () => {
    expect([...minMaxNormalize([2, 4, 3])]).toEqual([0, 1, 0.5]);
    expect([...minMaxNormalize([5, 5])]).toEqual([0, 0]);
  });

  it('weights normalised dense scores by alpha and BM25 by 1 - alpha', () => {
    const fused = fuseWeighted([0.2, 0.4, 0.3], [10, 0, 5], 0.25);
    expect(fused[0]).toBeCloseTo(0.75, 12);
    expect(fused[1]).toBeCloseTo(0.25, 12);
    expect(fused[2]).toBeCloseTo(0.125 + 0.375, 12);
  });

  it('rejects a weight outside [0, 1] with INVALID_PARAMETER', () => {
    expect(() => fuseWeighted([1], [1], 1.5)).toThrow(AppError);
  });

  it('adds 1 / (60 + rank) over the rankings in reciprocal rank fusion', () => {
    const f = reciprocalRankFusion([
      [0.9, 0.1, 0.5],
      [1, 3, 2],
    ]);
    expect(f[0]).toBeCloseTo(1 / 61 + 1 / 63, 12);
    expect(f[1]).toBeCloseTo(1 / 63 + 1 / 61, 12);
    expect(f[2]).toBeCloseTo(2 / 62, 12);
  });

  it('gives tied scores the same rank in reciprocal rank fusion', () => {
    const f = reciprocalRankFusion([[1, 1, 0]]);
    expect(f[0]).toBe(f[1]);
    expect(f[2]).toBeCloseTo(1 / 63, 12);
  });
});

describe('select', () => {
  const scores = [0.1, 0.9, 0.85, 0.2, 0.15, 0.12, 0.11, 0.1, 0.05, 0.02, 0.01];

  it('takes the k best candidates for top-k, best first', () => {
    const s = select(cands(scores), { kind: 'top-k', k: 3 });
    expect(s.selected.map((c) => c.id)).toEqual(['c1', 'c2', 'c3']);
    expect(s.tokens).toBe(300);
    expect(s.adaptiveK).toBeUndefined();
  });

  it('takes the best-scored prefix that fits the token budget', () => {
    const cs = cands(scores).map((c, i) => ({ ...c, tokens: i === 2 ? 500 : 100 }));
    const s = select(cs, { kind: 'token-budget', tokens: 650 });
    expect(s.selected.map((c) => c.id)).toEqual(['c1', 'c2']);
    expect(s.tokens).toBe(600);
    expect(select(cs, { kind: 'token-budget', tokens: 50 }).selected).toEqual([]);
  });

  it('cuts with Adaptive-k and returns its diagnostics', () => {
    const s = select(cands(scores), { kind: 'adaptive-k', buffer: 1 });
    expect(s.adaptiveK?.cutIndex).toBe(1);
    expect(s.selected.map((c) => c.id)).toEqual(['c1', 'c2', 'c3']);
    expect(s.tokens).toBe(300);
  });

  it('caps an Adaptive-k token buffer at a share of all the candidates’ tokens', () => {
    // 11 candidates of 100 tokens: 0.2 × 1100 = 220 tokens of buffer, so three chunks past the cut instead of all nine.
    const s = select(cands(scores), { kind: 'adaptive-k', bufferTokens: 4000, bufferMaxShare: 0.2 });
    expect(s.adaptiveK?.cutIndex).toBe(1);
    expect(s.adaptiveK?.effectiveBufferTokens).toBe(220);
    expect(s.adaptiveK?.bufferCapped).toBe(true);
    expect(s.selected.map((c) => c.id)).toEqual(['c1', 'c2', 'c3', 'c4', 'c5']);
    expect(select(cands(scores), { kind: 'adaptive-k', bufferTokens: 4000 }).selected).toHaveLength(11);
  });

  it('breaks score ties by document order in every method alike', () => {
    const cs = cands([0.5, 0.5, 0.5]).reverse();
    expect(select(cs, { kind: 'top-k', k: 2 }).selected.map((c) => c.id)).toEqual(['c0', 'c1']);
    expect(select(cs, { kind: 'adaptive-k', buffer: 0 }).selected.map((c) => c.id)).toEqual(['c0']);
  });

  it('returns nothing from no candidates', () => {
    expect(select([], { kind: 'adaptive-k' }).selected).toEqual([]);
    expect(select([], { kind: 'top-k', k: 5 }).selected).toEqual([]);
  });

  it('rejects invalid method parameters with INVALID_PARAMETER', () => {
    for (const m of [
      { kind: 'top-k', k: -1 },
      { kind: 'top-k', k: 2.5 },
      { kind: 'token-budget', tokens: -5 },
      { kind: 'adaptive-k', a: 0.7, b: 0.5 },
      { kind: 'nearest' },
    ]) {
      expect(() => select(cands([1, 2]), m as never), JSON.stringify(m)).toThrow(
        expect.objectContaining({ code: 'INVALID_PARAMETER' }),
      );
    }
  });
});

describe('capTokens', () => {
  const flat = cands([5, 4.9, 4.8, 4.7, 4.6, 4.5], 100);

  it('keeps the best chunks whose tokens fit, and says what the method had chosen', () => {
    const chosen = select(flat, { kind: 'top-k', k: 5 });
    const capped = capTokens(chosen, 250);
    expect(capped.selected.map((c) => c.id)).toEqual(chosen.selected.slice(0, 2).map((c) => c.id));
    expect(capped.tokens).toBe(200);
    expect(capped.capped).toEqual({ k: 5, tokens: 500, maxTokens: 250 });
  });

  it('leaves a selection within the cap alone, and 0 means no cap', () => {
    const chosen = select(flat, { kind: 'top-k', k: 2 });
    expect(capTokens(chosen, 200)).toBe(chosen);
    expect(capTokens(select(flat, { kind: 'top-k', k: 6 }), 0).selected).toHaveLength(6);
  });

  it('keeps the best chunk even when it alone is over the cap', () => {
    const capped = capTokens(select(cands([3, 2], 900), { kind: 'top-k', k: 2 }), 500);
    expect(capped.selected).toHaveLength(1);
    expect(capped.selected[0]!.score).toBe(3);
    expect(capped.capped).toEqual({ k: 2, tokens: 1800, maxTokens: 500 });
  });
});

describe('selectPerDocument', () => {
  // A: one chunk stands out (9) over a flat tail; B: its best chunk (4) scores below all of A's tail.
  const inDoc = (documentId: string, scores: number[]) =>
    scores.map((score, i) => ({ id: `${documentId}${i}`, documentId, order: i, tokens: 100, score }));
  const both = [...inDoc('A', [9, 2.1, 2, 1.9, 1.8]), ...inDoc('B', [4, 0.5, 0.4, 0.3])];
  const method = { kind: 'adaptive-k' as const, a: 0, b: 0, buffer: 0 };

  it('cuts each document at its own largest gap and reads them in turns', () => {
    const s = selectPerDocument(both, method, ['A', 'B']);
    expect(select(inDoc('A', [9, 2.1, 2, 1.9, 1.8]), method).selected.map((c) => c.id)).toEqual(['A0']);
    expect(s.selected.map((c) => c.id)).toEqual(['A0', 'B0']);
    expect(s.tokens).toBe(200);
  });

  it('keeps the pooled curve as the diagnostics the router reads', () => {
    const s = selectPerDocument(both, method, ['A', 'B']);
    const pooled = select(both, method);
    expect(s.adaptiveK).toEqual(pooled.adaptiveK);
    // Pooled, the largest gap falls after A's best chunk alone: B would not be read.
    expect(pooled.selected.map((c) => c.id)).toEqual(['A0']);
  });

  it('interleaves by rank within each document, in the order the documents are given', () => {
    const s = selectPerDocument([...inDoc('A', [5, 4.9, 1]), ...inDoc('B', [3, 2.9, 0.1])], { kind: 'top-k', k: 2 }, [
      'B',
      'A',
    ]);
    expect(s.selected.map((c) => c.id)).toEqual(['B0', 'A0', 'B1', 'A1']);
    // A token cap then shortens every document's share before it drops one.
    expect(capTokens(s, 250).selected.map((c) => c.id)).toEqual(['B0', 'A0']);
  });

  it('reads nothing of a document it is not given, and nothing from no candidates', () => {
    expect(selectPerDocument(both, method, ['B']).selected.map((c) => c.id)).toEqual(['B0']);
    expect(selectPerDocument([], method, ['A']).selected).toEqual([]);
  });
});
