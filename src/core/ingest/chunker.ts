import { cl100k, type Tokenizer } from '../tokenizer.js';

/** A piece of a document: `text === original.slice(start, end)`. */
export interface TextChunk {
  order: number;
  start: number;
  end: number;
  tokens: number;
  text: string;
}

export interface ChunkOptions {
  /** Target size in tokens; a chunk exceeds it only when one sentence alone does not fit and cannot be split at a space. Default 400. */
  chunkTokens: number;
  /** Tokens of whole trailing sentences repeated at the start of the next chunk. Default 40. */
  overlapTokens: number;
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
// unless the word before is a common abbreviation or an initial.
const SENTENCE_END = /[.!?…]+["'”’)\]]*(?=\s)/g;
const ABBREVIATION = /(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|vs|etc|e\.g|i\.e|Inc|Ltd|Co|Corp|No|Fig|Eq|al|Vol|pp|U\.S)|\b[A-Z])\.$/;
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

/** Splits a unit longer than `max` tokens at spaces (or hard, for unbroken runs). */
function splitLong(text: string, start: number, end: number, max: number, tok: Tokenizer): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let s = start;
  while (s < end) {
    // Grow a window by doubling then bisect on the character length that fits.
    let lo = 1;
    let hi = end - s;
    if (tok.count(text.slice(s, end)) <= max) {
      out.push([s, end]);
      break;
    }
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (tok.count(text.slice(s, s + mid)) <= max) lo = mid;
      else hi = mid - 1;
    }
    // Cut before a space (a trailing space is a token of its own); a shorter prefix never has more tokens then.
    const space = text.lastIndexOf(' ', s + lo);
    const cut = space > s + lo / 2 ? space : s + lo;
    out.push([s, cut]);
    s = cut;
    while (s < end && /\s/.test(text[s]!)) s++;
  }
  return out;
}

function units(text: string, max: number, tok: Tokenizer): Unit[] {
  const out: Unit[] = [];
  for (const [ps, pe] of paragraphs(text)) {
    let first = true;
    for (const [ss, se] of sentencesOf(text, ps, pe)) {
      const tokens = tok.count(text.slice(ss, se));
      const parts = tokens <= max ? [[ss, se] as [number, number]] : splitLong(text, ss, se, max, tok);
      for (const [s, e] of parts) {
        out.push({ start: s, end: e, tokens: parts.length === 1 ? tokens : tok.count(text.slice(s, e)), paragraph: first });
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
  if (opts.overlapTokens < 0 || opts.overlapTokens >= max) throw new RangeError('overlapTokens must be in [0, chunkTokens)');
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
    // Sentence counts do not add up exactly (BPE merges across the joins): trim to fit.
    let body = text.slice(start, us[j - 1]!.end);
    let tokens = tok.count(body);
    while (tokens > max && j - 1 > i) {
      j--;
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
