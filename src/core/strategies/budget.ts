import { AppError } from '../../errors.js';
import type { ChatMessage, LlmProvider } from '../../ports/llm.js';
import { splitSentences } from '../text/sentences.js';

/** Counts tokens of a text with some tokenizer (the provider's, in every strategy). */
export type CountTokens = (text: string) => number;

/** A character range of a text: `[start, end)`. */
export interface Span {
  start: number;
  end: number;
}

/** Tokens held back from the window for what the model writes. */
export interface Reserves {
  /** maxTokens of answer calls (RAG, full context, Chain-of-Agents manager). */
  answer: number;
  /** maxTokens of a worker's note, and the room its successor keeps for reading it. */
  note: number;
}

/**
 * LLM_MAX_ANSWER_TOKENS, but never more than a quarter of the window: a small
 * model (a 512-token llama.cpp context) would otherwise have no room left to
 * read. Notes get the same reserve as answers.
 */
export function reservesFor(llm: Pick<LlmProvider, 'contextWindow'>, maxAnswerTokens: number): Reserves {
  const r = Math.max(1, Math.min(maxAnswerTokens, Math.floor(llm.contextWindow / 4)));
  return { answer: r, note: r };
}

/**
 * Token counts of joined texts differ from the sum of their parts by a token
 * or so per join (BPE merges across the seam); budgets computed from parts
 * keep this slack, and every prompt is counted whole before it is sent.
 */
export function slack(budget: number): number {
  return 8 + Math.ceil(budget * 0.01);
}

/**
 * Tokens of the messages as sent; throws LLM_CONTEXT_OVERFLOW when they and
 * the reserved answer exceed the window. `counted` is their count when the
 * caller has just taken it with the same provider (a whole book's prompt
 * costs milliseconds to count again even memoised).
 */
export function assertFits(
  llm: LlmProvider,
  messages: readonly ChatMessage[],
  maxTokens: number,
  what: string,
  counted?: number,
): number {
  const prompt = counted ?? llm.countMessageTokens(messages);
  if (prompt + maxTokens > llm.contextWindow) {
    throw new AppError('LLM_CONTEXT_OVERFLOW', [
      `${what}: the prompt takes ${prompt} tokens and the answer up to ${maxTokens}, more than the context window of ${llm.contextWindow} of ${llm.id}:${llm.model}`,
    ]);
  }
  return prompt;
}

const SPACE = /\s/;

/**
 * The longest stretch of `text[span]` within `budget` tokens, taken from its
 * start (or from its end with `fromEnd`), ending (starting) on whitespace when
 * there is any. Binary search over the length: token counts grow with the
 * text, up to BPE effects the final check absorbs.
 */
export function cutToTokens(text: string, span: Span, budget: number, count: CountTokens, fromEnd = false): Span {
  if (budget <= 0 || span.end <= span.start)
    return fromEnd ? { start: span.end, end: span.end } : { start: span.start, end: span.start };
  const piece = (len: number): Span =>
    fromEnd ? { start: span.end - len, end: span.end } : { start: span.start, end: span.start + len };
  const cost = (len: number): number => {
    const p = piece(len);
    return count(text.slice(p.start, p.end));
  };
  let lo = 0;
  let hi = span.end - span.start;
  if (cost(hi) <= budget) return piece(hi);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (cost(mid) <= budget) lo = mid;
    else hi = mid - 1;
  }
  // Prefer a word boundary when one is near (within a fifth of what fits).
  let len = lo;
  const edge = (l: number): string => (fromEnd ? (text[span.end - l - 1] ?? ' ') : (text[span.start + l] ?? ' '));
  while (len > Math.floor(lo * 0.8) && !SPACE.test(edge(len))) len--;
  if (len <= Math.floor(lo * 0.8)) len = lo;
  while (len > 0 && cost(len) > budget) len--;
  return piece(len);
}

/**
 * Sentence-sized pieces that tile `text` without gaps: each starts where a
 * sentence starts (the first at 0) and runs to the next one, so whitespace
 * between sentences belongs to the piece before it. A sentence longer than
 * `maxTokens` is cut into pieces of at most that many tokens.
 */
