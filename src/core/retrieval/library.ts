import { AppError } from '../../errors.js';
import type { TermDocumentStats } from '../../ports/document-store.js';
import { ADAPTIVE_K_DEFAULTS, adaptiveK } from './adaptive-k.js';
import { analyze } from '../text/analyse.js';
import { minMaxNormalize } from './fusion.js';

/**
 * Questions over a whole library (a namespace of many documents), in two
 * levels of Adaptive-k (Taguchi, Maekawa, Bhutani, "Efficient Context
 * Selection for Long-Context QA: No Tuning, No Iteration, Just Adaptive-k",
 * EMNLP 2025: cut the sorted scores at their largest gap):
 *
 * 1. the namespace's best chunks (lexical and dense candidates from the store,
 *    fused) give each document a score; the documents' curve is cut at its
 *    largest gap, and the documents above it are picked;
 * 2. chunks are then selected within the picked documents as for documents
 *    named by the caller (every chunk scored, Adaptive-k over them);
 * 3. the router weighs the picked documents only.
 *
 * Pure functions: the service feeds them the store's candidates.
 */

/** A chunk candidate of the namespace: which document it belongs to and its (fused) score, higher is better. */
export interface LibraryCandidate {
  id: string;
  documentId: string;
  score: number;
}

/**
 * How a document's chunk scores become its score.
 * - `max`: its best chunk;
 * - `top3`: the sum of its three best chunks (a document that matches the
 *   question in several places beats one with a single lucky chunk).
 */
export type DocumentAggregate = 'max' | 'top3';

export const DOCUMENT_AGGREGATES: readonly DocumentAggregate[] = ['max', 'top3'];

export interface DocumentScore {
  documentId: string;
  score: number;
  /** Its best chunk's score. */
  best: number;
  /** Its chunks among the candidates. */
  chunks: number;
}

/** The documents' scores from their candidates' scores, best first (ties by document id, so the order is stable). */
export function documentScores(candidates: readonly LibraryCandidate[], aggregate: DocumentAggregate): DocumentScore[] {
  const byDoc = new Map<string, number[]>();
  for (const c of candidates) {
    if (!Number.isFinite(c.score))
      throw new AppError('INVALID_PARAMETER', [`candidate ${c.id} has no finite score (${c.score})`]);
    let list = byDoc.get(c.documentId);
    if (!list) {
      list = [];
      byDoc.set(c.documentId, list);
    }
    list.push(c.score);
  }
  const out: DocumentScore[] = [];
  for (const [documentId, scores] of byDoc) {
    scores.sort((x, y) => y - x);
    const score = aggregate === 'max' ? scores[0]! : scores.slice(0, 3).reduce((a, s) => a + s, 0);
    out.push({ documentId, score, best: scores[0]!, chunks: scores.length });
  }
  return out.sort(
    (x, y) => y.score - x.score || (x.documentId < y.documentId ? -1 : x.documentId > y.documentId ? 1 : 0),
  );
}

export interface DocumentPickOptions {
  /** Adaptive-k window over the documents' curve: fraction of the top skipped. Default 0. */
  a?: number;
  /** ... fraction of the bottom skipped. Default 0.1 (as for chunks). */
  b?: number;
  /** Documents read after the cut, in score order. Default 0. */
  buffer?: number;
  /** Most documents picked, whatever the curve says. Default 3. */
  maxDocuments?: number;
}

/**
 * Chosen on the LaRA dev half by document-level 5-fold cross-validation
 * (eval/library-sweep.ts; best evidence coverage at ≤ 12k tokens read per
 * question on the other folds): every fold chose at most 16 documents (the
 * most the sweep offers), four of five no buffer. Numbers in docs/library.md.
 */
export const DOCUMENT_PICK_DEFAULTS = Object.freeze({
  // The published window, as for chunks.
  a: ADAPTIVE_K_DEFAULTS.a,
  b: ADAPTIVE_K_DEFAULTS.b,
  buffer: 0,
  maxDocuments: 16,
});

/**
 * How level one scores the documents and how much level two may select, the
 * one source of these defaults (config reads them):
 * - `aggregate`, `termWeights`, `phrases`, `readAlike`: chosen on the LaRA
 *   dev half by document-level cross-validation (docs/library.md);
 * - `maxTokens`: the budget the library was built for (at most 12k tokens
 *   read a question). On a flat curve Adaptive-k selects most of several
 *   documents, which adds little evidence for its cost (docs/library.md).
 */
export const LIBRARY_DEFAULTS = Object.freeze({
  aggregate: 'top3' as DocumentAggregate,
  termWeights: 'document' as TermWeights,
  phrases: true,
  readAlike: true,
  maxTokens: 12_000,
});

