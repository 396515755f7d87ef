import { describe, expect, it } from 'vitest';
import { FEATURE_NAMES, questionFeatures } from '../../eval/routing/features.js';
import { vocabulary } from '../../src/core/routing/terms.js';
import type { RetrievalResult } from '../../src/core/retrieval/service.js';

type R = Pick<RetrievalResult, 'curve' | 'selected' | 'signals' | 'tokens'>;

function result(scores: number[], texts: string[], selectedIdx: number[], documents = 10_000): R {
  const curve = scores.map((score, i) => ({ id: `c${i}`, documentId: 'd', order: i, score })).sort((a, b) => b.score - a.score);
  const selected = selectedIdx.map((i) => ({ id: `c${i}`, documentId: 'd', order: i, start: 0, end: 1, tokens: 100, score: scores[i]!, dense: 0, bm25: scores[i]!, text: texts[i]! }));
  return {
    curve,
    selected,
    signals: { candidates: scores.length, k: selected.length, cutIndex: 0, largestGap: 1, relativeGap: 0.5, topScore: Math.max(...scores), aboveCut: 1, flat: false, selectedShare: 0.1, spread: 0.2 },
    tokens: { selected: 100 * selected.length, documents },
  };
}

describe('router features', () => {
  const texts = ['The lighthouse keeper lit the lamp at dusk.', 'Fishing boats returned to the harbour.', 'Gulls cried over the harbour wall.'];
  const vocab = vocabulary(texts.join(' '));

  it('measures how well the best chunk and the selection cover the question terms the document uses', () => {
    const f = questionFeatures('When did the lighthouse keeper see the harbour boats?', result([5, 1, 1], texts, [0, 1]), [vocab], 128_000);
    // Terms: "lighthouse", "keeper", "see", "harbour", "boat(s)"; "see" is not in the document.
    expect(f.absentTerms).toBe(1);
    expect(f.terms).toBe(5);
    expect(f.absentShare).toBeCloseTo(0.2);
    expect(f.topCoverage).toBeCloseTo(2 / 4); // lighthouse, keeper of lighthouse/keeper/harbour/boat
    expect(f.selectedCoverage).toBeCloseTo(4 / 4);
    expect(f.yesNo).toBe(0);
    expect(f.explain).toBe(0);
  });

  it('reads the curve: a lone top score has a large z and margin, a flat curve none', () => {
    const sharp = questionFeatures('lighthouse?', result([9, 1, 1, 1, 1], [...texts, 'a', 'b'], [0]), [vocab], 128_000);
    const flat = questionFeatures('lighthouse?', result([2, 2, 2, 2, 2], [...texts, 'a', 'b'], [0]), [vocab], 128_000);
    expect(sharp.topZ).toBeCloseTo(2, 5); // (9 − 2.6) / 3.2
    expect(sharp.topMargin).toBeCloseTo(8 / 9);
    expect(flat.topZ).toBe(0);
    expect(flat.topMargin).toBe(0);
  });

  it('reads the question form and the size against the window', () => {
    const f = questionFeatures('Did the keeper compare both boats throughout 1901?', result([1, 1, 1], texts, [0], 256_000), [vocab], 128_000);
    expect(f.yesNo).toBe(1);
    expect(f.comparisonCue).toBe(1);
    expect(f.globalCue).toBe(1);
    expect(f.aggregationCue).toBe(0);
    expect(f.hasNumber).toBe(1);
    expect(f.windowRatio).toBe(2);
    expect(f.logDocTokens).toBeCloseTo(Math.log2(256_000));
    expect(f.words).toBe(8);
  });

  it('gives every named feature as a finite number, also for an empty curve', () => {
    const f = questionFeatures('why?', { curve: [], selected: [], signals: { candidates: 0, k: 0, cutIndex: null, largestGap: null, relativeGap: null, topScore: null, aboveCut: null, flat: null, selectedShare: 0, spread: 0 }, tokens: { selected: 0, documents: 0 } }, [], 0);
    for (const n of FEATURE_NAMES) expect(Number.isFinite(f[n]), n).toBe(true);
    expect(f.explain).toBe(1);
  });
});
