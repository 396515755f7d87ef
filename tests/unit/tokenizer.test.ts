import { readFileSync } from 'node:fs';
import { countTokens } from 'gpt-tokenizer/encoding/cl100k_base';
import { describe, expect, it } from 'vitest';
import {
  additiveCut,
  cl100k,
  CountMemo,
  countBlocks,
  CUT_WINDOW,
  PRE_TOKEN_MAX_CHARS,
  preTokens,
} from '../../src/core/tokenizer.js';
import { seededRandom } from '../../src/core/random.js';
import { PATHOLOGICAL_KINDS, pathologicalText } from '../helpers/pathological.js';

const long = (tail: string) => `${'The ferry crossed the fjord at dawn, carrying salt and wool. '.repeat(80)}${tail}`;

describe('the cl100k token count', () => {
  it('counts long texts exactly, again and again, and tells apart texts that differ only at the end', () => {
    for (const tail of ['', 'One more sentence here.', 'One more sentence here!', 'Ünïcödé 🚢 tail']) {
      const text = long(tail);
      expect(cl100k.count(text)).toBe(countTokens(text));
      expect(cl100k.count(text)).toBe(countTokens(text));
    }
    expect(cl100k.count('')).toBe(0);
    expect(cl100k.count('short text')).toBe(countTokens('short text'));
  });
});

describe('the cl100k count by blocks (a new question at the end of a long prompt, a new slice of a counted text)', () => {
  const PLAIN = { disallowedSpecial: new Set<string>() };
  const book = readFileSync(
    new URL('../../../shared/datasets/lara/documents/32k/book/The Time Machine.txt', import.meta.url),
    'utf8',
  );
  const cutsOf = (text: string, odds?: number): number[] => [...countBlocks(text, odds)].slice(1).map(([s]) => s);

  it('adds up at every block cut: random text of whitespace, line breaks, contractions, digits, CJK and emoji', () => {
    const pieces = [
      'a',
      'Lx',
      ' ',
      '  ',
      '\n',
      '\n\n',
      '\t',
      '\r\n',
      ' \n',
      '\n ',
      '.',
      ',\n',
      "'",
      "'ll",
      "'s",
      '7',
      '123',
      'é',
      '中',
      '\u00a0',
      '\u2028',
      '\u3000',
      '🚢',
    ];
    const random = seededRandom(7);
    let cuts = 0;
    for (let k = 0; k < 1500; k++) {
      let text = '';
      for (let i = 20 + Math.floor(random() * 300); i > 0; i--) text += pieces[Math.floor(random() * pieces.length)];
      let sum = 0;
      // Odds of 1 and 2: nearly every place that may end a block does.
      for (const [s, e] of countBlocks(text, 1 + (k % 2))) sum += countTokens(text.slice(s, e), PLAIN);
      cuts += cutsOf(text, 1).length;
      expect(sum, JSON.stringify(text)).toBe(countTokens(text, PLAIN));
    }
    expect(cuts).toBeGreaterThan(10_000);
  });

  it('ends a block only where the text goes on with no whitespace after a line break, or between two words', () => {
    for (let c = 0; c < 0x10000; c++) {
      const ch = String.fromCharCode(c);
      expect(additiveCut(`a\n${ch}b`, 2), `U+${c.toString(16)}`).toBe(!/\s/u.test(ch));
    }
    expect(additiveCut('one two', 3)).toBe(true);
    expect(additiveCut('one  two', 3)).toBe(false);
    expect(additiveCut('one 2', 3)).toBe(false);
    expect(additiveCut('one ', 3)).toBe(false);
  });

  it('cuts a slice where the whole text is cut, past its first window: the slice counts from the blocks the text counted', () => {
    const textCuts = cutsOf(book);
    expect(textCuts.length).toBeGreaterThan(book.length / 1000);
    for (const [s, e] of [
      [0, 5_000],
      [1_234, 9_876],
      [40_000, 41_700],
      [book.length - 3_000, book.length],
    ] as const) {
      const inside = textCuts.filter((p) => p >= s + CUT_WINDOW && p < e - 1);
      expect(
        cutsOf(book.slice(s, e))
          .map((p) => p + s)
          .filter((p) => p >= s + CUT_WINDOW && p < e - 1),
      ).toEqual(inside);
    }
  });

  it('counts a book, the book with a question after it, and slices of it exactly', () => {
    expect(cl100k.count(book)).toBe(countTokens(book, PLAIN));
    for (const question of ['Who travels?', 'Who travels?\nAnd when?', '  indented\n\n', 'x']) {
      const prompt = `Document:\n${book}\n\nQuestion: ${question}`;
      expect(cl100k.count(prompt), question).toBe(countTokens(prompt, PLAIN));
    }
    for (let s = 0; s < book.length - 6_000; s += 9_973) {
      const slice = book.slice(s, s + 1_700 + (s % 4_000));
      expect(cl100k.count(slice)).toBe(countTokens(slice, PLAIN));
    }
  });
});

