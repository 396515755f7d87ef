import { AppError } from '../../errors.js';

/**
 * Adaptive-k: choose how many retrieved chunks to read from the shape of the
 * score curve alone (Taguchi, Maekawa, Bhutani, "Efficient Context Selection
 * for Long-Context QA: No Tuning, No Iteration, Just Adaptive-k", EMNLP 2025;
 * reference code megagonlabs/adaptive-k-retrieval, `find_threshold_largest_gap`).
 *
 * All N candidates are scored and sorted in descending order; gap i is the drop
 * `sorted[i] - sorted[i+1]`. The cut is at the largest gap inside the window
 * `[floor((N-1)·a), N-1-floor((N-1)·b))`, and `buffer` more chunks are read
 * after it: `k = min(N, cut + 1 + buffer)`.
 *
 * Optional, not in the paper: a buffer measured in tokens (`bufferTokens`),
 * capped at a share of the candidates' tokens (`bufferMaxShare`).
 */
export interface AdaptiveKOptions {
  /** Fraction of the top of the sorted curve skipped when looking for the gap. Default 0. */
  a?: number;
  /** Fraction of the bottom skipped (its long flat tail would otherwise hold spurious gaps). Default 0.1. */
  b?: number;
  /** Chunks read after the cut, in score order. Default 5. */
  buffer?: number;
  /**
   * When set (> 0), the buffer is measured in tokens instead of chunks: after
   * the cut, chunks are added in score order until at least this many tokens
   * were added (or none remain). Needs `tokens`. `buffer` is then ignored.
   * Default 0 (off): a chunk count, as published.
   */
  bufferTokens?: number;
  /**
   * Caps the token buffer at this share of all candidates' tokens:
   * `min(bufferTokens, bufferMaxShare × Σ tokens)`. A buffer sized on long
   * documents would otherwise read the whole of a short one. In [0, 1];
   * ignored without `bufferTokens`. Default 1 (no cap).
   */
  bufferMaxShare?: number;
  /**
   * Below this relative gap (largest gap / score range) the curve counts as
   * flat: no chunk stands out, so the caller may prefer reading more (or the
   * whole document). Only sets `flat`; `k` is unchanged. Default 0 (only a
   * curve with all scores equal is flat).
   */
  minRelativeGap?: number;
}

/** What Adaptive-k saw and decided, for logs, responses and routing. */
export interface AdaptiveKResult {
  /** Chunks to read: the first k of `sorted`. 0 only when N = 0. */
  k: number;
  /** Position in `sorted` of the last chunk above the largest gap (-1 when N = 0). */
  cutIndex: number;
  /** The whole curve, best first; `index` points into the input scores. Ties keep input order. */
  sorted: Array<{ index: number; score: number }>;
  /** `gaps[i] = sorted[i].score - sorted[i+1].score` (≥ 0), length max(N-1, 0). */
  gaps: number[];
  /** The gap cut at (0 when N < 2). */
  largestGap: number;
  /** largestGap / (max - min); 0 when all scores are equal or N < 2. */
  relativeGap: number;
  /** Best score (NaN when N = 0). */
  topScore: number;
  /** Chunks above the cut, before the buffer: cutIndex + 1. */
  aboveCut: number;
  /** Gap indices searched: [lo, hi). */
  window: [number, number];
  /** True when the curve has no clear gap: all scores equal, or relativeGap < minRelativeGap. */
  flat: boolean;
  /** Token buffer applied after the cut: min(bufferTokens, bufferMaxShare × candidate tokens); 0 when the buffer is a chunk count. */
  effectiveBufferTokens: number;
  /** True when bufferMaxShare lowered the token buffer below bufferTokens. */
  bufferCapped: boolean;
}

/** Published defaults (a = 0, b = 0.1, B = 5); the optional improvements are off. */
export const ADAPTIVE_K_DEFAULTS = Object.freeze({
  a: 0,
  b: 0.1,
  buffer: 5,
  bufferTokens: 0,
  bufferMaxShare: 1,
  minRelativeGap: 0,
});

function invalid(msg: string): never {
  throw new AppError('INVALID_PARAMETER', [msg]);
}

