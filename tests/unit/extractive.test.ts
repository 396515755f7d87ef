import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EXTRACTIVE_PREFIX, ExtractiveReader } from '../../src/adapters/llm/extractive.js';
import { analyze } from '../../src/core/text/analyse.js';
import { cl100k } from '../../src/core/tokenizer.js';
import type { Embedder } from '../../src/ports/embedder.js';
import type { CompletionRequest, ReadingTask, SourceSpan } from '../../src/ports/llm.js';
import { HashingEmbedder } from '../contract/llm-test-embedder.js';
import { appErrorOf } from '../helpers/errors.js';

const DOC = [
  'The village of Marrow lies in a valley.',
  'Its baker, Ilse Brandt, opened her shop in 1921.',
  'Every morning she baked rye bread for the miners.',
  'The mine closed after the flood of 1957.',
  'Ilse Brandt moved to the coast two years later.',
  'Nobody in Marrow remembers the name of the last miner.',
].join(' ');

/** Cuts DOC into passages at sentence-aligned character offsets, like stored chunks. */
function passage(documentId: string, text: string, from: string, to?: string): SourceSpan {
  const start = text.indexOf(from);
  const end = to === undefined ? text.length : text.indexOf(to) + to.length;
  return { documentId, chunkId: `${documentId}:${start}`, start, end, text: text.slice(start, end) };
}

function request(task: ReadingTask, extra: Partial<CompletionRequest> = {}): CompletionRequest {
  return { messages: [{ role: 'user', content: 'ignored by the extractive reader' }], task, maxTokens: 200, ...extra };
}

