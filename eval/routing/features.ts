import { analyze } from '../../src/core/retrieval/bm25.js';
import type { RetrievalResult } from '../../src/core/retrieval/service.js';
import { findCues } from '../../src/core/routing/cues.js';

/**
 * What the router can know about one question before any LLM reads anything:
 * the shape of its retrieval scores (Adaptive-k: Taguchi et al., EMNLP 2025),
 * how well the best passages cover the question's terms, the question's own
 * form, and the size of the documents against the reader's window. All
 * numbers, so eval/fit-router.ts can weigh them; every one is cheap (no extra
 * retrieval, no model call). No learned preference ships in the service: on
 * LaRA dev none beat the rules held out (see eval/fit-router.ts).
 */
export interface RouterFeatures {
  /** log2 of the documents' cl100k tokens. */
  logDocTokens: number;
  /** Documents' tokens / the reader's window (above 1: full context would be truncated). */
  windowRatio: number;
  /** Adaptive-k's largest gap / score range (0 when there is no curve). */
  relativeGap: number;
  /** log2(1 + chunks above the largest gap). */
  logAboveCut: number;
  /** log2(1 + chunks selected). */
  logK: number;
  /** Share of the documents' tokens the selection reads. */
  selectedShare: number;
  /** Spread of the selected chunks over their documents, 0–1. */
  spread: number;
  /** How far the best score stands above the curve: (top − mean) / standard deviation. */
  topZ: number;
  /** (best − second best) / best score; 0 when the best score is 0. */
  topMargin: number;
  /** Share of the question's terms (that the documents use at all) found in the best chunk. */
  topCoverage: number;
  /** Share of those terms found in any selected chunk. */
  selectedCoverage: number;
  /** Distinct question terms (BM25 analysis: lower-cased, stemmed, no stopwords). */
  terms: number;
  /** Question terms the documents never use. */
  absentTerms: number;
  /** absentTerms / terms (0 for a question without terms). */
  absentShare: number;
  /** Whitespace-separated words of the question. */
  words: number;
  comparisonCue: number;
  aggregationCue: number;
  globalCue: number;
  /** 1 when the question opens like a yes/no question (is, does, did, can...). */
  yesNo: number;
  /** 1 when the question asks why or how (an explanation). */
  explain: number;
  /** 1 when the question contains a digit (years, amounts: often one table cell). */
  hasNumber: number;
}

export const FEATURE_NAMES = [
  'logDocTokens',
  'windowRatio',
  'relativeGap',
  'logAboveCut',
  'logK',
  'selectedShare',
  'spread',
  'topZ',
  'topMargin',
  'topCoverage',
  'selectedCoverage',
  'terms',
  'absentTerms',
  'absentShare',
  'words',
  'comparisonCue',
  'aggregationCue',
  'globalCue',
  'yesNo',
  'explain',
  'hasNumber',
] as const satisfies ReadonlyArray<keyof RouterFeatures>;

const YES_NO = /^\s*(?:is|are|was|were|does|do|did|can|could|has|have|had|will|would|should)\b/i;
const EXPLAIN = /\b(?:why|how)\b/i;

/**
 * The features of `question` given its retrieval result (scores as retrieved:
 * the curve is the configured score, best first) and the vocabularies of the
 * documents in scope (./terms.ts).
 */
export function questionFeatures(
  question: string,
  r: Pick<RetrievalResult, 'curve' | 'selected' | 'signals' | 'tokens'>,
  vocabularies: ReadonlyArray<ReadonlySet<string>>,
  window: number,
): RouterFeatures {
  const s = r.signals;
  const scores = r.curve.map((c) => c.score);
  const n = scores.length;
  const mean = n > 0 ? scores.reduce((a, b) => a + b, 0) / n : 0;
  const sd = n > 1 ? Math.sqrt(scores.reduce((a, b) => a + (b - mean) ** 2, 0) / n) : 0;
  const top = scores[0] ?? 0;
  const second = scores[1] ?? top;

  const terms = [...new Set(analyze(question))];
  const present = terms.filter((t) => vocabularies.some((v) => v.has(t)));
  const topId = r.curve[0]?.id;
  const topChunk = r.selected.find((c) => c.id === topId);
  const share = (texts: readonly string[]): number => {
    if (present.length === 0) return 0;
    const have = new Set(texts.flatMap((t) => analyze(t)));
    return present.filter((t) => have.has(t)).length / present.length;
  };
  const cues = new Set(findCues(question).map((c) => c.name));
  return {
    logDocTokens: Math.log2(Math.max(1, r.tokens.documents)),
    windowRatio: window > 0 ? r.tokens.documents / window : 0,
    relativeGap: s.relativeGap ?? 0,
    logAboveCut: Math.log2(1 + (s.aboveCut ?? s.k)),
    logK: Math.log2(1 + s.k),
    selectedShare: s.selectedShare,
    spread: s.spread,
    topZ: sd > 0 ? (top - mean) / sd : 0,
    topMargin: top > 0 ? (top - second) / top : 0,
    topCoverage: topChunk ? share([topChunk.text]) : 0,
    selectedCoverage: share(r.selected.map((c) => c.text)),
    terms: terms.length,
    absentTerms: terms.length - present.length,
    absentShare: terms.length > 0 ? (terms.length - present.length) / terms.length : 0,
    words: question.trim() === '' ? 0 : question.trim().split(/\s+/).length,
    comparisonCue: +cues.has('comparison'),
    aggregationCue: +cues.has('aggregation'),
    globalCue: +cues.has('global'),
    yesNo: +YES_NO.test(question),
    explain: +EXPLAIN.test(question),
    hasNumber: +/\d/.test(question),
  };
}