/** What the first level decided, and why: part of every whole-namespace response. */
export interface DocumentPick {
  /** Picked document ids, best first. */
  picked: string[];
  /** Every document with a candidate, best first. */
  curve: DocumentScore[];
  /** Position in `curve` of the last document above the largest gap (-1 without candidates). */
  cutIndex: number;
  largestGap: number;
  /** Largest gap / score range: near 1 one document stands out; near 0 none does. */
  relativeGap: number;
  /** Documents above the cut, before the buffer and the cap. */
  aboveCut: number;
  /** True when maxDocuments removed documents the cut would have picked. */
  capped: boolean;
  /** Why, in words. */
  reasons: string[];
}

const pct = (x: number): string => `${Math.round(x * 100)}%`;

/**
 * Picks the documents whose chunks stand out: Adaptive-k over the documents'
 * scores (largest gap inside the window, `buffer` more documents after it),
 * at most `maxDocuments`.
 */
export function pickDocuments(curve: readonly DocumentScore[], opts: DocumentPickOptions = {}): DocumentPick {
  const o = {
    ...DOCUMENT_PICK_DEFAULTS,
    ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)),
  };
  if (!Number.isInteger(o.maxDocuments) || o.maxDocuments < 1)
    throw new AppError('INVALID_PARAMETER', [`maxDocuments must be an integer ≥ 1, got ${o.maxDocuments}`]);
  const n = curve.length;
  if (n === 0) {
    return {
      picked: [],
      curve: [],
      cutIndex: -1,
      largestGap: 0,
      relativeGap: 0,
      aboveCut: 0,
      capped: false,
      reasons: ['no chunk of the namespace matches the question'],
    };
  }
  const ak = adaptiveK(
    curve.map((d) => d.score),
    { a: o.a, b: o.b, buffer: o.buffer },
  );
  // The curve is already sorted, so Adaptive-k's order is the curve's (ties keep input order).
  const wanted = ak.k;
  const k = Math.min(wanted, o.maxDocuments);
  const picked = curve.slice(0, k).map((d) => d.documentId);
  const reasons: string[] = [];
  if (n === 1) reasons.push('one document has chunks that match the question');
  else if (ak.relativeGap === 0)
    reasons.push(`no document stands out: all ${n} documents with matching chunks score the same`);
  else {
    reasons.push(
      `${ak.aboveCut === 1 ? 'one document stands' : `${ak.aboveCut} documents stand`} out of ${n} with matching chunks: ` +
        `the largest gap in the documents' scores is ${pct(ak.relativeGap)} of their range, after ${ak.aboveCut === 1 ? 'the first' : `the ${ak.aboveCut}th`}` +
        (o.buffer > 0 ? `; ${o.buffer} more read after the cut` : ''),
    );
  }
  if (k < wanted) reasons.push(`only the best ${k} are read (at most ${o.maxDocuments} documents)`);
  return {
    picked,
    curve: [...curve],
    cutIndex: ak.cutIndex,
    largestGap: ak.largestGap,
    relativeGap: ak.relativeGap,
    aboveCut: ak.aboveCut,
    capped: k < wanted,
    reasons,
  };
}

/** A candidate from one retriever: its chunk id, document and score in that retriever's scale. */
export interface RetrieverHit {
  id: string;
  documentId: string;
  score: number;
}

/**
 * Fuses the candidate lists of two retrievers over the same chunks into one:
 * `alpha · norm(dense) + (1 - alpha) · norm(lexical)`, each list min-max
 * normalised over its own hits (as fusion.ts `fuseWeighted`, Bruch et al.,
 * TOIS 2023); a chunk one retriever did not return gets 0 from it, the
 * bottom of that retriever's scale. Returns the union, in no particular order.
 */
export function fuseHits(
  lexical: readonly RetrieverHit[],
  dense: readonly RetrieverHit[],
  alpha: number,
): LibraryCandidate[] {
  if (!(alpha >= 0 && alpha <= 1))
    throw new AppError('INVALID_PARAMETER', [`hybrid weight alpha must be in [0, 1], got ${alpha}`]);
  const out = new Map<string, LibraryCandidate>();
  const add = (hits: readonly RetrieverHit[], weight: number) => {
    const norm = minMaxNormalize(hits.map((h) => h.score));
    hits.forEach((h, i) => {
      const c = out.get(h.id) ?? { id: h.id, documentId: h.documentId, score: 0 };
      c.score += weight * norm[i]!;
      out.set(h.id, c);
    });
  };
  add(lexical, 1 - alpha);
  add(dense, alpha);
  return [...out.values()];
}

