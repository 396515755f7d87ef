import type { TextChunk } from '../../ports/token-work.js';
import { cl100k, preTokens, type Tokenizer } from '../tokenizer.js';

export interface ChunkOptions {
  /** Largest chunk in tokens: a sentence longer than this is cut between words (or inside a run without spaces). Default 400. */
  chunkTokens: number;
  /** Tokens of whole trailing sentences repeated at the start of the next chunk. Default 40. */
  overlapTokens: number;
  /**
   * Default cl100k. Sentences longer than `chunkTokens` are cut at cl100k's
   * pre-tokens (see {@link preTokens}) whatever counts chunks, so another
   * tokenizer may see those parts a little over or under its budget.
   */
  tokenizer?: Tokenizer;
}

interface Unit {
  start: number;
  end: number;
  tokens: number;
  /** True when the unit opens a paragraph: a preferred place to end the previous chunk. */
  paragraph: boolean;
}

// A sentence ends at . ! ? (plus closing quotes/brackets) followed by whitespace,
// unless the word before is a common abbreviation or an initial. The lookbehind
// starts a match only where a run of end marks starts: without it, a long run
// not followed by whitespace ("!!!…!x") is rescanned from each of its positions.
const SENTENCE_END = /(?<![.!?…])[.!?…]+["'”’)\]]*(?=\s)/g;
const ABBREVIATION =
  /(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|vs|etc|e\.g|i\.e|Inc|Ltd|Co|Corp|No|Fig|Eq|al|Vol|pp|U\.S)|\b[A-Z])\.$/;
const PARAGRAPH_BREAK = /\n[ \t]*\n|\r\n[ \t]*\r\n/g;

/** Paragraph ranges of `text` (blank-line separated), whitespace-only ones dropped. */
function paragraphs(text: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let from = 0;
  for (const m of text.matchAll(PARAGRAPH_BREAK)) {
    out.push([from, m.index]);
    from = m.index + m[0].length;
  }
  out.push([from, text.length]);
  return out.filter(([s, e]) => text.slice(s, e).trim().length > 0);
}

function sentencesOf(text: string, from: number, to: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const slice = text.slice(from, to);
  let start = 0;
  for (const m of slice.matchAll(SENTENCE_END)) {
    const end = m.index + m[0].length;
    if (ABBREVIATION.test(slice.slice(Math.max(start, end - 8), end))) continue;
    out.push([from + start, from + end]);
    start = end;
  }
  if (start < slice.length) out.push([from + start, to]);
  // Trim leading whitespace so offsets point at text, not at the gap before it.
  return out
    .map(([s, e]): [number, number] => {
      let a = s;
      while (a < e && /\s/.test(text[a]!)) a++;
      return [a, e];
    })
    .filter(([s, e]) => e > s);
}

/** Characters per token past which a sentence is split at once (prose has ~4; only runs of spaces or dashes pass 16). */
const LONG_UNIT_CHARS_PER_TOKEN = 16;

/**
 * Cuts a unit of more than `max` tokens into parts of at most `max` (by the sum
 * of their pre-tokens' counts), between pre-tokens: before a word's leading
 * space (kept with the word), or inside a run without spaces at a piece of the tokenizer's cap.
 * Each pre-token is counted once, so the cost is linear in the unit.
 */
function splitLong(
  text: string,
  start: number,
  end: number,
  max: number,
  tok: Tokenizer,
): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  let from = start;
  let sum = 0;
  // Whitespace alone is no part (a chunk has text): it is dropped, as between sentences.
  const push = (a: number, b: number, n: number): void => {
    if (/\S/.test(text.slice(a, b))) out.push([a, b, n]);
  };
  const flush = (to: number): void => {
    if (to > from) push(from, to, sum);
    from = to;
    sum = 0;
  };
  for (const [ps, pe, n] of preTokens(text.slice(start, end))) {
    const s = start + ps;
    const e = start + pe;
    if (n > max) {
      // One piece of a run without spaces over the budget (a small chunkTokens): cut it by characters.
      flush(s);
      for (const [a, b] of splitPiece(text, s, e, n, max, tok)) push(a, b, tok.count(text.slice(a, b)));
      from = e;
      continue;
    }
    if (sum + n > max) flush(s);
    sum += n;
  }
  flush(end);
  // Parts stay whole pre-tokens (a part may open with a word's space): trimming that space would change the count of
  // the part, which is exactly the sum of its pre-tokens' counts only as cut here.
  return out;
}

