import { AppError } from '../../errors.js';
import { adaptiveK, validateAdaptiveKOptions, type AdaptiveKOptions, type AdaptiveKResult } from './adaptive-k.js';

/** A scored chunk to choose from. `order` is its position in its document. */
export interface Candidate {
  id: string;
  order: number;
  tokens: number;
  score: number;
}

/** How many candidates to read. */
export type SelectionMethod =
  | ({ kind: 'adaptive-k' } & AdaptiveKOptions)
  | { kind: 'top-k'; k: number }
  /** The best-scored prefix whose tokens add up to at most `tokens` (may be empty). */
  | { kind: 'token-budget'; tokens: number };

export interface Selection<C extends Candidate> {
  /** Chosen candidates, best first (selectPerDocument: each document's best in turn), the order capTokens keeps a prefix of. */
  selected: C[];
  /** Sum of the chosen candidates' tokens (overlapping chunks counted twice; assembly removes the overlap). */
  tokens: number;
  /** Present for Adaptive-k: the curve and the cut, with indices into the score-sorted candidates. */
  adaptiveK?: AdaptiveKResult;
  /** Set when capTokens cut the selection: what the method chose before, and the cap. */
  capped?: { k: number; tokens: number; maxTokens: number };
}

function rank<C extends Candidate>(candidates: readonly C[]): C[] {
  // One deterministic order for every method: score, then document position, then id.
  return [...candidates].sort(
    (x, y) => y.score - x.score || x.order - y.order || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0),
  );
}

/** The longest prefix of `ranked` whose tokens add up to at most `max`; with `atLeastOne`, the first even when larger. */
function prefixWithin<C extends Candidate>(
  ranked: readonly C[],
  max: number,
  atLeastOne: boolean,
): { selected: C[]; tokens: number } {
  const selected: C[] = [];
  let used = 0;
  for (const c of ranked) {
    if (used + c.tokens > max && !(atLeastOne && selected.length === 0)) break;
    used += c.tokens;
    selected.push(c);
  }
  return { selected, tokens: used };
}

function sumTokens(cs: readonly Candidate[]): number {
  let t = 0;
  for (const c of cs) t += c.tokens;
  return t;
}

/** Throws INVALID_PARAMETER when the method's parameters are out of range. */
export function validateSelectionMethod(method: SelectionMethod): void {
  switch (method.kind) {
    case 'adaptive-k':
      validateAdaptiveKOptions(method);
      return;
    case 'top-k':
      if (!Number.isInteger(method.k) || method.k < 0)
        throw new AppError('INVALID_PARAMETER', [`top-k needs an integer k ≥ 0, got ${method.k}`]);
      return;
    case 'token-budget':
      if (!Number.isFinite(method.tokens) || method.tokens < 0) {
        throw new AppError('INVALID_PARAMETER', [`token-budget needs tokens ≥ 0, got ${method.tokens}`]);
      }
      return;
    default:
      throw new AppError('INVALID_PARAMETER', [`unknown selection method ${(method as { kind: unknown }).kind}`]);
  }
}

/**
 * Chooses candidates by one method. Every method reads the same ranking
 * (score descending, ties by document order), so comparisons between methods
 * differ only in where they stop.
 */
export function select<C extends Candidate>(candidates: readonly C[], method: SelectionMethod): Selection<C> {
  validateSelectionMethod(method);
  const ranked = rank(candidates);
  switch (method.kind) {
    case 'top-k': {
      const selected = ranked.slice(0, method.k);
      return { selected, tokens: sumTokens(selected) };
    }
    case 'token-budget':
      return prefixWithin(ranked, method.tokens, false);
    case 'adaptive-k': {
      const { kind: _kind, ...opts } = method;
      const result = adaptiveK(
        ranked.map((c) => c.score),
        opts,
        ranked.map((c) => c.tokens),
      );
      const selected = result.sorted.slice(0, result.k).map((s) => ranked[s.index]!);
      return { selected, tokens: sumTokens(selected), adaptiveK: result };
    }
  }
}

/**
 * The selection cut to its best chunks whose tokens add up to at most
 * `maxTokens` (the best one is kept whatever its size, so something is read).
 * For whole-namespace questions: on a flat curve Adaptive-k's cut falls low and
 * selects most of several documents, which adds little evidence for its cost
 * (docs/library.md).
 */
export function capTokens<C extends Candidate>(selection: Selection<C>, maxTokens: number): Selection<C> {
  if (!(maxTokens > 0) || selection.tokens <= maxTokens) return selection;
  return {
    ...selection,
    ...prefixWithin(selection.selected, maxTokens, true),
    capped: { k: selection.selected.length, tokens: selection.tokens, maxTokens },
  };
}

/**
 * The method applied within each document, their selections read in turns
 * (every document's best chunk, then every document's second, ...), so that a
 * token cap (capTokens) shortens each document's share instead of dropping
 * the documents ranked last. Over several documents of a library one pooled
 * cut falls after the document whose chunks score highest, and a question
 * that fits several documents would read one. `adaptiveK` is the pooled
 * method's result over all candidates: the shape of the curve, which the
 * router reads; the chunks read are the per-document ones.
 */
export function selectPerDocument<C extends Candidate & { documentId: string }>(
  candidates: readonly C[],
  method: SelectionMethod,
  documents: readonly string[],
): Selection<C> {
  const pooled = select(candidates, method);
  const byDocument = new Map<string, C[]>(documents.map((d) => [d, []]));
  for (const c of candidates) byDocument.get(c.documentId)?.push(c);
  const each = [...byDocument.values()].map((cs) => select(cs, method).selected);
  const selected: C[] = [];
  for (let turn = 0; each.some((s) => turn < s.length); turn++)
    for (const s of each) if (turn < s.length) selected.push(s[turn]!);
  return { selected, tokens: sumTokens(selected), ...(pooled.adaptiveK ? { adaptiveK: pooled.adaptiveK } : {}) };
}