/**
 * Level one's term weights: `document`, idf over the namespace's documents
 * (weightByDocumentFrequency); `chunk`, the store's own chunk-level BM25.
 */
export type TermWeights = 'document' | 'chunk';

export const TERM_WEIGHTS: readonly TermWeights[] = ['document', 'chunk'];

/** A candidate with its text, so level one can weight its terms again. */
export interface TextCandidate extends LibraryCandidate {
  text: string;
}

/** A candidate's counts of the question's terms and its length in terms, analysed once for all of level one. */
export interface AnalysedCandidate extends LibraryCandidate {
  /** Its analysed length (stopwords removed), for BM25's length normalisation. */
  length: number;
  /** How often each question term occurs in it (terms it lacks are absent). */
  tf: Map<string, number>;
  /** Each occurrence of a question term, in text order: the term and its position among the analysed terms (for pairs). */
  at: Array<[term: string, position: number]>;
}

/** The candidates of one question, analysed as BM25 analyses text (../text/analyse.ts). */
export interface AnalysedCandidates {
  /** The question's distinct terms. */
  terms: string[];
  /** The question's distinct pairs of adjacent terms ("tabl understand" for "table understanding"), stopwords skipped. */
  pairs: string[];
  candidates: AnalysedCandidate[];
}

/**
 * Analyses the candidates' texts once, keeping only what level one reads: each
 * candidate's length and its counts of the question's terms. Analysing 200
 * chunks of 400 tokens is the costliest step of level one, so both of its
 * readers (the term weights and the term distinction) share one pass.
 */
export function analyseCandidates(candidates: readonly TextCandidate[], question: string): AnalysedCandidates {
  const sequence = analyze(question);
  const terms = [...new Set(sequence)];
  const wanted = new Set(terms);
  const pairs = new Set<string>();
  for (let i = 1; i < sequence.length; i++)
    if (sequence[i - 1] !== sequence[i]) pairs.add(pairKey(sequence[i - 1]!, sequence[i]!));
  return {
    terms,
    pairs: [...pairs],
    candidates: candidates.map((c) => {
      const words = analyze(c.text);
      const tf = new Map<string, number>();
      const at: Array<[string, number]> = [];
      words.forEach((w, i) => {
        if (!wanted.has(w)) return;
        tf.set(w, (tf.get(w) ?? 0) + 1);
        at.push([w, i]);
      });
      return { id: c.id, documentId: c.documentId, score: c.score, length: words.length, tf, at };
    }),
  };
}

/**
 * Level one's chunk scores with each question term weighted by how few
 * DOCUMENTS hold it, rather than how few chunks: Okapi BM25's saturation and
 * length normalisation (k1 = 1.2, b = 0.75, lengths against the candidates'
 * mean) with the idf of the term over the namespace's documents,
 * ln(1 + (D - df + 0.5) / (df + 0.5)).
 *
 * Why: the store's chunk-level idf sinks a name that fills one book (it is in
 * hundreds of that book's chunks) below a word that appears in three chunks
 * of another; for the question "which document?", the name is the better
 * evidence. The candidates themselves still come from the store's chunk-level
 * search, so this re-weights what was found and finds nothing new. A term the
 * statistics do not know (a document made live since they were read) counts
 * as held by one document. With `phrases`, adjacent pairs of question terms
 * count as terms too (candidatePhrases).
 */
export function weightByDocumentFrequency(
  analysed: AnalysedCandidates,
  stats: TermDocumentStats,
  opts: { phrases?: boolean } = {},
): LibraryCandidate[] {
  const k1 = 1.2;
  const b = 0.75;
  const idf = new Map(
    analysed.terms.map((t) => {
      const df = Math.min(Math.max(stats.counts.get(t) ?? 1, 1), Math.max(stats.documents, 1));
      return [t, Math.log(1 + (stats.documents - df + 0.5) / (df + 0.5))];
    }),
  );
  const cs = analysed.candidates;
  const avgdl = cs.reduce((n, c) => n + c.length, 0) / Math.max(cs.length, 1) || 1;
  const phrases = opts.phrases ? candidatePhrases(analysed) : null;
  return cs.map((c, i) => {
    const norm = k1 * (1 - b + (b * c.length) / avgdl);
    let score = 0;
    for (const [t, f] of c.tf) score += (idf.get(t)! * f * (k1 + 1)) / (f + norm);
    if (phrases) for (const [p, f] of phrases.tf[i]!) score += (phrases.idf.get(p)! * f * (k1 + 1)) / (f + norm);
    return { id: c.id, documentId: c.documentId, score };
  });
}

const pairKey = (a: string, b: string): string => `${a} ${b}`;

