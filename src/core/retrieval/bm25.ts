/**
 * Okapi BM25 over the chunks in scope (Robertson & Zaragoza, "The Probabilistic
 * Relevance Framework: BM25 and Beyond", 2009), with the usual k1 = 1.2,
 * b = 0.75 and the non-negative idf of Lucene: ln(1 + (N - df + 0.5) / (df + 0.5)).
 * Term frequencies are counted once at build time, so scoring a query touches
 * only the postings of its terms. Texts are analysed by ../text/analyse.ts.
 */
import { analyze } from '../text/analyse.js';

/** Parameters of BM25. Defaults: k1 = 1.2 (tf saturation), b = 0.75 (length normalisation). */
export interface Bm25Options {
  k1?: number;
  b?: number;
}

export interface Bm25Index {
  /** Number of indexed texts. */
  readonly size: number;
  /** One score per indexed text, in input order; 0 when no query term occurs in it. */
  score(query: string): Float64Array;
}

interface Posting {
  docs: Int32Array;
  tfs: Float64Array;
}

/**
 * The term statistics of a group of texts (e.g. the chunks of one document
 * version), kept so that any set of groups can be scored as one collection
 * (`scoreBm25Parts`) without indexing their texts again.
 */
export interface Bm25Part {
  /** Number of texts. */
  readonly size: number;
  /** Analysed terms per text. */
  readonly lengths: Float64Array;
  readonly totalLength: number;
  readonly postings: ReadonlyMap<string, Posting>;
}

/** Counts the terms of `texts` once. */
export function buildBm25Part(texts: readonly string[]): Bm25Part {
  const n = texts.length;
  const lengths = new Float64Array(n);
  const building = new Map<string, { docs: number[]; tfs: number[] }>();
  for (let d = 0; d < n; d++) {
    const terms = analyze(texts[d]!);
    lengths[d] = terms.length;
    const counts = new Map<string, number>();
    for (const t of terms) counts.set(t, (counts.get(t) ?? 0) + 1);
    for (const [t, c] of counts) {
      let p = building.get(t);
      if (!p) {
        p = { docs: [], tfs: [] };
        building.set(t, p);
      }
      p.docs.push(d);
      p.tfs.push(c);
    }
  }
  let totalLength = 0;
  for (let d = 0; d < n; d++) totalLength += lengths[d]!;
  const postings = new Map<string, Posting>();
  for (const [t, p] of building) postings.set(t, { docs: Int32Array.from(p.docs), tfs: Float64Array.from(p.tfs) });
  return { size: n, lengths, totalLength, postings };
}

/**
 * BM25 scores of the texts of all `parts` taken as ONE collection (document
 * frequencies, N and the average length over all of them), in part order:
 * what `buildBm25Index` over their texts, concatenated, gives.
 */
export function scoreBm25Parts(parts: readonly Bm25Part[], query: string, opts: Bm25Options = {}): Float64Array {
  const k1 = opts.k1 ?? 1.2;
  const b = opts.b ?? 0.75;
  let n = 0;
  let total = 0;
  for (const p of parts) {
    n += p.size;
    total += p.totalLength;
  }
  const avgdl = n > 0 && total > 0 ? total / n : 1;
  const scores = new Float64Array(n);
  for (const term of new Set(analyze(query))) {
    let df = 0;
    for (const p of parts) df += p.postings.get(term)?.docs.length ?? 0;
    if (df === 0) continue;
    const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
    let offset = 0;
    for (const part of parts) {
      const p = part.postings.get(term);
      if (p) {
        for (let j = 0; j < p.docs.length; j++) {
          const d = p.docs[j]!;
          const tf = p.tfs[j]!;
          // k1·(1 - b + b·dl/avgdl): the length normalisation against the whole collection.
          const norm = k1 * (1 - b + (b * part.lengths[d]!) / avgdl);
          scores[offset + d]! += (idf * tf * (k1 + 1)) / (tf + norm);
        }
      }
      offset += part.size;
    }
  }
  return scores;
}

/** Builds a BM25 index over `texts` (each text one retrievable unit, e.g. a chunk). */
export function buildBm25Index(texts: readonly string[], opts: Bm25Options = {}): Bm25Index {
  const part = buildBm25Part(texts);
  return { size: part.size, score: (query) => scoreBm25Parts([part], query, opts) };
}
