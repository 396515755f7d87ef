import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { splitSentences } from '../../src/core/text/sentences.js';

const texts = (text: string): string[] => splitSentences(text).map((s) => text.slice(s.start, s.end));

describe('splitSentences', () => {
  it('splits on terminal punctuation followed by a capitalised word', () => {
    expect(texts('The cat sat. The dog ran! Did it? Yes.')).toEqual([
      'The cat sat.',
      'The dog ran!',
      'Did it?',
      'Yes.',
    ]);
  });

  it('keeps offsets that slice the original text, surrounding whitespace excluded', () => {
    const text = '  First one.   Second one.\n';
    const spans = splitSentences(text);
    expect(spans).toEqual([
      { start: 2, end: 12 },
      { start: 15, end: 26 },
    ]);
  });

  it('does not split after titles, initials, Latin abbreviations or inside decimals', () => {
    expect(
      texts(
        'Mr. Smith met Dr. Jones at 3.45 p.m. yesterday. J. R. R. Tolkien wrote it, e.g. The Hobbit. Pi is 3.14159 here.',
      ),
    ).toEqual([
      'Mr. Smith met Dr. Jones at 3.45 p.m. yesterday.',
      'J. R. R. Tolkien wrote it, e.g. The Hobbit.',
      'Pi is 3.14159 here.',
    ]);
  });

  it('treats number abbreviations as abbreviations only before a number', () => {
    expect(texts('See No. 5 and p. 12 for it. He said no. Then he left.')).toEqual([
      'See No. 5 and p. 12 for it.',
      'He said no.',
      'Then he left.',
    ]);
  });

  it('ends a sentence at etc. when a capitalised word follows', () => {
    expect(texts('Apples, pears, etc. Then we ate.')).toEqual(['Apples, pears, etc.', 'Then we ate.']);
  });

  it('does not split when the next word is lowercase', () => {
    expect(texts('He paused... and went on. "Stop!" she cried.')).toEqual([
      'He paused... and went on.',
      '"Stop!" she cried.',
    ]);
  });

  it('keeps closing quotes and brackets with their sentence', () => {
    expect(texts('She said "Go home." Then (he thought so.) It rained.')).toEqual([
      'She said "Go home."',
      'Then (he thought so.)',
      'It rained.',
    ]);
  });

  it('treats blank lines as boundaries even without punctuation', () => {
    expect(texts('A title without a period\n\nThe body starts here. It goes on')).toEqual([
      'A title without a period',
      'The body starts here.',
      'It goes on',
    ]);
  });

  it('joins hard-wrapped lines inside a paragraph', () => {
    expect(texts('It was the best of times,\nit was the worst of times.\nNext sentence.')).toEqual([
      'It was the best of times,\nit was the worst of times.',
      'Next sentence.',
    ]);
  });

  it('starts a new sentence at list items, markdown headings and chapter titles', () => {
    expect(texts('# Heading\nIntro text\n- first item\n- second item\nCHAPTER IV\nThe story resumes')).toEqual([
      '# Heading',
      'Intro text',
      '- first item',
      '- second item',
      'CHAPTER IV',
      'The story resumes',
    ]);
  });

  it('keeps numbered list markers with their item', () => {
    expect(texts('Steps:\n1. Open the box.\n2. Take the key. It is small.')).toEqual([
      'Steps:',
      '1. Open the box.',
      '2. Take the key.',
      'It is small.',
    ]);
  });

  it('still ends a sentence after a number inside a line', () => {
    expect(texts('He was born in 1921. Then came the war.')).toEqual(['He was born in 1921.', 'Then came the war.']);
  });

  it('cuts sentences longer than maxChars at whitespace', () => {
    const text = Array.from({ length: 50 }, (_, i) => `word${i}`).join(' ');
    const spans = splitSentences(text, { maxChars: 60 });
    expect(spans.length).toBeGreaterThan(3);
    for (const s of spans) expect(s.end - s.start).toBeLessThanOrEqual(60);
    expect(spans.map((s) => text.slice(s.start, s.end)).join(' ')).toBe(text);
  });

  it('returns nothing for empty or blank text', () => {
    expect(splitSentences('')).toEqual([]);
    expect(splitSentences(' \n\n\t ')).toEqual([]);
  });

  it('yields ordered, non-overlapping, trimmed spans that cover every non-space character', () => {
    fc.assert(
      fc.property(
        fc.string({
          unit: fc.constantFrom('a', 'B', ' ', '.', '!', '?', '\n', '"', '3', 'é', 'Mr', 'e.g.'),
          maxLength: 200,
        }),
        (text) => {
          const spans = splitSentences(text, { maxChars: 40 });
          let prevEnd = 0;
          let covered = 0;
          for (const s of spans) {
            expect(s.start).toBeGreaterThanOrEqual(prevEnd);
            expect(s.end).toBeGreaterThan(s.start);
            expect(s.end - s.start).toBeLessThanOrEqual(40);
            const piece = text.slice(s.start, s.end);
            expect(piece).toBe(piece.trim());
            covered += piece.replace(/\s/g, '').length;
            prevEnd = s.end;
          }
          expect(covered).toBe(text.replace(/\s/g, '').length);
        },
      ),
    );
  });
});
