import { analyze } from '../../core/text/analyse.js';

/** A sparse vector as Qdrant takes it: unique indices, one value each. */
export interface SparseVector {
  indices: number[];
  values: number[];
}

/** Okapi BM25's parameters, those of the service's own index (src/core/retrieval/bm25.ts). */
export const BM25_K1 = 1.2;
export const BM25_B = 0.75;

/**
 * BM25's average chunk length, in terms, fixed when a chunk is indexed: Qdrant
 * applies the idf at query time (the IDF modifier) but keeps no length
 * statistics. The chunker cuts chunks to about one size (400 cl100k tokens by
 * default, some 150–250 terms once stop words are dropped), so a constant
 * near that size normalises lengths as the measured average would.
 */
export const DEFAULT_AVG_CHUNK_TERMS = 200;

/** A term's dimension: 32-bit FNV-1a of its UTF-8 bytes (Qdrant's sparse indices are uint32). */
export function termIndex(term: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(term, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function counts(terms: readonly string[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const t of terms) {
    const i = termIndex(t);
    out.set(i, (out.get(i) ?? 0) + 1);
  }
  return out;
}

function toSparse(m: Map<number, number>): SparseVector {
  const indices = [...m.keys()].sort((a, b) => a - b);
  return { indices, values: indices.map((i) => m.get(i) as number) };
}

/**
 * A chunk's side of BM25 (Robertson & Zaragoza 2009): per term,
 * tf·(k1 + 1) / (tf + k1·(1 − b + b·len/avgLen)), over the same analysis
 * (words, stop words, stemming) as the service's BM25. Qdrant multiplies it by
 * the term's idf at query time (sparse vector with `modifier: idf`), so a
 * query vector of ones scores a chunk by Okapi BM25.
 */
export function chunkSparseVector(text: string, avgLen = DEFAULT_AVG_CHUNK_TERMS): SparseVector {
  const terms = analyze(text);
  const norm = BM25_K1 * (1 - BM25_B + (BM25_B * terms.length) / avgLen);
  const tf = counts(terms);
  for (const [i, f] of tf) tf.set(i, (f * (BM25_K1 + 1)) / (f + norm));
  return toSparse(tf);
}

/** A question's side: weight 1 for each distinct term (BM25 sums over the query's terms). */
export function querySparseVector(text: string): SparseVector {
  const m = counts(analyze(text));
  for (const i of m.keys()) m.set(i, 1);
  return toSparse(m);
}
