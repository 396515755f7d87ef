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

/**
 * The term statistics of a group of texts (e.g. the chunks of one document
 * version), kept so that any set of groups can be scored as one collection
 * (`scoreBm25Parts`) without indexing their texts again. Postings are held in
 * three flat arrays (compressed sparse rows) rather than two typed arrays per
 * term: a document's part is cached for as long as its version is read, and
 * per-term arrays cost more in object headers than in postings (a part of
 * 100 chunks of 60 Zipf words held 1.3 MB that way, 48 times its text; 176
 * KiB now).
 */
export interface Bm25Part {
  /** Number of texts. */
  readonly size: number;
  /** Analysed terms per text. */
  readonly lengths: Float64Array;
  readonly totalLength: number;
  /** Each term's row in `starts`. */
  readonly terms: ReadonlyMap<string, number>;
  /** Term i's postings are `texts` / `tfs` [starts[i], starts[i + 1]), by text index. */
  readonly starts: Int32Array;
  /** The text each posting is in. */
  readonly texts: Int32Array;
  /** How often the term occurs in that text. */
  readonly tfs: Int32Array;
  /** About how many bytes the part holds, so that caches of parts are bounded in memory. */
  readonly bytes: number;
}

/** Bytes of one term's entry in a part's Map beyond its postings (key string and Map slot), roughly. */
const TERM_BYTES = 80;

/** Counts the terms of `texts` once. */
export function buildBm25Part(texts: readonly string[]): Bm25Part {
  const n = texts.length;
  const lengths = new Float64Array(n);
  const terms = new Map<string, number>();
  // One (term, text, tf) triple per distinct term of each text, texts in order.
  const termOf: number[] = [];
  const textOf: number[] = [];
  const tfOf: number[] = [];
  // For each term, the last text it was seen in and its triple there.
  const lastText: number[] = [];
  const lastTriple: number[] = [];
  let totalLength = 0;
  for (let d = 0; d < n; d++) {
    const analysed = analyze(texts[d]!);
    lengths[d] = analysed.length;
    totalLength += analysed.length;
    for (const t of analysed) {
      let id = terms.get(t);
      if (id === undefined) {
        id = terms.size;
        terms.set(t, id);
        lastText.push(-1);
        lastTriple.push(-1);
      }
      if (lastText[id] === d) tfOf[lastTriple[id]!]!++;
      else {
        lastText[id] = d;
        lastTriple[id] = termOf.length;
        termOf.push(id);
        textOf.push(d);
        tfOf.push(1);
      }
    }
  }
  const starts = new Int32Array(terms.size + 1);
  for (const id of termOf) starts[id + 1]!++;
  for (let i = 0; i < terms.size; i++) starts[i + 1]! += starts[i]!;
  const next = starts.slice(0, terms.size);
  const postingTexts = new Int32Array(termOf.length);
  const postingTfs = new Int32Array(termOf.length);
  // Triples come text by text, so each term's postings stay in text order.
  for (let x = 0; x < termOf.length; x++) {
    const at = next[termOf[x]!]!++;
    postingTexts[at] = textOf[x]!;
    postingTfs[at] = tfOf[x]!;
  }
  return {
    size: n,
    lengths,
    totalLength,
    terms,
    starts,
    texts: postingTexts,
    tfs: postingTfs,
    bytes: lengths.byteLength + starts.byteLength + postingTexts.byteLength * 2 + terms.size * TERM_BYTES,
  };
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
    for (const p of parts) {
      const id = p.terms.get(term);
      if (id !== undefined) df += p.starts[id + 1]! - p.starts[id]!;
    }
    if (df === 0) continue;
    const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
    let offset = 0;
    for (const part of parts) {
      const id = part.terms.get(term);
      if (id !== undefined) {
        for (let j = part.starts[id]!; j < part.starts[id + 1]!; j++) {
          const d = part.texts[j]!;
          const tf = part.tfs[j]!;
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