/**
 * Cuts a piece (at most the tokenizer's pre-token cap long) into parts of at
 * most `max` tokens. Counts grow about in proportion to length, so each cut is
 * guessed from the rest's count and corrected by a count or two, not bisected.
 */
function splitPiece(
  text: string,
  start: number,
  end: number,
  tokens: number,
  max: number,
  tok: Tokenizer,
): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let s = start;
  let rest = tokens;
  while (s < end) {
    if (rest <= max) {
      out.push([s, end]);
      break;
    }
    let len = Math.max(1, Math.floor(((end - s) * max) / rest));
    let n = tok.count(text.slice(s, s + len));
    while (n > max && len > 1) {
      len = Math.max(1, Math.min(len - 1, Math.floor((len * max) / n)));
      n = tok.count(text.slice(s, s + len));
    }
    let cut = s + len;
    // Never between the halves of a surrogate pair.
    if (cut < end && cut > s + 1 && /[\ud800-\udbff]/.test(text[cut - 1]!)) cut--;
    out.push([s, cut]);
    s = cut;
    rest = s < end ? tok.count(text.slice(s, end)) : 0;
  }
  return out;
}

function units(text: string, max: number, tok: Tokenizer): Unit[] {
  const out: Unit[] = [];
  for (const [ps, pe] of paragraphs(text)) {
    let first = true;
    for (const [ss, se] of sentencesOf(text, ps, pe)) {
      // A sentence this long in characters is over the budget in any real text: split it without counting it whole first.
      const tokens =
        se - ss > LONG_UNIT_CHARS_PER_TOKEN * max ? Number.POSITIVE_INFINITY : tok.count(text.slice(ss, se));
      const parts = tokens <= max ? [[ss, se, tokens] as [number, number, number]] : splitLong(text, ss, se, max, tok);
      for (const [s, e, n] of parts) {
        out.push({ start: s, end: e, tokens: n, paragraph: first });
        first = false;
      }
    }
  }
  return out;
}

/**
 * Cuts a document into token-bounded chunks that end on sentence boundaries,
 * preferring paragraph ends, with an overlap of whole sentences. Every chunk
 * records its order and character offsets in the original text, so callers
 * can rebuild the document or cite exact spans.
 */
export function chunkText(text: string, opts: ChunkOptions): TextChunk[] {
  const tok = opts.tokenizer ?? cl100k;
  const max = opts.chunkTokens;
  if (!(max > 0)) throw new RangeError('chunkTokens must be positive');
  if (opts.overlapTokens < 0 || opts.overlapTokens >= max)
    throw new RangeError('overlapTokens must be in [0, chunkTokens)');
  const us = units(text, max, tok);
  const chunks: TextChunk[] = [];
  let i = 0;
  while (i < us.length) {
    let j = i;
    let sum = 0;
    while (j < us.length && (j === i || sum + us[j]!.tokens <= max)) {
      sum += us[j]!.tokens;
      j++;
    }
    // Prefer ending where a paragraph ends, if that keeps the chunk at least 60% full.
    if (j < us.length && !us[j]!.paragraph) {
      let acc = sum;
      for (let p = j - 1; p > i; p--) {
        acc -= us[p]!.tokens;
        if (acc < 0.6 * max) break;
        if (us[p]!.paragraph) {
          j = p;
          break;
        }
      }
    }
    const start = us[i]!.start;
    // Sentence counts do not add up exactly (BPE merges across the joins): trim to fit. Each round drops at
    // least the excess in units' tokens, so a chunk is recounted a few times, not once per unit.
    let body = text.slice(start, us[j - 1]!.end);
    // One unit is its own count: a sentence counted whole, or a part of a long one (the sum of its pre-tokens).
    let tokens = j - i === 1 ? us[i]!.tokens : tok.count(body);
    while (tokens > max && j - 1 > i) {
      let dropped = 0;
      while (j - 1 > i && dropped < tokens - max) dropped += us[--j]!.tokens;
      body = text.slice(start, us[j - 1]!.end);
      tokens = tok.count(body);
    }
    const end = us[j - 1]!.end;
    chunks.push({ order: chunks.length, start, end, tokens, text: body });
    if (j >= us.length) break;
    // Step back over whole sentences for the overlap, never to or before i (progress guaranteed).
    let next = j;
    let overlap = 0;
    while (next - 1 > i && overlap + us[next - 1]!.tokens <= opts.overlapTokens) {
      overlap += us[next - 1]!.tokens;
      next--;
    }
    i = next;
  }
  return chunks;
}
