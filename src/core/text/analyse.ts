/**
 * The one text analyser: how retrieval (BM25, the store's lexical candidates,
 * level one's term weights), the router's term checks and the extractive
 * reader turn a text into terms, so that a term means the same everywhere.
 */

// Small on purpose: question words and function words, which carry no topic.
export const STOPWORDS = new Set(
  (
    'a an and are as at be been being but by can could did do does doing for from had has have having he her hers him his how ' +
    'i if in into is it its itself me my no nor not of on or our ours she should so than that the their theirs them then there ' +
    'these they this those to too us was we were what when where which while who whom why will with would you your yours ' +
    's t d ll m re ve'
  ).split(' '),
);

const DOUBLE_CONSONANT = /([b-df-hj-np-tv-z])\1$/;

/**
 * Light, deterministic suffix stripping (a much-reduced Porter step 1):
 * plurals, -ing, -ed, and a final -e so "increase", "increased", "increasing"
 * meet. Short words and numbers are left alone.
 */
export function stem(word: string): string {
  if (word.length <= 3 || /\p{N}/u.test(word)) return word;
  let w = word;
  if (w.endsWith('ies') && w.length > 4) w = `${w.slice(0, -3)}y`;
  else if (w.endsWith('sses')) w = w.slice(0, -2);
  else if (w.endsWith('s') && !/(?:ss|us|is)$/.test(w)) w = w.slice(0, -1);

  for (const suffix of ['ing', 'ed']) {
    if (w.endsWith(suffix) && w.length - suffix.length >= 4) {
      w = w.slice(0, -suffix.length);
      if (DOUBLE_CONSONANT.test(w) && !/(?:ll|ss|zz)$/.test(w)) w = w.slice(0, -1);
      break;
    }
  }
  if (w.length > 4 && w.endsWith('e')) w = w.slice(0, -1);
  return w;
}

/**
 * The words of a text, as the regular expression
 * `/\p{N}+(?:[.,]\p{N}+)*|[\p{L}\p{M}\p{N}]+/gu` finds them (a number keeps
 * its inner separators, "1,234.5", so it stays one term; a run of letters,
 * marks and digits is one word; at a digit the number is taken first, so
 * "3d" is "3" and "d"), by a scan of char codes: about twice as fast as the
 * expression's matchAll, and analysis runs over every chunk a question reads
 * for the first time. tests/unit/analyse.test.ts holds the two equal on
 * random texts.
 */
export function words(text: string): string[] {
  const out: string[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const cp = codePointAt(text, i);
    const k = charClass(cp);
    if (k === OTHER) {
      i += width(cp);
      continue;
    }
    const start = i;
    i = skipRun(text, i, k === DIGIT ? DIGIT : WORD_CHAR);
    if (k === DIGIT) {
      // Separator groups: "." or "," and at least one digit after it.
      while (i + 1 < n) {
        const sep = text.charCodeAt(i);
        if ((sep !== 44 && sep !== 46) || charClass(codePointAt(text, i + 1)) !== DIGIT) break;
        i = skipRun(text, i + 1, DIGIT);
      }
    }
    out.push(text.slice(start, i));
  }
  return out;
}

const OTHER = 0;
const DIGIT = 1;
const LETTER_OR_MARK = 2;
/** What a letter run takes: letters, marks and digits. */
const WORD_CHAR = 3;

const ASCII_CLASS = new Uint8Array(128);
for (let c = 48; c <= 57; c++) ASCII_CLASS[c] = DIGIT;
for (let c = 65; c <= 90; c++) ASCII_CLASS[c] = LETTER_OR_MARK;
for (let c = 97; c <= 122; c++) ASCII_CLASS[c] = LETTER_OR_MARK;
const IS_DIGIT = /^\p{N}$/u;
const IS_LETTER_OR_MARK = /^[\p{L}\p{M}]$/u;
/** Classes of the non-ASCII code points met so far (texts use few scripts), emptied when full. */
const classes = new Map<number, number>();
const CLASSES_KEPT = 65_536;

function charClass(cp: number): number {
  if (cp < 128) return ASCII_CLASS[cp]!;
  let k = classes.get(cp);
  if (k === undefined) {
    const ch = String.fromCodePoint(cp);
    k = IS_DIGIT.test(ch) ? DIGIT : IS_LETTER_OR_MARK.test(ch) ? LETTER_OR_MARK : OTHER;
    if (classes.size >= CLASSES_KEPT) classes.clear();
    classes.set(cp, k);
  }
  return k;
}

/** The code point at `i` (a surrogate pair read as one, as the expression's `u` flag does). */
function codePointAt(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
    const d = text.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
  }
  return c;
}

const width = (cp: number): number => (cp > 0xffff ? 2 : 1);

/** The index after the run of `what` (digits, or word characters) starting at `i`. */
function skipRun(text: string, i: number, what: typeof DIGIT | typeof WORD_CHAR): number {
  const n = text.length;
  while (i < n) {
    const cp = codePointAt(text, i);
    const k = charClass(cp);
    if (what === DIGIT ? k !== DIGIT : k === OTHER) break;
    i += width(cp);
  }
  return i;
}

/**
 * Each word's term, or '' for a stopword: a text's words repeat (Zipf), and
 * analysis runs on every chunk a question reads for the first time, so one
 * lookup stands for the stopword test and the stemming. Emptied when full, and
 * only words of ordinary length are kept (a run of base64 is one "word"), so
 * it stays bounded whatever the texts.
 */
const terms = new Map<string, string>();
const TERMS_KEPT = 100_000;
const TERM_KEPT_CHARS = 32;

/** The term of a lowercased word ('' for a stopword), unstemmed when `stemming` is false. */
function termOf(word: string, stemming: boolean): string {
  const raw = word.includes(',') ? word.replace(/,/g, '') : word;
  if (STOPWORDS.has(raw)) return '';
  return stemming ? stem(raw) : raw;
}

/** Lowercased words of `text`, stopwords removed; stemmed unless `stemming` is false. */
export function analyze(text: string, stemming = true): string[] {
  const out: string[] = [];
  for (const word of words(text.toLowerCase())) {
    let term: string | undefined;
    if (!stemming || word.length > TERM_KEPT_CHARS) term = termOf(word, stemming);
    else {
      term = terms.get(word);
      if (term === undefined) {
        if (terms.size >= TERMS_KEPT) terms.clear();
        term = termOf(word, true);
        terms.set(word, term);
      }
    }
    if (term !== '') out.push(term);
  }
  return out;
}