export function sentencePieces(text: string, maxTokens: number, count: CountTokens): Array<Span & { tokens: number }> {
  const sentences = splitSentences(text);
  const starts = sentences.map((s) => s.start);
  if (starts.length === 0 || starts[0] !== 0) starts.unshift(0);
  const out: Array<Span & { tokens: number }> = [];
  for (let i = 0; i < starts.length; i++) {
    const start = starts[i]!;
    const end = starts[i + 1] ?? text.length;
    if (end <= start) continue;
    const tokens = count(text.slice(start, end));
    if (tokens <= maxTokens) {
      out.push({ start, end, tokens });
      continue;
    }
    let from = start;
    while (from < end) {
      let p = cutToTokens(text, { start: from, end }, maxTokens, count);
      // A single character over the budget (never with real tokenizers): take it anyway so the loop ends.
      if (p.end === from) p = { start: from, end: from + 1 };
      out.push({ ...p, tokens: count(text.slice(p.start, p.end)) });
      from = p.end;
    }
  }
  return out;
}

/**
 * Packs consecutive pieces into segments of at most `budget` tokens each,
 * counted whole (not as a sum of pieces). Segments tile the pieces' range in
 * order: segment i ends where segment i+1 starts.
 */
export function packSegments(
  text: string,
  pieces: ReadonlyArray<Span & { tokens: number }>,
  budget: number,
  count: CountTokens,
): Array<Span & { tokens: number }> {
  const out: Array<Span & { tokens: number }> = [];
  const target = Math.max(1, budget - slack(budget));
  let i = 0;
  while (i < pieces.length) {
    let j = i;
    let sum = 0;
    while (j < pieces.length && (j === i || sum + pieces[j]!.tokens <= target)) sum += pieces[j++]!.tokens;
    // Verify the joined text; give back pieces from the end if the seams cost more than the slack.
    for (;;) {
      const span = { start: pieces[i]!.start, end: pieces[j - 1]!.end };
      const tokens = count(text.slice(span.start, span.end));
      if (tokens <= budget || j - 1 === i) {
        out.push({ ...span, tokens });
        break;
      }
      j--;
    }
    i = j;
  }
  return out;
}

/** What middle truncation kept of one text. */
export interface HeadTail {
  head: Span;
  /** Null when the whole text is kept. */
  tail: Span | null;
  keptTokens: number;
  totalTokens: number;
}

/**
 * Middle truncation as LaRA applied it to texts longer than a model's window
 * (Li et al., 2025, "LaRA: Benchmarking Retrieval-Augmented Generation and
 * Long-Context LLMs"): keep the first and the last half of the token budget,
 * drop the middle. Cuts fall on sentence boundaries where a sentence fits,
 * counted with the provider's tokenizer.
 */
export function middleTruncate(text: string, budget: number, count: CountTokens, totalTokens = count(text)): HeadTail {
  const all = { start: 0, end: text.length };
  if (totalTokens <= budget) return { head: all, tail: null, keptTokens: totalTokens, totalTokens };
  if (budget <= 0) return { head: { start: 0, end: 0 }, tail: null, keptTokens: 0, totalTokens };
  const pieces = sentencePieces(text, Math.max(1, Math.floor(budget / 2)), count);
  const halfHead = Math.floor(budget / 2);

  let headEnd = 0;
  let headTokens = 0;
  for (const p of pieces) {
    if (headTokens + p.tokens > halfHead) break;
    headTokens += p.tokens;
    headEnd = p.end;
  }
  if (headEnd === 0) headEnd = cutToTokens(text, all, halfHead, count).end;
  let head: Span = { start: 0, end: headEnd };
  headTokens = count(text.slice(0, headEnd));
  if (headTokens > halfHead) {
    head = cutToTokens(text, head, halfHead, count);
    headTokens = count(text.slice(head.start, head.end));
  }

  // The tail gets what the head left, so sentence cuts waste as little as possible.
  const tailBudget = budget - headTokens;
  let tailStart = text.length;
  let tailTokens = 0;
  for (let k = pieces.length - 1; k >= 0; k--) {
    const p = pieces[k]!;
    if (p.start < head.end || tailTokens + p.tokens > tailBudget) break;
    tailTokens += p.tokens;
    tailStart = p.start;
  }
  if (tailStart === text.length)
    tailStart = cutToTokens(text, { start: head.end, end: text.length }, tailBudget, count, true).start;
  let tail: Span = { start: Math.max(tailStart, head.end), end: text.length };
  tailTokens = count(text.slice(tail.start, tail.end));
  if (tailTokens > tailBudget) {
    tail = cutToTokens(text, tail, tailBudget, count, true);
    tailTokens = count(text.slice(tail.start, tail.end));
  }
  return { head, tail, keptTokens: headTokens + tailTokens, totalTokens };
}

/** Cuts a note to `budget` tokens at a word boundary (a model overran its reserve). */
export function boundNote(note: string, budget: number, count: CountTokens): string {
  if (count(note) <= budget) return note;
  const s = cutToTokens(note, { start: 0, end: note.length }, budget, count);
  return note.slice(s.start, s.end).trimEnd();
}
