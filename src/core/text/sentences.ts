/**
 * Rule-based sentence splitting that keeps character offsets, so a sentence
 * can be cited as `text.slice(start, end)` of its source.
 *
 * Boundaries: `.`, `!`, `?` or `…` (optionally followed by closing quotes or
 * brackets) followed by whitespace and a character that is not a lowercase
 * letter; a blank line; a line break before a list item or heading. A period
 * after a known abbreviation ("Dr.", "e.g.") or a single-letter initial
 * ("J. R. R.") is not a boundary; decimals ("3.14") never are, since no space
 * follows the point. Hard-wrapped lines (a single line break inside a
 * paragraph) are joined, as in plain-text books.
 */

export interface SentenceSpan {
  start: number;
  end: number;
}

export interface SplitSentencesOptions {
  /**
   * Longest sentence, in characters; longer runs (tables, lists without
   * punctuation) are cut at the last whitespace before the limit so each
   * piece stays cheap to embed. Default 1000.
   */
  maxChars?: number;
}

/** Lowercased, without the final period: never end a sentence (titles before names, Latin abbreviations). */
const ABBREVIATIONS = new Set([
  'mr',
  'mrs',
  'ms',
  'dr',
  'prof',
  'sr',
  'jr',
  'st',
  'mt',
  'rev',
  'hon',
  'gen',
  'col',
  'capt',
  'lt',
  'sgt',
  'gov',
  'sen',
  'pres',
  'messrs',
  'mme',
  'mlle',
  'e.g',
  'i.e',
  'vs',
  'viz',
  'cf',
  'approx',
  'dept',
  'univ',
  'u.s',
  'u.k',
  'ph.d',
]);

/** Abbreviations only before a number ("No. 5", "p. 12", "Jan. 3"); elsewhere they are ordinary words. */
const NUMBER_ABBREVIATIONS = new Set([
  'no',
  'nos',
  'p',
  'pp',
  'vol',
  'vols',
  'fig',
  'figs',
  'eq',
  'ch',
  'sec',
  'art',
  'c',
  'ca',
  'jan',
  'feb',
  'mar',
  'apr',
  'jun',
  'jul',
  'aug',
  'sep',
  'sept',
  'oct',
  'nov',
  'dec',
]);

/** Abbreviations that end a sentence when a capitalised word follows ("pears, etc. Then"). */
const MAY_END_SENTENCE = new Set(['etc', 'al', 'inc', 'ltd', 'co', 'corp', 'bros', 'a.m', 'p.m']);

