import { createHash } from 'node:crypto';
import { Lru } from './lru.js';
import {
  countTokens as cl100kCount,
  encode as cl100kEncode,
  encodeGenerator as cl100kEncodeGenerator,
  decode as cl100kDecode,
  setMergeCacheSize,
} from 'gpt-tokenizer/encoding/cl100k_base';
import { CL100K_TOKEN_SPLIT_REGEX } from 'gpt-tokenizer/encodingParams/constants';

/**
 * The service tokenizer: OpenAI's cl100k_base BPE (the "gpt-4" encoding that
 * LaRA used to measure and truncate its documents), from gpt-tokenizer, which
 * ships its ranks inside the npm package.
 * Providers that know their own model's tokenizer use that instead for prompts.
 */
export interface Tokenizer {
  readonly name: string;
  count(text: string): number;
  encode(text: string): number[];
  decode(tokens: readonly number[]): string;
}

/**
 * Token counts of long texts, keyed by the SHA-256 of the text and forgotten
 * least recently used first. One answer counts the same passages several
 * times (assembly, the prompt, its fit check, the reader's usage), and BPE
 * costs about 1 ms per thousand tokens on the event loop, against ~0.01 ms to
 * hash them. A digest, not the text, is the key, so a cached count never keeps
 * a document (or the string a passage was sliced from) in memory.
 */
export class CountMemo {
  private readonly counts: Lru<string, number>;

  /**
   * @param count the exact count, called on a miss
   * @param minChars shorter texts are counted every time (default 256: a
   *   chunk of 400 tokens is ~1,700 characters, and every passage of a
   *   retrieval is counted again by each request that reads it)
   * @param maxEntries counts kept (default 16 384, about 2 MiB)
   */
  constructor(
    private readonly count: (text: string) => number,
    private readonly minChars = 256,
    maxEntries = 16_384,
  ) {
    this.counts = new Lru(maxEntries);
  }

  get size(): number {
    return this.counts.size;
  }

  get(text: string): number {
    if (text.length < this.minChars) return this.count(text);
    const key = createHash('sha256').update(text, 'utf8').digest('base64');
    const hit = this.counts.get(key);
    if (hit !== undefined) return hit;
    const n = this.count(text);
    this.counts.set(key, n);
    return n;
  }
}

/**
 * The longest pre-token (cl100k's regex split: a word, a run of punctuation or
 * of whitespace) given to BPE whole. BPE as published (Sennrich et al. 2016;
 * tiktoken's merge loop, which gpt-tokenizer follows) costs quadratic time in
 * the length of one pre-token, and text without spaces (CJK, DNA, base64, one
 * letter repeated) is one pre-token: 8k CJK characters cost ~0.3 s, 60k
 * minutes. A longer run is cut into pieces of this many characters, each
 * encoded alone, so counting is linear in the text. The longest cl100k token
 * is 128 characters, so every pre-token that is a single token stays whole.
 *
 * The bound: a count is exact (equal to unbounded BPE) for every text whose
 * pre-tokens are at most this long, which is all ordinary prose; each cut of a
 * longer run may change its count by about one token (measured: runs of 8k
 * random ACGT, base64 letters, a–z and CJK characters counted within +0.25%
 * of unbounded BPE; tests/unit/tokenizer.test.ts checks within one token per cut).
 */
export const PRE_TOKEN_MAX_CHARS = 256;

/**
 * gpt-tokenizer keeps encodings of 100k pre-tokens in a Map it evicts by
 * deleting the oldest key; in V8 each eviction then steps over every deleted
 * entry, so text of many distinct pre-tokens (1 MB of base64) got slower with
 * each pass (2.3 s, 10.8 s, 15.6 s for the same text). Most words are one
 * token and need no merging; the capped pieces of long runs, which do, are
 * kept in {@link pieceCounts}.
 */
setMergeCacheSize(0);

/**
 * Counts of capped pieces: a text of one character repeated is thousands of
 * equal pieces. Two generations, dropped whole, never single deletions (see
 * above); a piece used again moves to the young one.
 */
class PieceCounts {
  private young = new Map<string, number>();
  private old = new Map<string, number>();
  constructor(private readonly perGeneration: number) {}

  count(piece: string): number {
    let n = this.young.get(piece);
    if (n !== undefined) return n;
    n = this.old.get(piece) ?? cl100kCount(piece, PLAIN);
    if (this.young.size >= this.perGeneration) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(piece, n);
    return n;
  }
}

/** gpt-tokenizer's defaults refuse special tokens ("<|endoftext|>"): in a document they are plain text. */
const PLAIN = Object.freeze({ disallowedSpecial: new Set<string>() });

