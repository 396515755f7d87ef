import type { DocumentVersionRef, ScoredChunk } from '../../ports/vector-store.js';

/**
 * Exact vector search for the stores that compare the vectors themselves
 * (SQLite, and PostgreSQL without pgvector): cosine from a dot product and
 * norms, and one order for the results.
 */

/** Euclidean norm of `dims` components of `v` from `off`. */
export function norm(v: Float32Array, off = 0, dims = v.length): number {
  let s = 0;
  for (let j = 0; j < dims; j++) {
    const x = v[off + j] as number;
    s += x * x;
  }
  return Math.sqrt(s);
}

/** Dot product of `q` with `dims` components of `v` from `off`. Four accumulators let the JIT overlap the multiply-adds (about 1.5x over the plain loop). */
export function dot(q: Float32Array, v: Float32Array, off = 0, dims = q.length): number {
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  let j = 0;
  for (; j + 3 < dims; j += 4) {
    a += (q[j] as number) * (v[off + j] as number);
    b += (q[j + 1] as number) * (v[off + j + 1] as number);
    c += (q[j + 2] as number) * (v[off + j + 2] as number);
    d += (q[j + 3] as number) * (v[off + j + 3] as number);
  }
  for (; j < dims; j++) a += (q[j] as number) * (v[off + j] as number);
  return a + b + c + d;
}

/** Cosine from a dot product and the product of the two norms: 0 for a zero vector, rounding kept within [-1, 1]. */
export function cosine(dotProduct: number, normProduct: number): number {
  return normProduct === 0 ? 0 : Math.min(1, Math.max(-1, dotProduct / normProduct));
}

/**
 * The order of search results: score descending; ties by document id (code
 * units, not the locale, so every process and store agrees), then by chunk order.
 */
export function byScore(a: ScoredChunk, b: ScoredChunk): number {
  return (
    b.score - a.score ||
    (a.chunk.documentId < b.chunk.documentId ? -1 : a.chunk.documentId > b.chunk.documentId ? 1 : 0) ||
    a.chunk.order - b.chunk.order
  );
}

/** A store's one pass over the chunks of a scope, each handed to `each` with its score. */
export type ScoringPass = (each: (s: ScoredChunk) => void) => Promise<void>;

/** Every chunk a scoring pass scores (a store's scoreAll). */
export async function allScored(pass: ScoringPass): Promise<ScoredChunk[]> {
  const out: ScoredChunk[] = [];
  await pass((s) => out.push(s));
  return out;
}

/** The best `limit` chunks of a scoring pass, keeping no more than those as it goes (a store's search). */
export async function bestScored(pass: ScoringPass, limit: number): Promise<ScoredChunk[]> {
  const top = new TopScored(limit);
  await pass((s) => top.offer(s));
  return top.sorted();
}

/**
 * The VectorStore's dense reads for a store that scores every chunk in scope itself: `scoreAll` keeps every chunk of
 * the store's one scoring pass, `search` its best `limit` ({@link bestScored}).
 */
export abstract class ExactScoring {
  /** Every chunk of the versions asked for with its cosine to `query`, handed to `each`. */
  protected abstract scoreEach(
    namespace: string,
    docs: readonly DocumentVersionRef[],
    query: Float32Array,
    each: (s: ScoredChunk) => void,
  ): Promise<void>;

  scoreAll(namespace: string, docs: readonly DocumentVersionRef[], query: Float32Array): Promise<ScoredChunk[]> {
    return allScored((each) => this.scoreEach(namespace, docs, query, each));
  }

  search(
    namespace: string,
    docs: readonly DocumentVersionRef[],
    query: Float32Array,
    limit: number,
  ): Promise<ScoredChunk[]> {
    return bestScored((each) => this.scoreEach(namespace, docs, query, each), limit);
  }
}

/**
 * The best `limit` (floored) of the chunks offered, in {@link byScore} order, kept in a binary heap whose root is the
 * worst kept: a whole-namespace search offers every chunk of it, and sorting them all to keep a few hundred is one
 * long task on the event loop and holds every chunk scored.
 */
export class TopScored {
  readonly #limit: number;
  readonly #heap: ScoredChunk[] = [];

  constructor(limit: number) {
    this.#limit = Math.max(0, Math.floor(limit));
  }

  offer(s: ScoredChunk): void {
    const h = this.#heap;
    if (h.length < this.#limit) {
      h.push(s);
      this.#up(h.length - 1);
    } else if (h.length > 0 && byScore(s, h[0]!) < 0) {
      h[0] = s;
      this.#down(0);
    }
  }

  /** The chunks kept, best first. */
  sorted(): ScoredChunk[] {
    return [...this.#heap].sort(byScore);
  }

  // A parent ranks after (or with) its children: byScore(parent, child) >= 0.
  #up(i: number): void {
    const h = this.#heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (byScore(h[p]!, h[i]!) >= 0) return;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  #down(i: number): void {
    const h = this.#heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let worst = i;
      if (l < h.length && byScore(h[l]!, h[worst]!) > 0) worst = l;
      if (r < h.length && byScore(h[r]!, h[worst]!) > 0) worst = r;
      if (worst === i) return;
      [h[worst], h[i]] = [h[i]!, h[worst]!];
      i = worst;
    }
  }
}

/**
 * Chunks scored between two turns of the event loop in an exact dense search (the embedded store), and rows fetched at
 * a time (PostgreSQL's cursor): over a whole namespace both stores score every chunk on the main thread, and other
 * requests must not wait for all of it (docs/library.md has the stall this removed).
 */
export const YIELD_EVERY = 4096;