const TERMINATOR = /[.!?…]+["'”’»)\]]*(?=\s|$)/gu;
const LINE_START_BLOCK = /^[ \t]*(?:[-*•+]\s|#{1,6}\s|>\s?|\d{1,3}[.)]\s|[A-Za-z][.)]\s)/;

/** Splits `text` into sentence spans in order; spans exclude surrounding whitespace and never overlap. */
export function splitSentences(text: string, opts: SplitSentencesOptions = {}): SentenceSpan[] {
  const maxChars = Math.max(16, opts.maxChars ?? 1000);
  const out: SentenceSpan[] = [];
  for (const block of blocks(text)) {
    let from = block.start;
    const body = text.slice(block.start, block.end);
    TERMINATOR.lastIndex = 0;
    for (let m = TERMINATOR.exec(body); m !== null; m = TERMINATOR.exec(body)) {
      const end = block.start + m.index + m[0].length;
      if (!isBoundary(text, block.start + m.index, m[0], end, block.end)) continue;
      pushTrimmed(text, from, end, maxChars, out);
      from = end;
    }
    pushTrimmed(text, from, block.end, maxChars, out);
  }
  return out;
}

/** Paragraphs and line-level blocks (list items, headings) as [start, end) ranges. */
function blocks(text: string): SentenceSpan[] {
  const out: SentenceSpan[] = [];
  const lines: SentenceSpan[] = [];
  let pos = 0;
  while (pos <= text.length) {
    const nl = text.indexOf('\n', pos);
    const end = nl === -1 ? text.length : nl;
    lines.push({ start: pos, end });
    if (nl === -1) break;
    pos = nl + 1;
  }
  let cur: SentenceSpan | null = null;
  let prevWasHeading = false;
  for (const line of lines) {
    const content = text.slice(line.start, line.end);
    if (content.trim() === '') {
      if (cur) out.push(cur);
      cur = null;
      prevWasHeading = false;
      continue;
    }
    const standalone = isStandaloneLine(content);
    const startsBlock = standalone || LINE_START_BLOCK.test(content);
    if (cur === null || startsBlock || prevWasHeading) {
      if (cur) out.push(cur);
      cur = { start: line.start, end: line.end };
    } else {
      cur.end = line.end;
    }
    prevWasHeading = standalone || /^[ \t]*#{1,6}\s/.test(content);
  }
  if (cur) out.push(cur);
  return out;
}

/** Chapter titles and all-caps headings of plain-text books stand alone even without a blank line. */
function isStandaloneLine(line: string): boolean {
  const t = line.trim();
  if (
    /^(chapter|part|book|section|act|scene)\s+(\d+|[ivxlcdm]+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|the\s+\w+)\b[^.!?]{0,60}$/i.test(
      t,
    )
  )
    return true;
  return t.length <= 80 && /\p{Lu}.*\p{Lu}/u.test(t) && !/\p{Ll}/u.test(t);
}

function isBoundary(text: string, termStart: number, term: string, end: number, blockEnd: number): boolean {
  const next = nextNonSpace(text, end, blockEnd);
  if (next === null) return true;
  if (isLowercase(next)) return false;
  if (term[0] !== '.' || term.startsWith('..')) return true;
  const word = wordBefore(text, termStart).toLowerCase();
  if (
    /^\d{1,3}$/.test(word) &&
    /(^|\n)[ \t]*$/.test(text.slice(Math.max(0, termStart - word.length - 40), termStart - word.length))
  ) {
    return false; // a numbered list marker: "1. First point"
  }
  if (word.length === 1 && /\p{L}/u.test(word)) return false; // an initial: "J. Smith"
  if (ABBREVIATIONS.has(word)) return false;
  if (NUMBER_ABBREVIATIONS.has(word)) return !/\p{N}/u.test(next);
  if (MAY_END_SENTENCE.has(word)) return /\p{Lu}/u.test(next);
  return true;
}

/** The token before a period, including inner periods ("e.g", "U.S"). */
function wordBefore(text: string, i: number): string {
  let s = i;
  while (s > 0 && /[\p{L}\p{N}.]/u.test(text[s - 1] ?? '')) s--;
  return text.slice(s, i).replace(/^\.+/, '');
}

function nextNonSpace(text: string, from: number, limit: number): string | null {
  for (let i = from; i < limit; i++) {
    const ch = text[i] ?? '';
    if (!/\s/.test(ch)) return ch;
  }
  return null;
}

function isLowercase(ch: string): boolean {
  return ch !== ch.toUpperCase() && ch === ch.toLowerCase();
}

function pushTrimmed(text: string, start: number, end: number, maxChars: number, out: SentenceSpan[]): void {
  while (start < end && /\s/.test(text[start] ?? '')) start++;
  while (end > start && /\s/.test(text[end - 1] ?? '')) end--;
  while (end - start > maxChars) {
    let cut = start + maxChars;
    while (cut > start && !/\s/.test(text[cut] ?? '')) cut--;
    if (cut === start) cut = start + maxChars; // one unbroken run: cut mid-word
    let pieceEnd = cut;
    while (pieceEnd > start && /\s/.test(text[pieceEnd - 1] ?? '')) pieceEnd--;
    out.push({ start, end: pieceEnd });
    start = cut;
    while (start < end && /\s/.test(text[start] ?? '')) start++;
  }
  if (end > start) out.push({ start, end });
}