/** A conservative test for a pre-token longer than the cap: any long match holds a run of one class this long. */
const LONG_RUN = new RegExp(
  `\\p{L}{${PRE_TOKEN_MAX_CHARS / 2 - 1}}|[^\\s\\p{L}\\p{N}]{${PRE_TOKEN_MAX_CHARS / 2 - 1}}|\\s{${PRE_TOKEN_MAX_CHARS / 2 - 1}}`,
  'u',
);

/** End of the piece of a long pre-token starting at `from`: the cap, moved back so as not to split a surrogate pair. */
function pieceEnd(text: string, from: number, to: number): number {
  let end = Math.min(to, from + PRE_TOKEN_MAX_CHARS);
  if (end < to && end > from + 1) {
    const c = text.charCodeAt(end - 1);
    if (c >= 0xd800 && c <= 0xdbff) end--;
  }
  return end;
}

/**
 * The spans BPE encodes separately, `[start, end, piece]`: text between
 * over-long pre-tokens (`piece` false), and the capped pieces of those
 * pre-tokens (`piece` true). Text without long runs is one span. Cutting at a
 * pre-token boundary changes nothing: the split regex matches the same
 * pre-tokens on either side of one of its own match boundaries.
 */
function* bpeSpans(text: string): Generator<[number, number, boolean]> {
  if (!LONG_RUN.test(text)) {
    yield [0, text.length, false];
    return;
  }
  let from = 0;
  for (const m of text.matchAll(CL100K_TOKEN_SPLIT_REGEX)) {
    if (m[0].length <= PRE_TOKEN_MAX_CHARS) continue;
    if (m.index > from) yield [from, m.index, false];
    const end = m.index + m[0].length;
    for (let s = m.index; s < end; ) {
      const e = pieceEnd(text, s, end);
      yield [s, e, true];
      s = e;
    }
    from = end;
  }
  if (from < text.length) yield [from, text.length, false];
}

const whole = (text: string, s: number, e: number): string => (s === 0 && e === text.length ? text : text.slice(s, e));

const pieceCounts = new PieceCounts(1024);

/** The capped cl100k count (see {@link PRE_TOKEN_MAX_CHARS}): linear in the text. */
function countCapped(text: string): number {
  let n = 0;
  for (const [s, e, piece] of bpeSpans(text))
    n += piece ? pieceCounts.count(text.slice(s, e)) : cl100kCount(whole(text, s, e), PLAIN);
  return n;
}

function encodeCapped(text: string): number[] {
  const out: number[] = [];
  for (const [s, e] of bpeSpans(text)) for (const t of cl100kEncode(whole(text, s, e), PLAIN)) out.push(t);
  return out;
}

/**
 * The pre-tokens of `text` with their counts, over-long ones cut into capped
 * pieces: `[start, end, tokens]` in order, covering the text, whose counts add
 * up to `cl100k.count(text)`. Splitting a sentence of thousands of tokens at
 * these boundaries costs one count per pre-token, never a recount of the rest.
 */
export function* preTokens(text: string): Generator<[number, number, number]> {
  for (const [s, e, piece] of bpeSpans(text)) {
    if (piece) {
      yield [s, e, pieceCounts.count(text.slice(s, e))];
      continue;
    }
    // gpt-tokenizer's generator yields the tokens of one pre-token at a time, matched by the same regex: zipped with
    // the matches it gives each pre-token's count without a call (and its set-up) per pre-token.
    const span = whole(text, s, e);
    const tokens = cl100kEncodeGenerator(span, PLAIN);
    for (const m of span.matchAll(CL100K_TOKEN_SPLIT_REGEX)) {
      const next = tokens.next();
      if (next.done) throw new Error('cl100k: fewer encoded pre-tokens than matches');
      yield [s + m.index, s + m.index + m[0].length, next.value.length];
    }
  }
}

/**
 * How a long text is counted. A prompt is a long text (a book, a retrieval's
 * passages) with the question at its end, so each new question made it a new
 * text to count whole (~90 ms of the event loop for a 128k-token book, on
 * every request); and the passages of a new retrieval are new texts, though
 * slices of a document counted before. So a text is counted in two parts
 * whose counts add up ({@link additiveCut}): up to the start of its last line,
 * and that line (the question); each part is remembered whole. A part not
 * remembered is counted by blocks, each remembered too, that end at places
 * chosen by the text around them (content-defined chunking, as in LBFS:
 * Muthitacharoen et al., "A Low-bandwidth Network File System", SOSP 2001):
 * a text and any slice of it share every block but those at the slice's
 * edges, and only those are counted again.
 */
/** Characters before a place whose hash decides whether a block ends there. */
export const CUT_WINDOW = 16;
/**
 * One in this many {@link additiveCut} places ends a block: blocks of prose
 * (a place before every word) average about 200 characters, so the edges of a
 * passage (a chunk of 400 tokens is ~1,700 characters) cost little to count.
 */
