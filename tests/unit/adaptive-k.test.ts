import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { adaptiveK } from '../../src/core/retrieval/adaptive-k.js';
import { AppError } from '../../src/errors.js';

describe('adaptiveK', () => {
  it('cuts at the one clear gap and adds the buffer', () => {
    // Sorted: 0.9 0.88 0.86 | 0.3 0.29 0.28 0.27 0.26 0.25 0.24 0.23 (11 scores, given shuffled).
    const scores = [0.3, 0.9, 0.29, 0.86, 0.28, 0.88, 0.27, 0.26, 0.25, 0.24, 0.23];
    const r = adaptiveK(scores, { buffer: 2 });
    expect(r.cutIndex).toBe(2);
    expect(r.aboveCut).toBe(3);
    expect(r.k).toBe(5);
    expect(r.sorted.slice(0, 3).map((s) => s.index)).toEqual([1, 5, 3]);
    expect(r.largestGap).toBeCloseTo(0.56, 10);
    expect(r.relativeGap).toBeCloseTo(0.56 / (0.9 - 0.23), 10);
    expect(r.topScore).toBe(0.9);
    expect(r.flat).toBe(false);
  });

  it('uses the published defaults a = 0, b = 0.1, B = 5', () => {
    const scores = [1, 0.2, 0.19, 0.18, 0.17, 0.16, 0.15, 0.14, 0.13, 0.12, 0.11];
    const r = adaptiveK(scores);
    // N = 11: window [floor(10·0), 10 - floor(10·0.1)) = [0, 9).
    expect(r.window).toEqual([0, 9]);
    expect(r.cutIndex).toBe(0);
    expect(r.k).toBe(6);
  });

  it('keeps a single outlier on top, then the buffer', () => {
    const scores = [0.1, 0.12, 0.11, 0.95, 0.13, 0.1, 0.09, 0.12, 0.11, 0.1];
    const r = adaptiveK(scores, { buffer: 0 });
    expect(r.k).toBe(1);
    expect(r.sorted[0]!.index).toBe(3);
  });

  it('ignores a gap in the bottom tail that b excludes', () => {
    // 11 scores; the 0.5 drop is gap 9 (positions 9 → 10): outside [0, 10 - floor(10·0.1)) = [0, 9).
    const scores = [1, 0.99, 0.98, 0.9, 0.89, 0.88, 0.87, 0.86, 0.85, 0.84, 0.34];
    const r = adaptiveK(scores, { b: 0.1, buffer: 0 });
    expect(r.window).toEqual([0, 9]);
    expect(r.cutIndex).toBe(2);
    expect(adaptiveK(scores, { b: 0, buffer: 0 }).cutIndex).toBe(9);
  });

  it('skips the top of the curve that a excludes', () => {
    const scores = [1, 0.5, 0.45, 0.4, 0.35, 0.1, 0.05, 0.04, 0.03, 0.02, 0.01];
    expect(adaptiveK(scores, { a: 0, b: 0, buffer: 0 }).cutIndex).toBe(0);
    // a = 0.1, N = 11: lo = 1, so the 0.5 drop at gap 0 is not considered; 0.25 at gap 4 wins.
    const r = adaptiveK(scores, { a: 0.1, b: 0, buffer: 0 });
    expect(r.window[0]).toBe(1);
    expect(r.cutIndex).toBe(4);
  });

  it('breaks ties between equal gaps by taking the first one', () => {
    const r = adaptiveK([1, 0.5, 0], { b: 0, buffer: 0 });
    expect(r.gaps).toEqual([0.5, 0.5]);
    expect(r.cutIndex).toBe(0);
    expect(r.k).toBe(1);
  });

  it('keeps input order among equal scores', () => {
    const r = adaptiveK([0.5, 0.9, 0.5, 0.9], { buffer: 0 });
    expect(r.sorted.map((s) => s.index)).toEqual([1, 3, 0, 2]);
    expect(r.cutIndex).toBe(1);
  });

  it('reports a curve of equal scores as flat and cuts at the first gap', () => {
    const r = adaptiveK([0.4, 0.4, 0.4, 0.4, 0.4], { buffer: 1 });
    expect(r.flat).toBe(true);
    expect(r.relativeGap).toBe(0);
    expect(r.largestGap).toBe(0);
    expect(r.cutIndex).toBe(0);
    expect(r.k).toBe(2);
  });

  it('flags a curve whose largest gap is small relative to its range when minRelativeGap is set', () => {
    const scores = Array.from({ length: 20 }, (_, i) => 1 - i * 0.05);
    expect(adaptiveK(scores).flat).toBe(false);
    const r = adaptiveK(scores, { minRelativeGap: 0.2 });
    expect(r.relativeGap).toBeCloseTo(1 / 19, 10);
    expect(r.flat).toBe(true);
    expect(r.k).toBe(adaptiveK(scores).k);
  });

  it('returns k = 0 for no candidates and k = 1 for one', () => {
    const none = adaptiveK([]);
    expect(none.k).toBe(0);
    expect(none.cutIndex).toBe(-1);
    expect(none.sorted).toEqual([]);
    const one = adaptiveK([0.7]);
    expect(one.k).toBe(1);
    expect(one.cutIndex).toBe(0);
    expect(one.gaps).toEqual([]);
    expect(one.topScore).toBe(0.7);
  });

  it('cuts two candidates at their only gap, even with a large b', () => {
    const r = adaptiveK([0.2, 0.9], { b: 0.9, buffer: 0 });
    expect(r.window).toEqual([0, 1]);
    expect(r.cutIndex).toBe(0);
    expect(r.k).toBe(1);
    expect(adaptiveK([0.2, 0.9]).k).toBe(2);
  });

  it('measures the buffer in tokens when bufferTokens is set', () => {
    const scores = [1, 0.9, 0.2, 0.19, 0.18, 0.17, 0.16, 0.15, 0.14, 0.13, 0.12];
    const tokens = [100, 100, 300, 300, 300, 300, 300, 300, 300, 300, 300];
    const r = adaptiveK(scores, { bufferTokens: 500 }, tokens);
    expect(r.cutIndex).toBe(1);
    // 300 < 500, 600 ≥ 500: two chunks past the cut.
    expect(r.k).toBe(4);
    expect(() => adaptiveK(scores, { bufferTokens: 500 })).toThrow(AppError);
    expect(r.effectiveBufferTokens).toBe(500);
    expect(r.bufferCapped).toBe(false);
  });

  // A small document: one chunk stands out, then 7 chunks of 400 tokens (3000 tokens in all).
  const smallScores = [9, 1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
  const smallTokens = [200, 400, 400, 400, 400, 400, 400, 400];

  it('caps the token buffer at bufferMaxShare of the candidates’ tokens, so a small document is not read whole', () => {
    expect(adaptiveK(smallScores, { bufferTokens: 4000 }, smallTokens).k).toBe(8);
    const r = adaptiveK(smallScores, { bufferTokens: 4000, bufferMaxShare: 0.2 }, smallTokens);
    expect(r.cutIndex).toBe(0);
    // 0.2 × 3000 = 600 tokens: 400 < 600, 800 ≥ 600, so two chunks past the cut.
    expect(r.effectiveBufferTokens).toBe(600);
    expect(r.bufferCapped).toBe(true);
    expect(r.k).toBe(3);
  });

  it('leaves the token buffer alone when the candidates are large enough', () => {
    const scores = [9, ...Array.from({ length: 99 }, (_, i) => 1 - i * 0.001)];
    const tokens = scores.map(() => 400);
    // 0.2 × 40 000 = 8000 ≥ 4000: the cap does not bind.
    const capped = adaptiveK(scores, { bufferTokens: 4000, bufferMaxShare: 0.2 }, tokens);
    const uncapped = adaptiveK(scores, { bufferTokens: 4000 }, tokens);
    expect(capped.effectiveBufferTokens).toBe(4000);
    expect(capped.bufferCapped).toBe(false);
    expect(capped.k).toBe(uncapped.k);
    expect(capped.k).toBe(11);
  });

  it('behaves as before with bufferMaxShare 1, and reads no buffer with 0', () => {
    const old = adaptiveK(smallScores, { bufferTokens: 4000 }, smallTokens);
    const one = adaptiveK(smallScores, { bufferTokens: 4000, bufferMaxShare: 1 }, smallTokens);
    expect(one.k).toBe(old.k);
    expect(one.effectiveBufferTokens).toBe(3000);
    const zero = adaptiveK(smallScores, { bufferTokens: 4000, bufferMaxShare: 0 }, smallTokens);
    expect(zero.effectiveBufferTokens).toBe(0);
    expect(zero.k).toBe(zero.aboveCut);
  });

  it('keeps the published chunk buffer untouched by the cap', () => {
    const r = adaptiveK(smallScores, { buffer: 5, bufferMaxShare: 0.01 }, smallTokens);
    expect(r.k).toBe(6);
    expect(r.effectiveBufferTokens).toBe(0);
    expect(r.bufferCapped).toBe(false);
    expect(adaptiveK(smallScores, { bufferMaxShare: 0.01 }).k).toBe(adaptiveK(smallScores).k);
  });

  it.each([
    [{ a: -0.1 }, /a must be in \[0, 1\)/],
    [{ a: 1 }, /a must be in \[0, 1\)/],
    [{ b: 1.5 }, /b must be in \[0, 1\)/],
    [{ a: 0.6, b: 0.4 }, /a \+ b must be below 1/],
    [{ buffer: -1 }, /buffer must be an integer/],
    [{ buffer: 1.5 }, /buffer must be an integer/],
    [{ b: Number.NaN }, /b must be in/],
    [{ bufferMaxShare: 1.5 }, /bufferMaxShare must be in \[0, 1\]/],
    [{ bufferMaxShare: -0.1 }, /bufferMaxShare must be in \[0, 1\]/],
  ])('rejects the invalid options %o with INVALID_PARAMETER', (opts, message) => {
    let err: unknown;
    try {
      adaptiveK([1, 0.5], opts);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('INVALID_PARAMETER');
    expect((err as AppError).statusCode).toBe(400);
    expect((err as AppError).message).toMatch(message);
  });

  it('rejects a score that is not a finite number', () => {
    expect(() => adaptiveK([1, Number.NaN])).toThrow(/finite/);
  });

  const curves = fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 1, maxLength: 60 });
  const ab = fc
    .tuple(fc.double({ min: 0, max: 0.95, noNaN: true }), fc.double({ min: 0, max: 0.95, noNaN: true }))
    .filter(([a, b]) => a + b < 1);

  it('always chooses 1 ≤ k ≤ N', () => {
    fc.assert(
      fc.property(curves, ab, fc.nat(20), (scores, [a, b], buffer) => {
        const r = adaptiveK(scores, { a, b, buffer });
        return r.k >= 1 && r.k <= scores.length && r.window[0] < r.window[1] === scores.length > 1;
      }),
    );
  });

  it('sets k to cutIndex + 1 + B clamped to N, with the cut at the first largest gap of the window', () => {
    fc.assert(
      fc.property(curves, ab, fc.nat(20), (scores, [a, b], buffer) => {
        const r = adaptiveK(scores, { a, b, buffer });
        const n = scores.length;
        if (r.k !== Math.min(n, r.cutIndex + 1 + buffer)) return false;
        if (n < 2) return r.cutIndex === 0;
        const [lo, hi] = r.window;
        const inWindow = r.gaps.slice(lo, hi);
        const best = Math.max(...inWindow);
        return r.largestGap === best && r.cutIndex === lo + inWindow.indexOf(best);
      }),
    );
  });

  it('never lowers k when the buffer grows', () => {
    fc.assert(
      fc.property(curves, ab, fc.nat(20), fc.nat(20), (scores, [a, b], b1, extra) => {
        return adaptiveK(scores, { a, b, buffer: b1 + extra }).k >= adaptiveK(scores, { a, b, buffer: b1 }).k;
      }),
    );
  });

  it('never lowers k when the buffer cap share grows, and never reads more than the uncapped buffer', () => {
    const withTokens = curves.chain((scores) =>
      fc.tuple(
        fc.constant(scores),
        fc.array(fc.integer({ min: 1, max: 800 }), { minLength: scores.length, maxLength: scores.length }),
      ),
    );
    const share = fc.double({ min: 0, max: 1, noNaN: true });
    fc.assert(
      fc.property(
        withTokens,
        ab,
        fc.integer({ min: 1, max: 10_000 }),
        share,
        share,
        ([scores, tokens], [a, b], bufferTokens, s1, s2) => {
          const [lo, hi] = s1 <= s2 ? [s1, s2] : [s2, s1];
          const low = adaptiveK(scores, { a, b, bufferTokens, bufferMaxShare: lo }, tokens);
          const high = adaptiveK(scores, { a, b, bufferTokens, bufferMaxShare: hi }, tokens);
          const uncapped = adaptiveK(scores, { a, b, bufferTokens }, tokens);
          return (
            low.k <= high.k &&
            high.k <= uncapped.k &&
            low.effectiveBufferTokens <= high.effectiveBufferTokens &&
            high.k >= high.aboveCut
          );
        },
      ),
    );
  });

  it('returns the whole curve sorted in descending order with non-negative gaps', () => {
    fc.assert(
      fc.property(curves, (scores) => {
        const r = adaptiveK(scores);
        const sortedOk = r.sorted.every((s, i) => i === 0 || r.sorted[i - 1]!.score >= s.score);
        const sameSet = [...r.sorted.map((s) => s.index)].sort((x, y) => x - y).every((v, i) => v === i);
        return sortedOk && sameSet && r.sorted.length === scores.length && r.gaps.every((g) => g >= 0);
      }),
    );
  });
});
