import type { ScoreKind } from './defaults.js';
import { AppError } from '../../errors.js';

/**
 * Combining dense (cosine) and lexical (BM25) scores of the same candidates.
 * Two classic ways: a weighted sum of per-query min-max normalised scores
 * (convex combination, as in Bruch et al., "An Analysis of Fusion Functions
 * for Hybrid Retrieval", TOIS 2023), and reciprocal rank fusion (Cormack,
 * Clarke, Büttcher, SIGIR 2009). Both return one score per candidate in input
 * order, so Adaptive-k can cut the fused curve like any other.
 */

/**
 * Rescales to [0, 1] for this query. A constant list carries no ranking
 * information and maps to all zeros, so it cannot dominate a fusion.
 */
export function minMaxNormalize(scores: ArrayLike<number>): Float64Array {
  const n = scores.length;
  const out = new Float64Array(n);
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const s = scores[i]!;
    if (s < min) min = s;
    if (s > max) max = s;
  }
  const range = max - min;
  if (!(range > 0)) return out;
  for (let i = 0; i < n; i++) out[i] = (scores[i]! - min) / range;
  return out;
}

/**
 * `alpha · norm(dense) + (1 - alpha) · norm(bm25)`, both min-max normalised per query.
 * @param alpha weight of the dense scores, in [0, 1]. Default 0.5.
 */
export function fuseWeighted(dense: ArrayLike<number>, bm25: ArrayLike<number>, alpha = 0.5): Float64Array {
  if (dense.length !== bm25.length)
    throw new RangeError(`fusion needs one score per candidate from each retriever (${dense.length} ≠ ${bm25.length})`);
  if (!(alpha >= 0 && alpha <= 1))
    throw new AppError('INVALID_PARAMETER', [`hybrid weight alpha must be in [0, 1], got ${alpha}`]);
  const d = minMaxNormalize(dense);
  const l = minMaxNormalize(bm25);
  const out = new Float64Array(d.length);
  for (let i = 0; i < out.length; i++) out[i] = alpha * d[i]! + (1 - alpha) * l[i]!;
  return out;
}

/** 1-based ranks (best = 1); ties get the rank of their first position, in input order. */
function ranks(scores: ArrayLike<number>): Int32Array {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  idx.sort((x, y) => scores[y]! - scores[x]! || x - y);
  const out = new Int32Array(scores.length);
  for (let r = 0; r < idx.length; r++) {
    const i = idx[r]!;
    const prev = r > 0 ? idx[r - 1]! : -1;
    out[i] = prev >= 0 && scores[prev] === scores[i] ? out[prev]! : r + 1;
  }
  return out;
}

/**
 * Reciprocal rank fusion: Σ over rankings of 1 / (k + rank).
 * @param k damping constant; 60 as in Cormack et al. Default 60.
 */
export function reciprocalRankFusion(rankings: ReadonlyArray<ArrayLike<number>>, k = 60): Float64Array {
  const n = rankings[0]?.length ?? 0;
  for (const r of rankings) {
    if (r.length !== n)
      throw new RangeError('reciprocal rank fusion needs one score per candidate from each retriever');
  }
  const out = new Float64Array(n);
  for (const r of rankings) {
    const rk = ranks(r);
    for (let i = 0; i < n; i++) out[i]! += 1 / (k + rk[i]!);
  }
  return out;
}

/** The scores Adaptive-k cuts for a score kind: the dense ones, the BM25 ones, or their fusion weighted by `alpha`. */
export function scoresOfKind(
  kind: ScoreKind,
  dense: ArrayLike<number>,
  bm25: Float64Array,
  alpha: number,
): Float64Array {
  return kind === 'dense' ? Float64Array.from(dense) : kind === 'bm25' ? bm25 : fuseWeighted(dense, bm25, alpha);
}
