import type { AdaptiveKOptions } from './adaptive-k.js';

/** Which scores Adaptive-k cuts: cosine, BM25, or their fusion. */
export type ScoreKind = 'dense' | 'bm25' | 'hybrid';

/**
 * Retrieval defaults, chosen by measurement on the LaRA development half
 * (eval/measure-retrieval.ts, 1208 questions, 400-token chunks with 40 overlap).
 *
 * Adaptive-k as published (B = 5 chunks) over BM25 reached evidence coverage
 * 0.930, answer support 0.827, reading 9.9% of the document; comparison at
 * 128k was its weak spot (0.712). A buffer of 4000 tokens instead of 5 chunks
 * raised that to 0.977 / 0.882 at 15.0% read, better in every task × length
 * cell (comparison 128k: 0.894 / 0.812), and is independent of the chunk size.
 * Other measured options that did not help: b ∈ {0, 0.3, 0.5} (±0.003),
 * chunk sizes 200 / 600 (same support at equal reading).
 */
export const DEFAULTS = Object.freeze({
  /** Scores Adaptive-k cuts. */
  score: 'bm25' as ScoreKind,
  /** Weight of the dense scores in the min-max fusion (1 - alpha for BM25). */
  hybridAlpha: 0.5,
  adaptiveK: Object.freeze({ a: 0, b: 0.1, buffer: 5, bufferTokens: 4000, minRelativeGap: 0 }) satisfies Required<AdaptiveKOptions>,
});
