import { describe, expect, it } from 'vitest';
import { chunkText } from '../../src/core/ingest/chunker.js';
import { assembleContext, type AssemblyChunk } from '../../src/core/retrieval/assemble.js';
import { cl100k } from '../../src/core/tokenizer.js';
import type { TextChunk } from '../../src/ports/token-work.js';

const doc = 'Alpha one. Beta two. Gamma three. Delta four. Epsilon five. Zeta six.';
//           0         10        20        30        40        50        60
const chunk = (documentId: string, order: number, start: number, end: number, text = doc): AssemblyChunk => ({
  documentId,
  chunkId: `${documentId}#${order}`,
  start,
  end,
  text: text.slice(start, end),
  order,
});

/** A chunk of the chunker as assembly takes it, with the chunker's count. */
const fromChunker = (c: TextChunk): AssemblyChunk => ({
  documentId: 'd',
  chunkId: String(c.order),
  start: c.start,
  end: c.end,
  text: c.text,
  order: c.order,
  tokens: c.tokens,
});

describe('assembleContext', () => {
  it('restores document order whatever the order of selection', () => {
    const r = assembleContext([chunk('d', 2, 34, 45), chunk('d', 0, 0, 10)], { getText: () => doc });
    expect(r.passages.map((p) => p.text)).toEqual(['Alpha one.', 'Delta four.']);
    expect(r.passages.map((p) => p.chunkIds)).toEqual([['d#0'], ['d#2']]);
  });

  it('merges overlapping chunks without duplicating text, with or without the original', () => {
    const chunks = [chunk('d', 1, 11, 33), chunk('d', 0, 0, 20)];
    for (const opts of [{ getText: () => doc }, {}]) {
      const r = assembleContext(chunks, opts);
      expect(r.passages).toHaveLength(1);
      expect(r.passages[0]).toEqual({
        documentId: 'd',
        start: 0,
        end: 33,
        text: doc.slice(0, 33),
        chunkIds: ['d#0', 'd#1'],
      });
    }
  });

  it('merges a chunk contained in another and drops repeated chunks', () => {
    const r = assembleContext([chunk('d', 0, 0, 33), chunk('d', 1, 11, 20), chunk('d', 0, 0, 33)]);
    expect(r.passages).toHaveLength(1);
    expect(r.passages[0]!.text).toBe(doc.slice(0, 33));
    expect(r.passages[0]!.chunkIds).toEqual(['d#0', 'd#1']);
  });

  it('joins chunks separated only by whitespace when the original text is known', () => {
    const chunks = [chunk('d', 0, 0, 10), chunk('d', 1, 11, 20)];
    expect(assembleContext(chunks, { getText: () => doc }).passages.map((p) => p.text)).toEqual([
      'Alpha one. Beta two.',
    ]);
    // Without the original the gap's content is unknown, so the passages stay apart.
    expect(assembleContext(chunks).passages.map((p) => p.text)).toEqual(['Alpha one.', 'Beta two.']);
  });

  it('keeps documents apart, in the order their first chunk was given', () => {
    const other = 'Other text here.';
    const r = assembleContext([chunk('b', 0, 0, 5, other), chunk('a', 0, 0, 10), chunk('b', 1, 6, 10, other)], {
      getText: (id) => (id === 'a' ? doc : other),
    });
    expect(r.passages.map((p) => [p.documentId, p.text])).toEqual([
      ['b', 'Other text'],
      ['a', 'Alpha one.'],
    ]);
  });

  it('counts cl100k tokens of the assembled passages', () => {
    const r = assembleContext([chunk('d', 0, 0, 20), chunk('d', 3, 47, 60)], { getText: () => doc });
    expect(r.totalTokens).toBe(cl100k.count(doc.slice(0, 20)) + cl100k.count(doc.slice(47, 60)));
    expect(assembleContext([]).totalTokens).toBe(0);
  });

  it("takes a one-chunk passage's count from the chunk, and counts merged passages and other tokenizers' again", () => {
    // A count no BPE would give, so the test tells which one was used.
    const known = (c: AssemblyChunk): AssemblyChunk => ({ ...c, tokens: 1000 + c.order });
    const apart = assembleContext([known(chunk('d', 0, 0, 10)), known(chunk('d', 3, 47, 60))], { getText: () => doc });
    expect(apart.totalTokens).toBe(1000 + 1003);
    const merged = assembleContext([known(chunk('d', 0, 0, 20)), known(chunk('d', 1, 11, 33))], { getText: () => doc });
    expect(merged.totalTokens).toBe(cl100k.count(doc.slice(0, 33)));
    const counting = { ...cl100k, name: 'other', count: (t: string) => t.length };
    const other = assembleContext([known(chunk('d', 0, 0, 10))], { getText: () => doc, tokenizer: counting });
    expect(other.totalTokens).toBe(10);
  });

  it("agrees with counting when the chunks' counts are the chunker's", () => {
    const text = Array.from({ length: 80 }, (_, i) => `Line ${i} mentions the ledger of year ${1900 + i}.`).join(' ');
    const chunks = chunkText(text, { chunkTokens: 40, overlapTokens: 0 }).map(fromChunker);
    // Every third chunk: passages of one chunk each, separated by text that is not selected.
    const picked = chunks.filter((c) => c.order % 3 === 0);
    const withCounts = assembleContext(picked, { getText: () => text });
    const counted = assembleContext(
      picked.map(({ tokens: _t, ...c }) => c),
      { getText: () => text },
    );
    expect(withCounts.passages).toHaveLength(picked.length);
    expect(withCounts.totalTokens).toBe(counted.totalTokens);
  });

  it('rebuilds the exact original text from all overlapping chunks of the chunker', () => {
    const text = Array.from({ length: 60 }, (_, i) => `Sentence number ${i} says something about topic ${i % 7}.`).join(
      ' ',
    );
    const chunks = chunkText(text, { chunkTokens: 40, overlapTokens: 12 });
    expect(chunks.length).toBeGreaterThan(3);
    const shuffled = chunks.map(fromChunker).reverse();
    const r = assembleContext(shuffled);
    expect(r.passages).toHaveLength(1);
    expect(r.passages[0]!.text).toBe(text.slice(chunks[0]!.start, chunks.at(-1)!.end));
    expect(r.totalTokens).toBeLessThan(chunks.reduce((s, c) => s + c.tokens, 0));
  });
});
