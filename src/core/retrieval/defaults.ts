import type { AdaptiveKOptions } from './adaptive-k.js';

/** Which scores Adaptive-k cuts: cosine, BM25, or their fusion. */
export type ScoreKind = 'dense' | 'bm25' | 'hybrid';

/**
 * Retrieval defaults, chosen by measurement on the LaRA development half
 * (eval/measure-retrieval.ts; numbers in the commit that set them).
 */
export const DEFAULTS = Object.freeze({
  /** Scores Adaptive-k cuts. */
  score: 'hybrid' as ScoreKind,
  /** Weight of the dense scores in the min-max fusion (1 - alpha for BM25). */
  hybridAlpha: 0.5,
  adaptiveK: Object.freeze({ a: 0, b: 0.1, buffer: 5, bufferTokens: 0, minRelativeGap: 0 }) satisfies Required<AdaptiveKOptions>,
});