/**
 * The question's pairs of adjacent terms as terms of their own: how often
 * each candidate holds a pair side by side (among its analysed terms), and
 * the pair's idf over the CANDIDATES' documents, ln(1 + (Dc - df + 0.5) /
 * (df + 0.5)). The namespace keeps no statistics of pairs (they would far
 * outnumber its terms), so the documents that matched the
 * question stand for it: among them, a pair that one document holds
 * ("table understanding", "China Foods") tells it apart even when each of
 * its words is everywhere.
 */
function candidatePhrases(analysed: AnalysedCandidates): {
  tf: Array<Map<string, number>>;
  idf: Map<string, number>;
} {
  const wanted = new Set(analysed.pairs);
  const holders = new Map<string, Set<string>>();
  const tf = analysed.candidates.map((c) => {
    const counts = new Map<string, number>();
    for (let x = 1; x < c.at.length; x++) {
      const [t0, p0] = c.at[x - 1]!;
      const [t1, p1] = c.at[x]!;
      if (p1 - p0 !== 1) continue;
      const key = pairKey(t0, t1);
      if (!wanted.has(key)) continue;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      let docs = holders.get(key);
      if (!docs) {
        docs = new Set();
        holders.set(key, docs);
      }
      docs.add(c.documentId);
    }
    return counts;
  });
  const documents = new Set(analysed.candidates.map((c) => c.documentId)).size;
  const idf = new Map(
    [...holders].map(([key, docs]) => [key, Math.log(1 + (documents - docs.size + 0.5) / (docs.size + 0.5))]),
  );
  return { tf, idf };
}

/**
 * Whether the question's terms say which document it is about:
 * - `terms`: the question's terms that the first document's candidate chunks hold;
 * - `alsoHeldBy`: the other documents of the curve whose candidate chunks hold
 *   every one of them, best first;
 * - `singledOut`: no other document does.
 */
export interface TermDistinction {
  singledOut: boolean;
  terms: string[];
  alsoHeldBy: string[];
}

/**
 * Whether the first document of the curve is the only one whose candidate
 * chunks hold all of the question's terms that its own chunks hold. When
 * another document holds them all, no term of the question tells the two
 * apart and the pick rests on how often the terms occur: LaRA's questions
 * were written for one document at a time, and "What was the company's net
 * loss for the three months ended March 31, 2024?" fits every first-quarter
 * filing of a library. A rule with no parameter, read from the candidates
 * alone, so that the response can say when the question did not name its
 * document.
 */
export function termDistinction(analysed: AnalysedCandidates, curve: readonly DocumentScore[]): TermDistinction {
  const first = curve[0]?.documentId;
  if (first === undefined) return { singledOut: false, terms: [], alsoHeldBy: [] };
  const held = new Map<string, Set<string>>();
  for (const c of analysed.candidates) {
    let set = held.get(c.documentId);
    if (!set) {
      set = new Set();
      held.set(c.documentId, set);
    }
    for (const t of c.tf.keys()) set.add(t);
  }
  const own = held.get(first) ?? new Set<string>();
  const terms = analysed.terms.filter((t) => own.has(t));
  const alsoHeldBy = curve
    .slice(1)
    .map((d) => d.documentId)
    .filter((id) => {
      const other = held.get(id);
      return other !== undefined && terms.every((t) => other.has(t));
    });
  return { singledOut: alsoHeldBy.length === 0, terms, alsoHeldBy };
}

/** The documents level two reads, best first, and why each: above the documents' cut, or holding the same terms. */
export interface DocumentsToRead {
  read: string[];
  /** The documents added because they hold every question term the first one holds (`alsoHeldBy`), best first. */
  alike: string[];
}

/**
 * The picked documents and, when the question's terms do not single out the
 * first one, every other candidate document that holds all of them, best
 * first, at most `maxDocuments` in all. Such a question fits each of them as
 * well as the first ("the company's net loss for the quarter" over a shelf
 * of quarterly filings), and the first was ranked by how often the terms
 * occur, so each is read rather than one bet on. A rule with no parameter of
 * its own: whether to apply it was chosen by cross-validation
 * (docs/library.md).
 */
export function documentsToRead(
  picked: readonly string[],
  distinction: TermDistinction,
  maxDocuments: number,
): DocumentsToRead {
  if (distinction.singledOut) return { read: [...picked], alike: [] };
  const read = [...picked];
  const alike: string[] = [];
  for (const id of distinction.alsoHeldBy) {
    if (read.length >= maxDocuments) break;
    if (read.includes(id)) continue;
    read.push(id);
    alike.push(id);
  }
  return { read, alike };
}
