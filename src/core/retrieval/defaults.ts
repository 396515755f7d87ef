import { ADAPTIVE_K_DEFAULTS, type AdaptiveKOptions } from './adaptive-k.js';

/** Which scores Adaptive-k cuts: cosine, BM25, or their fusion. */
export const SCORE_KINDS = ['dense', 'bm25', 'hybrid'] as const;
export type ScoreKind = (typeof SCORE_KINDS)[number];

/**
 * Retrieval defaults, chosen by measurement on the LaRA development half
 * (eval/measure-retrieval.ts --sweep: 1208 questions, 400-token chunks with 40
 * overlap, USE-lite embeddings; coverage / answer support / share of document
 * tokens read, micro-averaged over questions).
 *
 * - Adaptive-k as published (a = 0, b = 0.1, B = 5 chunks) over BM25:
 *   0.930 / 0.827 / 9.9%; comparison at 128k is its weak spot (0.712 / 0.727).
 * - The same over USE-lite cosine reads more and finds less (0.855 / 0.679 /
 *   14.8%): the curve of a small embedder has no sharp drop near the top.
 * - Hybrid, alpha = 0.3 (BM25-leaning min-max fusion), with a buffer of 6000
 *   tokens instead of 5 chunks: 0.982 / 0.897 / 15.3%, better than the
 *   published setting in every task × length cell (comparison 128k: 0.913 /
 *   0.817). At equal reading it beats BM25 with a 4000-token buffer (0.977 /
 *   0.882 / 15.0%); alpha 0.5 and 0.7 and RRF were worse at every buffer.
 *   A token buffer does not depend on the chunk size, which a chunk count does.
 * - Did not help: b ∈ {0, 0.3, 0.5} (±0.003), chunk sizes 200 / 600 (same
 *   support at equal reading). A fixed token budget is as efficient as
 *   Adaptive-k on this set (budget 8000 on the same hybrid: 0.988 / 0.905 /
 *   16.6%); Adaptive-k needs no per-corpus size and reports its curve.
 *
 * The service default (RETRIEVAL_SCORE, ADAPTIVE_K_* in config take their defaults from here) is
 * BM25 with a 4000-token buffer: within 0.005 coverage / 0.015 support of the
 * hybrid, it needs no query embedding to select, and the router's thresholds
 * (ROUTER_*) were calibrated on its score curves. Hybrid α = 0.3 with 6000
 * tokens stays one setting away (RETRIEVAL_SCORE=hybrid, per-request
 * hybridAlpha, ADAPTIVE_K_BUFFER_TOKENS=6000).
 *
 * The token buffer is capped at 20% of the candidates' tokens
 * (ADAPTIVE_K_BUFFER_MAX_SHARE): 4000 tokens were measured on 12k–130k-token
 * documents and would read all of a 3k-token one, leaving nothing to select.
 * The cap binds below 20k candidate tokens: 8 of the 68 dev documents (12k–
 * 19k tokens, 108 questions), where it reads 32.7% instead of 36.0% of the
 * text at equal coverage (0.997) and support 0.918 instead of 0.924; over all
 * questions 0.977 / 0.882 / 14.7% instead of 15.0% (BM25, 4000 tokens).
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