const CUT_ODDS = 32;
/** Polynomial rolling hash (Karp–Rabin) of the window: its base, and the base to the window's length, mod 2^32. */
const HASH_BASE = 0x01000193;
const HASH_BASE_POW = (() => {
  let x = 1;
  for (let i = 0; i < CUT_WINDOW; i++) x = Math.imul(x, HASH_BASE);
  return x;
})();

/** JavaScript's `\s` (the split regex's): WhiteSpace and LineTerminator code units. */
function isSpaceCode(c: number): boolean {
  return (
    (c >= 9 && c <= 13) ||
    c === 32 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

const isAsciiLetter = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/**
 * Whether cl100k's split regex (gpt-tokenizer's CL100K_TOKEN_SPLIT_PATTERN)
 * matches the same pre-tokens in `text` as in `text.slice(0, at)` and
 * `text.slice(at)` apart, so the count of the text is the sum of theirs:
 * - after a line break followed by a character that is not whitespace: no
 *   pre-token runs from whitespace into it across a line break, and the
 *   whitespace ending there is one pre-token whether or not the text goes on
 *   (`\s*[\r\n]` before it, `\s+$` alone);
 * - before a space between two ASCII letters: a word ends at the first
 *   letter, and the space starts the next word's pre-token (` word`).
 * The regex has no lookbehind, so the second part is matched as it is in the
 * whole text. Exported for tests.
 */
export function additiveCut(text: string, at: number): boolean {
  if (at <= 0 || at >= text.length) return false;
  if (text.charCodeAt(at - 1) === 10) return !isSpaceCode(text.charCodeAt(at));
  return text.charCodeAt(at) === 32 && isAsciiLetter(text.charCodeAt(at - 1)) && isAsciiLetter(text.charCodeAt(at + 1));
}

/**
 * Blocks of `text`, `[start, end)` in order, tiling it: a block ends at an
 * {@link additiveCut} place whose preceding {@link CUT_WINDOW} characters
 * hash under `2^32 / odds`. The choice depends on nothing else, so it is the
 * same in the text and in any slice of it (past the slice's first window). A
 * text without such places (CJK, one long word) is one block.
 */
export function* countBlocks(text: string, odds = CUT_ODDS): Generator<[number, number]> {
  const below = Math.floor(2 ** 32 / odds);
  let start = 0;
  let h = 0;
  for (let p = 0; p < text.length; p++) {
    const c = text.charCodeAt(p);
    if (
      p >= CUT_WINDOW &&
      (c === 32 || text.charCodeAt(p - 1) === 10) &&
      Math.imul(h, 0x9e3779b1) >>> 0 < below &&
      additiveCut(text, p)
    ) {
      yield [start, p];
      start = p;
    }
    h = (Math.imul(h, HASH_BASE) + c) | 0;
    if (p >= CUT_WINDOW) h = (h - Math.imul(text.charCodeAt(p - CUT_WINDOW), HASH_BASE_POW)) | 0;
  }
  yield [start, text.length];
}

/** The count of a text from its blocks (see {@link countBlocks}), each remembered. */
function countByBlocks(text: string): number {
  let n = 0;
  for (const [s, e] of countBlocks(text)) n += blockCounts.get(whole(text, s, e));
  return n;
}

/** Blocks average ~200 characters: 131 072 of them are ~26 MB of text (~70 128k-token books), kept in ~16 MiB. */
const blockCounts = new CountMemo(countCapped, 64, 131_072);
/** Whole texts and the parts {@link count} splits them into (a sentence, a prompt's instructions and question included). */
const textCounts = new CountMemo(countByBlocks, 64);

/** The start of the last line of `text` that begins with no whitespace, where the count of the text splits; 0 if none. */
function lastLineStart(text: string): number {
  for (let nl = text.lastIndexOf('\n', text.length - 2); nl >= 0; nl = nl === 0 ? -1 : text.lastIndexOf('\n', nl - 1))
    if (!isSpaceCode(text.charCodeAt(nl + 1))) return nl + 1;
  return 0;
}

/** The capped cl100k count of a text (see {@link PRE_TOKEN_MAX_CHARS}), remembered as described above. */
function count(text: string): number {
  if (text.length < 64) return countCapped(text);
  const at = lastLineStart(text);
  if (at === 0) return textCounts.get(text);
  return textCounts.get(text.slice(0, at)) + textCounts.get(text.slice(at));
}

/** cl100k_base with pre-tokens capped at {@link PRE_TOKEN_MAX_CHARS} characters; special tokens are plain text. */
export const cl100k: Tokenizer = Object.freeze({
  name: 'cl100k_base',
  count: (text: string) => (text.length === 0 ? 0 : count(text)),
  encode: (text: string) => encodeCapped(text),
  decode: (tokens: readonly number[]) => cl100kDecode(tokens as number[]),
});
