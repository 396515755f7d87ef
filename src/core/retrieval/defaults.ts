import { ADAPTIVE_K_DEFAULTS, type AdaptiveKOptions } from './adaptive-k.js';

/** Which scores Adaptive-k cuts: cosine, BM25, or their fusion. */
export const SCORE_KINDS = ['dense', 'bm25', 'hybrid'] as const;
export type ScoreKind = (typeof SCORE_KINDS)[number];

/**
 * Retrieval defaults, chosen by measurement on the LaRA development half
 * (eval/measure-retrieval.ts; the numbers are in docs/retrieval.md): Adaptive-k
 * over BM25 with a 4000-token buffer capped at 20% of the candidates' tokens.
 * The config's RETRIEVAL_SCORE and ADAPTIVE_K_* take their defaults from here.
 */
export const DEFAULTS = Object.freeze({
  /** Scores Adaptive-k cuts. */
  score: 'bm25' as ScoreKind,
  /** Weight of the dense scores in the min-max fusion (1 - alpha for BM25), when score is 'hybrid'. */
  hybridAlpha: 0.3,
  /** The published a, b and chunk buffer (ADAPTIVE_K_DEFAULTS), with a token buffer capped at a share of the candidates. */
  adaptiveK: Object.freeze({
    ...ADAPTIVE_K_DEFAULTS,
    bufferTokens: 4000,
    bufferMaxShare: 0.2,
  }) satisfies Required<AdaptiveKOptions>,
});

/** The Adaptive-k selection the service runs by default; built from config (ADAPTIVE_K_*) in the container. */
export interface AdaptiveKSettings {
  kind: 'adaptive-k';
  a: number;
  b: number;
  buffer: number;
  bufferTokens: number;
  bufferMaxShare: number;
}