describe('ExtractiveReader', () => {
  it('reads a long text in slices that let other work run in between, and quotes what reading it whole quotes', async () => {
    // ~4000 sentences in paragraphs: more than one slice of splitting and of term analysis.
    const paragraphs = Array.from({ length: 800 }, (_, p) =>
      Array.from(
        { length: 5 },
        (_, i) => `Ledger ${p}.${i} records that ${i % 2 ? 'the miller' : 'the baker'} sold ${p * 5 + i} loaves.`,
      ).join(' '),
    );
    const text = paragraphs.join('\n\n');
    const span: SourceSpan = { documentId: 'ledger', chunkId: null, start: 0, end: text.length, text };
    const task: ReadingTask = {
      kind: 'answer',
      question: 'How many loaves did the miller sell in ledger 412.3?',
      passages: [span],
    };
    const reader = new ExtractiveReader({ embedder: new HashingEmbedder() });
    let ranMeanwhile = false;
    const answering = reader.complete(request(task));
    setImmediate(() => (ranMeanwhile = true));
    const first = await answering;
    expect(ranMeanwhile).toBe(true);
    expect(first.text).toContain('Ledger 412.3 records that the miller sold 2063 loaves.');
    // The second read uses the cached analysis and gives the same answer as a fresh reader.
    const again = await reader.complete(request(task));
    const fresh = await new ExtractiveReader({ embedder: new HashingEmbedder() }).complete(request(task));
    expect(again.text).toBe(first.text);
    expect(fresh.citations).toEqual(first.citations);
  });

  it('refuses a request without a structured task', async () => {
    const reader = new ExtractiveReader({ embedder: new HashingEmbedder() });
    const err = await appErrorOf(
      reader.complete({ messages: [{ role: 'user', content: 'Who baked?' }], maxTokens: 50 }),
    );
    expect(err.code).toBe('INTERNAL');
    expect(String((err.cause as Error).message)).toMatch(/structured task/);
  });

  it('answers with the best sentences, prefixed, in document order, citing exact spans of the document', async () => {
    const reader = new ExtractiveReader({ embedder: new HashingEmbedder(), maxSentences: 2, minRelativeScore: 0 });
    const passages = [passage('d1', DOC, 'The mine closed'), passage('d1', DOC, 'The village', 'for the miners.')];
    const res = await reader.complete(
      request({ kind: 'answer', question: 'When did Ilse Brandt open her shop?', passages }),
    );
    expect(res.text.startsWith(EXTRACTIVE_PREFIX)).toBe(true);
    expect(res.text).toContain('Its baker, Ilse Brandt, opened her shop in 1921.');
    expect(res.citations).toHaveLength(2);
    for (const c of res.citations!) {
      expect(DOC.slice(c.start, c.end)).toBe(c.text);
      expect(c.documentId).toBe('d1');
    }
    const starts = res.citations!.map((c) => c.start);
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
    expect(res.finishReason).toBe('stop');
  });

  it('reports the tokens it read and wrote, counted exactly with cl100k', async () => {
    const reader = new ExtractiveReader({ embedder: new HashingEmbedder() });
    const passages = [passage('d1', DOC, 'The village')];
    const question = 'Who moved to the coast?';
    const res = await reader.complete(request({ kind: 'answer', question, passages }));
    expect(res.usage).toEqual({
      promptTokens: cl100k.count(DOC) + cl100k.count(question),
      completionTokens: cl100k.count(res.text),
      estimated: false,
    });
    expect(res.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('quotes a sentence repeated by overlapping passages only once', async () => {
    const reader = new ExtractiveReader({ embedder: new HashingEmbedder(), maxSentences: 3 });
    const passages = [
      passage('d1', DOC, 'The village', 'in 1921.'),
      passage('d1', DOC, 'Its baker', 'for the miners.'),
    ];
    const res = await reader.complete(request({ kind: 'answer', question: 'Which baker opened a shop?', passages }));
    const keys = res.citations!.map((c) => `${c.start}-${c.end}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(res.text.split('Its baker').length - 1).toBe(1);
  });

  it('orders sentences of several documents by the order the documents were given', async () => {
    const other = 'Rye bread needs a sour starter. Ilse Brandt kept hers for decades.';
    const reader = new ExtractiveReader({ embedder: new HashingEmbedder(), maxSentences: 4 });
    const passages = [passage('d2', other, 'Rye'), passage('d1', DOC, 'The village')];
    const res = await reader.complete(
      request({ kind: 'answer', question: 'What did Ilse Brandt bake, rye bread?', passages }),
    );
    const docs = res.citations!.map((c) => c.documentId);
    expect(docs).toContain('d1');
    expect(docs).toContain('d2');
    expect(docs).toEqual([...docs].sort((a, b) => Number(a === 'd1') - Number(b === 'd1')));
  });

  it('is deterministic', async () => {
    const task: ReadingTask = {
      kind: 'answer',
      question: 'What happened to the mine?',
      passages: [passage('d1', DOC, 'The village')],
    };
    const a = await new ExtractiveReader({ embedder: new HashingEmbedder() }).complete(request(task));
    const b = await new ExtractiveReader({ embedder: new HashingEmbedder() }).complete(request(task));
    expect(b.text).toBe(a.text);
    expect(b.citations).toEqual(a.citations);
  });

  it('keeps the answer within maxTokens, cutting the best sentence when nothing whole fits', async () => {
    const reader = new ExtractiveReader({ embedder: new HashingEmbedder() });
    const passages = [passage('d1', DOC, 'The village')];
    const fits = await reader.complete(
      request({ kind: 'answer', question: 'Who was the baker of Marrow?', passages }, { maxTokens: 20 }),
    );
    expect(fits.usage.completionTokens).toBeLessThanOrEqual(20);
    const cut = await reader.complete(
      request({ kind: 'answer', question: 'Who was the baker of Marrow?', passages }, { maxTokens: 6 }),
    );
    expect(cut.usage.completionTokens).toBeLessThanOrEqual(6);
    expect(cut.finishReason).toBe('length');
    expect(cut.text.startsWith(EXTRACTIVE_PREFIX)).toBe(true);
  });

  it('embeds at most maxEmbeddedSentences, pre-filtering a huge context by term overlap', async () => {
    const filler = Array.from(
      { length: 600 },
      (_, i) => `Filler sentence number ${i} talks about weather and roads.`,
    ).join(' ');
    const text = `${filler} The treasure was buried under the old oak tree. ${filler}`;
    const embedder = new HashingEmbedder();
    const reader = new ExtractiveReader({ embedder, maxEmbeddedSentences: 40 });
    const res = await reader.complete(
      request({
        kind: 'answer',
        question: 'Where was the treasure buried?',
        passages: [passage('big', text, 'Filler')],
      }),
    );
    expect(embedder.embedded).toBeLessThanOrEqual(40);
    expect(res.text).toContain('The treasure was buried under the old oak tree.');
  });

  it('carries evidence forward through a chain of worker notes to the manager, with citations', async () => {
    const reader = new ExtractiveReader({ embedder: new HashingEmbedder(), maxSentences: 2, noteSentences: 3 });
    const book = [
      'Chapter one tells of the harbour. The captain hid the map inside a hollow violin. Gulls circled the masts.',
      'Chapter two is about the storm. Waves broke over the pier. The crew slept in the tavern.',
      'Chapter three follows the journey. They sailed north for weeks. Ice covered the rigging.',
    ].join(' ');
    const question = 'Where did the captain hide the map?';
    const segments = ['Chapter one', 'Chapter two', 'Chapter three'].map((from, i, all) => {
      const start = book.indexOf(from);
      const end = i + 1 < all.length ? book.indexOf(all[i + 1]!) - 1 : book.length;
      return { documentId: 'book', chunkId: null, start, end, text: book.slice(start, end) };
    });
    let note = '';
    let lastCitations: SourceSpan[] = [];
    for (const [index, segment] of segments.entries()) {
      const res = await reader.complete(
        request({ kind: 'coa-worker', question, segment, previousNote: note, index, total: segments.length }),
      );
      expect(res.text.startsWith(EXTRACTIVE_PREFIX)).toBe(false);
      expect(cl100k.count(res.text)).toBeLessThanOrEqual(200);
      expect(res.citations!.length).toBeLessThanOrEqual(3);
      note = res.text;
      lastCitations = res.citations!;
    }
    expect(note).toContain('The captain hid the map inside a hollow violin.');
    const final = await reader.complete(request({ kind: 'coa-manager', question, note, noteSources: lastCitations }));
    expect(final.text.startsWith(EXTRACTIVE_PREFIX)).toBe(true);
    expect(final.text).toContain('hollow violin');
    const cite = final.citations!.find((c) => c.text.includes('hollow violin'))!;
    expect(book.slice(cite.start, cite.end)).toBe('The captain hid the map inside a hollow violin.');
  });

  it('lets a manager cite a note it did not write by finding its sentences in the sources', async () => {
    const reader = new ExtractiveReader({ embedder: new HashingEmbedder(), maxSentences: 1 });
    const src = passage('d1', DOC, 'The village');
    const note = 'The mine closed after the flood of 1957.\n\nEvery morning she baked rye bread for the miners.';
    const res = await reader.complete(
      request({ kind: 'coa-manager', question: 'When did the mine close?', note, noteSources: [src] }),
    );
    expect(res.text).toBe(`${EXTRACTIVE_PREFIX}The mine closed after the flood of 1957.`);
    expect(res.citations).toEqual([
      {
        documentId: 'd1',
        chunkId: src.chunkId,
        start: DOC.indexOf('The mine'),
        end: DOC.indexOf('The mine') + 40,
        text: 'The mine closed after the flood of 1957.',
      },
    ]);
  });

  it('leaves out sentences scoring under half the best one', async () => {
    const reader = new ExtractiveReader({ embedder: new HashingEmbedder(), maxSentences: 3 });
    const res = await reader.complete(
      request({
        kind: 'answer',
        question: 'When did the mine close after the flood?',
        passages: [passage('d1', DOC, 'The village')],
      }),
    );
    expect(res.text).toBe(`${EXTRACTIVE_PREFIX}The mine closed after the flood of 1957.`);
    const padded = await new ExtractiveReader({
      embedder: new HashingEmbedder(),
      maxSentences: 3,
      minRelativeScore: 0,
    }).complete(
      request({
        kind: 'answer',
        question: 'When did the mine close after the flood?',
        passages: [passage('d1', DOC, 'The village')],
      }),
    );
    expect(padded.citations).toHaveLength(3);
  });

  it('streams its answer in pieces that concatenate to the text', async () => {
    const reader = new ExtractiveReader({ embedder: new HashingEmbedder(), minRelativeScore: 0 });
    const pieces: string[] = [];
    const res = await reader.complete(
      request(
        { kind: 'answer', question: 'Who baked bread?', passages: [passage('d1', DOC, 'The village')] },
        { onToken: (t) => pieces.push(t) },
      ),
    );
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.join('')).toBe(res.text);
  });

  it('rejects with CANCELLED when aborted', async () => {
    const reader = new ExtractiveReader({ embedder: new HashingEmbedder() });
    const ac = new AbortController();
    ac.abort();
    const err = await appErrorOf(
      reader.complete(
        request(
          { kind: 'answer', question: 'Who?', passages: [passage('d1', DOC, 'The village')] },
          { signal: ac.signal },
        ),
      ),
    );
    expect(err.code).toBe('CANCELLED');
  });

  it('stems content words and drops stopwords', () => {
    expect(analyze('The lamps were lighted by the keepers')).toEqual(['lamp', 'light', 'keeper']);
  });

  const useLitePath = fileURLToPath(new URL('../../src/adapters/embedder/use-lite.ts', import.meta.url));
  it.skipIf(!existsSync(useLitePath))(
    'finds the answer sentence with the real Universal Sentence Encoder lite',
    async () => {
      const mod = (await import(useLitePath)) as { UseLiteEmbedder: new () => Embedder };
      const embedder = new mod.UseLiteEmbedder();
      try {
        const reader = new ExtractiveReader({ embedder, maxSentences: 1 });
        const res = await reader.complete(
          request({
            kind: 'answer',
            question: 'In which year did the baker start her business?',
            passages: [passage('d1', DOC, 'The village')],
          }),
        );
        expect(res.text).toBe(`${EXTRACTIVE_PREFIX}Its baker, Ilse Brandt, opened her shop in 1921.`);
      } finally {
        await embedder.close();
      }
    },
  );
});