describe('CountMemo', () => {
  it('counts a long text once while it is remembered, short texts every time, and forgets the least recently used beyond its bound', () => {
    const seen: string[] = [];
    const memo = new CountMemo((t) => (seen.push(t), t.length), 10, 2);
    expect(memo.get('short')).toBe(5);
    expect(memo.get('short')).toBe(5);
    expect(seen).toEqual(['short', 'short']);
    expect(memo.size).toBe(0);

    const [a, b, c] = ['a'.repeat(20), 'b'.repeat(30), 'c'.repeat(40)];
    memo.get(a);
    memo.get(b);
    memo.get(a); // a is now the most recently used
    expect(seen.filter((t) => t === a)).toHaveLength(1);
    memo.get(c); // evicts b
    expect(memo.size).toBe(2);
    memo.get(a);
    memo.get(b);
    expect(seen.filter((t) => t === a)).toHaveLength(1);
    expect(seen.filter((t) => t === b)).toHaveLength(2);
  });
});

describe('the cl100k count of text without spaces (issue 14: one pre-token of 60k characters took minutes of BPE)', () => {
  const cuts = (text: string): number => {
    // Upper bound on the cuts the cap makes: one per PRE_TOKEN_MAX_CHARS characters of a run longer than it.
    let n = 0;
    for (const m of text.matchAll(/\p{L}+|[^\s\p{L}\p{N}]+|\s+/gu))
      if (m[0].length > PRE_TOKEN_MAX_CHARS) n += Math.ceil(m[0].length / PRE_TOKEN_MAX_CHARS);
    return n;
  };

  it('counts megabytes of one letter, random ACGT, base64, minified JavaScript and CJK (each of which froze the API before)', () => {
    for (const kind of PATHOLOGICAL_KINDS) {
      const text = pathologicalText(
        kind,
        kind === 'one-letter' ? 2_000_000 : kind === 'one-cjk-char' ? 60_000 : 100_000,
      );
      const n = cl100k.count(text);
      expect(n, kind).toBeGreaterThan(text.length / 130);
      const head = text.slice(0, 20_000);
      expect(cl100k.encode(head).length, kind).toBe(cl100k.count(head));
    }
  });

  it('is exact wherever pre-tokens are at most the cap, and within one token per cut of unbounded BPE on runs past it', () => {
    const book = long('A closing line.');
    expect(cl100k.count(book)).toBe(countTokens(book));
    for (const kind of ['acgt', 'base64', 'one-cjk-char', 'cjk-prose', 'one-letter'] as const) {
      for (const chars of [300, 1_500, 4_000]) {
        const text = pathologicalText(kind, chars, chars);
        const exact = countTokens(text);
        const capped = cl100k.count(text);
        expect(Math.abs(capped - exact), `${kind} ${chars}: ${capped} vs ${exact}`).toBeLessThanOrEqual(cuts(text));
        if (cuts(text) === 0) expect(capped, kind).toBe(exact);
      }
    }
  });

  it('decodes what it encodes, surrogate pairs of a long emoji run included', () => {
    for (const text of [
      '🚢'.repeat(3_000),
      `${'ab'.repeat(200)}🚢${'cd'.repeat(300)}`,
      pathologicalText('cjk-prose', 5_000),
    ]) {
      expect(cl100k.decode(cl100k.encode(text))).toBe(text);
    }
  });

  it('reads special tokens in a document as plain text instead of throwing', () => {
    const text = 'A paper about GPT says <|endoftext|> ends a sample, and <|fim_prefix|> starts an infill.';
    expect(cl100k.count(text)).toBe(countTokens(text, { disallowedSpecial: new Set() }));
    expect(cl100k.decode(cl100k.encode(text))).toBe(text);
  });

  it('gives pre-tokens that cover the text in order and whose counts add up to the count', () => {
    for (const text of [
      long('x'),
      pathologicalText('acgt', 3_000),
      pathologicalText('minified-js', 3_000),
      `a  b\n\n${'!'.repeat(700)}\r\n   `,
    ]) {
      let at = 0;
      let sum = 0;
      for (const [s, e, n] of preTokens(text)) {
        expect(s).toBe(at);
        expect(e - s).toBeLessThanOrEqual(PRE_TOKEN_MAX_CHARS);
        at = e;
        sum += n;
      }
      expect(at).toBe(text.length);
      expect(sum).toBe(cl100k.count(text));
    }
  });
});
