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

// Letters/digits runs; a number keeps its inner separators ("1,234.5") so it stays one term.
const WORD = /\p{N}+(?:[.,]\p{N}+)*|[\p{L}\p{M}\p{N}]+/gu;
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
 * Stems already computed: a text's words repeat (Zipf), and analysis runs on
 * every chunk a question reads for the first time. Emptied when full, and
 * only words of ordinary length are kept (a run of base64 is one "word"), so
 * it stays bounded whatever the texts.
 */
const stems = new Map<string, string>();
const STEMS_KEPT = 100_000;
const STEM_KEPT_CHARS = 32;

function stemmed(word: string): string {
  if (word.length > STEM_KEPT_CHARS) return stem(word);
  let s = stems.get(word);
  if (s === undefined) {
    if (stems.size >= STEMS_KEPT) stems.clear();
    s = stem(word);
    stems.set(word, s);
  }
  return s;
}

/** Lowercased words of `text`, stopwords removed; stemmed unless `stemming` is false. */
export function analyze(text: string, stemming = true): string[] {
  const out: string[] = [];
  for (const m of text.toLowerCase().matchAll(WORD)) {
    const raw = m[0].includes(',') ? m[0].replace(/,/g, '') : m[0];
    if (STOPWORDS.has(raw)) continue;
    out.push(stemming ? stemmed(raw) : raw);
  }
  return out;
}
