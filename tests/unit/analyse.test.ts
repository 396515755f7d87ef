import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { STOPWORDS, analyze, stem, words } from '../../src/core/text/analyse.js';

/** The expression the scanner stands for, and analysis as it was written with it. */
const WORD = /\p{N}+(?:[.,]\p{N}+)*|[\p{L}\p{M}\p{N}]+/gu;
const byExpression = (text: string): string[] => [...text.matchAll(WORD)].map((m) => m[0]);
function analyzeByExpression(text: string, stemming = true): string[] {
  const out: string[] = [];
  for (const m of text.toLowerCase().matchAll(WORD)) {
    const raw = m[0].replace(/,/g, '');
    if (!STOPWORDS.has(raw)) out.push(stemming ? stem(raw) : raw);
  }
  return out;
}

// Every class the expression tells apart, with the edges: separators, other scripts' digits and letters, combining
// marks, astral letters and digits (surrogate pairs), lone surrogates, emoji, a long run.
const PIECES = [
  'a',
  'Z',
  'é',
  'ß',
  'İ',
  'ж',
  '中',
  'ا',
  '\u0301',
  '\u0903',
  '0',
  '7',
  '٣',
  '３',
  '²',
  '½',
  'Ⅻ',
  '.',
  ',',
  ' ',
  '-',
  "'",
  '\n',
  '\u00a0',
  '𝒜',
  '𝟙',
  '😀',
  '\ud800',
  '\udc00',
  '1,234.5',
  'x'.repeat(40),
  'the',
  'And',
  'increases',
  'running',
  'studies',
];
const text = fc.array(fc.constantFrom(...PIECES), { maxLength: 40 }).map((xs) => xs.join(''));

describe('words', () => {
  it('finds what the expression finds, on random texts of every character class', () => {
    fc.assert(
      fc.property(text, (t) => {
        expect(words(t)).toEqual(byExpression(t));
      }),
      { numRuns: 3000 },
    );
  });

  it('keeps a number with its inner separators and takes it before a letter run', () => {
    expect(words('Revenue rose 1,234.5 in 2024; 3d models, 1., x1.5 ٣٤,٥')).toEqual([
      'Revenue',
      'rose',
      '1,234.5',
      'in',
      '2024',
      '3',
      'd',
      'models',
      '1',
      'x1',
      '5',
      '٣٤,٥',
    ]);
  });
});

describe('analyze', () => {
  it('gives the terms the expression, the stopword list and the stemmer give, stemmed or not', () => {
    fc.assert(
      fc.property(text, fc.boolean(), (t, stemming) => {
        expect(analyze(t, stemming)).toEqual(analyzeByExpression(t, stemming));
        // Again, from the kept terms.
        expect(analyze(t, stemming)).toEqual(analyzeByExpression(t, stemming));
      }),
      { numRuns: 2000 },
    );
  });

  it('drops stopwords, stems, and removes a number’s commas', () => {
    expect(analyze('The Studies were increasing by 1,234 and the increases ran')).toEqual([
      'study',
      'increas',
      '1234',
      'increas',
      'ran',
    ]);
  });
});
