import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { chunkText } from '../../src/core/ingest/chunker.js';
import { cl100k } from '../../src/core/tokenizer.js';
import { PATHOLOGICAL_KINDS, pathologicalText } from '../helpers/pathological.js';

const novel = readFileSync(
  new URL('../../../shared/datasets/lara/documents/32k/book/The Time Machine.txt', import.meta.url),
  'utf8',
);

describe('chunkText', () => {
  it('keeps every chunk within the token budget, counted with the real cl100k tokenizer', () => {
    const chunks = chunkText(novel, { chunkTokens: 300, overlapTokens: 30 });
    expect(chunks.length).toBeGreaterThan(20);
    for (const c of chunks) {
      expect(c.tokens).toBe(cl100k.count(c.text));
      expect(c.tokens).toBeLessThanOrEqual(300);
    }
  });

  it('records offsets such that each chunk is exactly the original text between them, in order', () => {
    const chunks = chunkText(novel, { chunkTokens: 256, overlapTokens: 32 });
    chunks.forEach((c, i) => {
      expect(c.order).toBe(i);
      expect(novel.slice(c.start, c.end)).toBe(c.text);
      if (i > 0) expect(c.start).toBeGreaterThan(chunks[i - 1]!.start);
    });
  });

  it('covers the whole text: no character outside a chunk except whitespace', () => {
    const chunks = chunkText(novel, { chunkTokens: 200, overlapTokens: 0 });
    let covered = 0;
    for (const c of chunks) {
      expect(novel.slice(covered, c.start).trim()).toBe('');
      covered = Math.max(covered, c.end);
    }
    expect(novel.slice(covered).trim()).toBe('');
  });

  it('ends chunks on sentence boundaries', () => {
    const text = Array.from({ length: 60 }, (_, i) => `Sentence number ${i} talks about topic ${i % 7}.`).join(' ');
    const chunks = chunkText(text, { chunkTokens: 50, overlapTokens: 0 });
    for (const c of chunks) expect(c.text.trimEnd()).toMatch(/\.$/);
  });

  it('prefers to end a chunk where a paragraph ends', () => {
    const para = (n: number) => Array.from({ length: 6 }, (_, i) => `Paragraph ${n} sentence ${i} is here.`).join(' ');
    const text = [para(1), para(2), para(3), para(4)].join('\n\n');
    const chunks = chunkText(text, { chunkTokens: 90, overlapTokens: 0 });
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks.slice(0, -1)) expect(text.slice(c.end, c.end + 2)).toBe('\n\n');
  });

  it('repeats whole trailing sentences as overlap, within the overlap budget', () => {
    const text = Array.from({ length: 80 }, (_, i) => `Fact ${i} is stated here.`).join(' ');
    const chunks = chunkText(text, { chunkTokens: 60, overlapTokens: 15 });
    for (let i = 1; i < chunks.length; i++) {
      const overlap = chunks[i - 1]!.end - chunks[i]!.start;
      expect(overlap).toBeGreaterThan(0);
      expect(cl100k.count(text.slice(chunks[i]!.start, chunks[i - 1]!.end))).toBeLessThanOrEqual(15);
    }
  });

  it('splits a single sentence longer than the budget at spaces', () => {
    const text = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
    const chunks = chunkText(text, { chunkTokens: 64, overlapTokens: 0 });
    expect(chunks.length).toBeGreaterThan(5);
    for (const c of chunks) expect(c.tokens).toBeLessThanOrEqual(64);
  });

  it('returns no chunks for whitespace and rejects an overlap as large as the chunk', () => {
    expect(chunkText('  \n\n \t ', { chunkTokens: 50, overlapTokens: 5 })).toEqual([]);
    expect(() => chunkText('a', { chunkTokens: 50, overlapTokens: 50 })).toThrow(RangeError);
  });

  it('holds its invariants on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 3000 }), fc.integer({ min: 16, max: 200 }), (text, size) => {
        const chunks = chunkText(text, { chunkTokens: size, overlapTokens: Math.floor(size / 4) });
        for (const c of chunks) {
          expect(text.slice(c.start, c.end)).toBe(c.text);
          expect(c.text.trim().length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('chunkText on text without spaces (issue 14: a 60k-character CJK run froze the API for 80 s)', () => {
  it('cuts one letter, one CJK character, ACGT, base64, minified JavaScript and CJK prose into chunks within budget, exactly counted, covering the text', () => {
    for (const kind of PATHOLOGICAL_KINDS) {
      for (const [chars, size] of [
        [60_000, 400],
        [8_000, 16],
        [8_000, 100],
      ] as const) {
        const text = pathologicalText(kind, chars, size);
        const chunks = chunkText(text, { chunkTokens: size, overlapTokens: Math.floor(size / 10) });
        let covered = 0;
        for (const c of chunks) {
          expect(text.slice(c.start, c.end), kind).toBe(c.text);
          expect(c.tokens, `${kind} ${size}`).toBeLessThanOrEqual(size);
          expect(c.tokens, kind).toBe(cl100k.count(c.text));
          expect(text.slice(covered, c.start).trim(), kind).toBe('');
          expect(c.text.trim().length, kind).toBeGreaterThan(0);
          covered = Math.max(covered, c.end);
        }
        expect(text.slice(covered).trim(), kind).toBe('');
      }
    }
  });

  it('ends sentences of CJK prose only where the text has end marks followed by space, and finds no sentence end inside a long run of end marks', () => {
    const text = `${'!'.repeat(50_000)}x ${'.'.repeat(30_000)}`;
    const chunks = chunkText(text, { chunkTokens: 100, overlapTokens: 0 });
    expect(
      chunks
        .map((c) => c.text)
        .join('')
        .replace(/\s/g, ''),
    ).toBe(text.replace(/\s/g, ''));
  });
});
