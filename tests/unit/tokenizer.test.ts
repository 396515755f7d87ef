import { countTokens } from 'gpt-tokenizer/encoding/cl100k_base';
import { describe, expect, it } from 'vitest';
import { cl100k, CountMemo } from '../../src/core/tokenizer.js';

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