/** Checks a, b, buffer, bufferTokens, bufferMaxShare and minRelativeGap; throws INVALID_PARAMETER with a readable message. */
export function validateAdaptiveKOptions(opts: AdaptiveKOptions = {}): Required<AdaptiveKOptions> {
  const o = { ...ADAPTIVE_K_DEFAULTS, ...stripUndefined(opts) };
  if (!Number.isFinite(o.a) || o.a < 0 || o.a >= 1) invalid(`Adaptive-k parameter a must be in [0, 1), got ${o.a}`);
  if (!Number.isFinite(o.b) || o.b < 0 || o.b >= 1) invalid(`Adaptive-k parameter b must be in [0, 1), got ${o.b}`);
  if (o.a + o.b >= 1) invalid(`Adaptive-k parameters a + b must be below 1, got ${o.a} + ${o.b}`);
  if (!Number.isInteger(o.buffer) || o.buffer < 0) invalid(`Adaptive-k buffer must be an integer ≥ 0, got ${o.buffer}`);
  if (!Number.isFinite(o.bufferTokens) || o.bufferTokens < 0)
    invalid(`Adaptive-k bufferTokens must be ≥ 0, got ${o.bufferTokens}`);
  if (!Number.isFinite(o.bufferMaxShare) || o.bufferMaxShare < 0 || o.bufferMaxShare > 1) {
    invalid(`Adaptive-k bufferMaxShare must be in [0, 1], got ${o.bufferMaxShare}`);
  }
  if (!Number.isFinite(o.minRelativeGap) || o.minRelativeGap < 0 || o.minRelativeGap > 1) {
    invalid(`Adaptive-k minRelativeGap must be in [0, 1], got ${o.minRelativeGap}`);
  }
  return o;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Runs Adaptive-k over one score per candidate.
 *
 * Tie-breaking: equal scores keep input order; among equal gaps the first
 * (highest-ranked) one wins, as numpy/torch argmin does in the reference code.
 * Degenerate cases: N = 0 → k = 0; N = 1 → k = 1. With a + b < 1 the window is
 * never empty for N ≥ 2 (floor((N-1)a) + floor((N-1)b) ≤ floor((N-1)(a+b)) <
 * N-1); should it be (it cannot, but the code does not rely on the proof), the
 * cut is placed after the last chunk so everything is read: when the curve
 * gives no evidence, reading too much is the safe error.
 *
 * @param scores one score per candidate, any scale (cosine, BM25, fused); higher is better.
 * @param tokens token count per candidate, needed only for `bufferTokens`.
 */
export function adaptiveK(
  scores: ArrayLike<number>,
  opts: AdaptiveKOptions = {},
  tokens?: ArrayLike<number>,
): AdaptiveKResult {
  const o = validateAdaptiveKOptions(opts);
  const n = scores.length;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(scores[i]!)) invalid(`Adaptive-k scores must be finite numbers; score ${i} is ${scores[i]}`);
  }
  if (o.bufferTokens > 0 && (tokens === undefined || tokens.length !== n)) {
    invalid('Adaptive-k bufferTokens needs the token count of every candidate');
  }

  const sorted = Array.from({ length: n }, (_, index) => ({ index, score: scores[index]! }));
  sorted.sort((x, y) => y.score - x.score || x.index - y.index);
  if (n === 0) {
    return {
      k: 0,
      cutIndex: -1,
      sorted,
      gaps: [],
      largestGap: 0,
      relativeGap: 0,
      topScore: Number.NaN,
      aboveCut: 0,
      window: [0, 0],
      flat: true,
      effectiveBufferTokens: 0,
      bufferCapped: false,
    };
  }

  const gaps: number[] = [];
  for (let i = 0; i + 1 < n; i++) gaps.push(sorted[i]!.score - sorted[i + 1]!.score);
  const lo = Math.floor((n - 1) * o.a);
  const hi = n - 1 - Math.floor((n - 1) * o.b);

  let cutIndex: number;
  let largestGap = 0;
  if (n === 1) {
    cutIndex = 0;
  } else if (lo >= hi) {
    cutIndex = n - 1;
  } else {
    cutIndex = lo;
    largestGap = gaps[lo]!;
    for (let i = lo + 1; i < hi; i++) {
      if (gaps[i]! > largestGap) {
        largestGap = gaps[i]!;
        cutIndex = i;
      }
    }
  }

  const range = sorted[0]!.score - sorted[n - 1]!.score;
  const relativeGap = range > 0 ? largestGap / range : 0;
  const flat = range === 0 || relativeGap < o.minRelativeGap;

  let k: number;
  let effectiveBufferTokens = 0;
  let bufferCapped = false;
  if (o.bufferTokens > 0) {
    let total = 0;
    for (let i = 0; i < n; i++) total += tokens![i]!;
    effectiveBufferTokens = Math.min(o.bufferTokens, Math.floor(o.bufferMaxShare * total));
    bufferCapped = effectiveBufferTokens < o.bufferTokens;
    k = cutIndex + 1;
    let added = 0;
    while (k < n && added < effectiveBufferTokens) {
      added += tokens![sorted[k]!.index]!;
      k++;
    }
  } else {
    k = Math.min(n, cutIndex + 1 + o.buffer);
  }

  return {
    k,
    cutIndex,
    sorted,
    gaps,
    largestGap,
    relativeGap,
    topScore: sorted[0]!.score,
    aboveCut: cutIndex + 1,
    window: [lo, Math.max(lo, hi)],
    flat,
    effectiveBufferTokens,
    bufferCapped,
  };
}
