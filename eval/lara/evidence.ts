import { analyze } from '../../src/core/text/analyse.js';
import type { LaraQuery } from './dataset.js';

/**
 * Where the evidence of a LaRA question lies, and whether a selection of the
 * document reached it. The segment rule follows the dataset README: papers are
 * split at their `<paper N>` lines; books and financial statements into n
 * equal character slices, `text[i*floor(len/n) : (i+1)*floor(len/n)]`, with n
 * the largest segment index seen in the query file plus one.
 */

export interface Span {
  start: number;
  end: number;
}

const PAPER_TAG = /^<paper (\d+)>/gm;

/**
 * The segments of a document: paper sections (indexed by their N, each from
 * its tag to the next tag or the end) for `type === 'paper'`, else n equal slices.
 */
export function segmentSpans(type: string, docText: string, nSegments: number): Span[] {
  if (type === 'paper') {
    const tags = [...docText.matchAll(PAPER_TAG)].map((m) => ({ n: Number(m[1]), at: m.index }));
    const out: Span[] = [];
    tags.forEach((t, i) => {
      out[t.n] = { start: t.at, end: tags[i + 1]?.at ?? docText.length };
    });
    return out;
  }
  if (!(nSegments >= 1)) throw new RangeError(`nSegments must be ≥ 1, got ${nSegments}`);
  const size = Math.floor(docText.length / nSegments);
  return Array.from({ length: nSegments }, (_, i) => ({ start: i * size, end: (i + 1) * size }));
}

/**
 * Gold evidence spans of a query: its `context_order` segment, or both
 * `comp_parts` segments for comparison; 'full' when the whole document is needed.
 * Throws when the query names a segment the document does not have.
 */
export function goldSpans(
  query: Pick<LaraQuery, 'type' | 'contextOrder' | 'compParts'>,
  docText: string,
  nSegments: number,
): Span[] | 'full' {
  if (query.contextOrder === 'full') return 'full';
  const segments = segmentSpans(query.type, docText, nSegments);
  const wanted = query.compParts ?? (query.contextOrder === null ? [] : [query.contextOrder]);
  if (wanted.length === 0) throw new RangeError('the query names no evidence segment');
  return wanted.map((i) => {
    const s = segments[i];
    if (!s) throw new RangeError(`segment ${i} does not exist (the document has ${segments.length})`);
    return s;
  });
}

function touches(a: Span, b: Span): boolean {
  return a.start < b.end && b.start < a.end;
}

/**
 * 1 when every gold span is touched (overlapped by at least one character) by
 * some selected span, else 0; for comparison both segments must be touched.
 * For 'full', the share of `segments` touched (a question about the whole
 * document is served in proportion to how much of it the selection reaches),
 * so `segments` is required then.
 */
export function evidenceCoverage(
  selected: readonly Span[],
  gold: readonly Span[] | 'full',
  segments?: readonly Span[],
): number {
  if (gold === 'full') {
    const segs = (segments ?? []).filter(Boolean);
    if (segs.length === 0) throw new RangeError('coverage of a whole-document question needs the document segments');
    return segs.filter((g) => selected.some((s) => touches(s, g))).length / segs.length;
  }
  return gold.every((g) => selected.some((s) => touches(s, g))) ? 1 : 0;
}

/** Distinct content words (lowercased, stopwords removed, unstemmed) of a text. */
export function contentWords(text: string): Set<string> {
  return new Set(analyze(text, false));
}

/**
 * Share of the answer's content words that the selected text contains, among
 * those that occur anywhere in the document (words the document lacks cannot
 * be retrieved, e.g. "not mentioned" in a hallucination answer). null when no
 * answer word occurs in the document. Pass precomputed word sets for speed.
 */
export function answerSupport(
  answer: string,
  docText: string | Set<string>,
  selectedText: string | Set<string>,
): number | null {
  const doc = typeof docText === 'string' ? contentWords(docText) : docText;
  const sel = typeof selectedText === 'string' ? contentWords(selectedText) : selectedText;
  let inDoc = 0;
  let inSel = 0;
  for (const w of contentWords(answer)) {
    if (!doc.has(w)) continue;
    inDoc++;
    if (sel.has(w)) inSel++;
  }
  return inDoc === 0 ? null : inSel / inDoc;
}
