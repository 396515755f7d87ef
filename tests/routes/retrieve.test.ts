import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRecord } from '../contract/document-store.contract.js';
import { startServer, waitForJob, type TestServer } from '../helpers/server.js';

// Filler about farming; one paragraph, two thirds in, holds the answer.
const filler = (i: number) =>
  `Season ${i} on the farm began with ploughing the northern field. The workers mended fences, fed the cattle and stacked hay in the barn before the rains. ` +
  `Evenings were spent repairing tools and talking about the price of grain at the market town.`;
const NEEDLE =
  'The lighthouse keeper, Captain Marbles, hid the brass telescope inside the old grain silo behind the chapel.';

describe('POST /v1/retrieve over HTTP (real USE-lite embeddings, default selection)', () => {
  let s: TestServer;
  let text = '';
  beforeAll(async () => {
    s = await startServer({ CHUNK_TOKENS: 120, CHUNK_OVERLAP_TOKENS: 0 });
    const paras = Array.from({ length: 45 }, (_, i) => filler(i));
    paras.splice(30, 0, NEEDLE);
    text = paras.join('\n\n');
    const r = await s.call('POST', '/v1/documents', { id: 'farm', text });
    await waitForJob(s, r.body.jobId);
  });
  afterAll(async () => s?.close());

  it('selects the place that holds the answer, with offsets into the document, the curve and the cut', async () => {
    const r = await s.call('POST', '/v1/retrieve', {
      question: 'Where did Captain Marbles hide the brass telescope?',
      documentIds: ['farm'],
    });
    expect(r.status).toBe(200);
    const at = text.indexOf(NEEDLE);
    expect(r.body.selected.some((c: any) => c.start <= at && c.end >= at + NEEDLE.length)).toBe(true);
    expect(r.body.passages.some((p: any) => p.text.includes(NEEDLE) && text.slice(p.start, p.end) === p.text)).toBe(
      true,
    );
    // The best-scored chunk is the one with the answer.
    const top = r.body.curve[0];
    const topChunk = r.body.selected.find((c: any) => c.id === top.id);
    expect(topChunk.start).toBeLessThanOrEqual(at);
    expect(topChunk.end).toBeGreaterThanOrEqual(at + NEEDLE.length);
    // Whole sorted curve: every chunk once, descending.
    const doc = (await s.call('GET', '/v1/documents/farm')).body;
    expect(r.body.curve).toHaveLength(doc.chunkCount);
    for (let i = 1; i < r.body.curve.length; i++)
      expect(r.body.curve[i - 1].score).toBeGreaterThanOrEqual(r.body.curve[i].score);
    expect(r.body.k).toBe(r.body.selected.length);
    expect(r.body.adaptiveK.cutIndex).toBe(0);
    expect(r.body.signals.relativeGap).toBeGreaterThan(0.3);
    expect(r.body.tokens.documents).toBe(doc.tokens);
    // A small document (~2.4k tokens) is still read selectively: the token buffer is capped at a share of it.
    expect(r.body.k).toBeLessThan(r.body.curve.length);
    expect(r.body.tokens.selected).toBeLessThan(doc.tokens / 2);
    const narrow = await s.call('POST', '/v1/retrieve', {
      question: 'Where did Captain Marbles hide the brass telescope?',
      documentIds: ['farm'],
      buffer: 1,
    });
    expect(narrow.body.k).toBe(2);
    expect(narrow.body.tokens.selected).toBeLessThan(doc.tokens / 4);
    expect(narrow.body.passages.some((p: any) => p.text.includes(NEEDLE))).toBe(true);
    // Passages come back in document order.
    const starts = r.body.passages.map((p: any) => p.start);
    expect([...starts].sort((a, b) => a - b)).toEqual(starts);
  });

  it('does not embed the question for a BM25 selection unless dense scores are asked for (a question never waits for the embedder it does not use)', async () => {
    const q = { question: 'Where did Captain Marbles hide the brass telescope?', documentIds: ['farm'] };
    const bm25 = await s.call('POST', '/v1/retrieve', { ...q, score: 'bm25' });
    expect(bm25.status).toBe(200);
    expect(bm25.body.selected.length).toBeGreaterThan(0);
    expect(bm25.body.selected.every((c: any) => c.dense === null)).toBe(true);
    const reported = await s.call('POST', '/v1/retrieve', { ...q, score: 'bm25', denseScores: true });
    expect(reported.body.selected.every((c: any) => typeof c.dense === 'number' && c.dense >= -1 && c.dense <= 1)).toBe(
      true,
    );
    // The same selection either way: dense scores are only reported.
    expect(reported.body.selected.map((c: any) => c.id)).toEqual(bm25.body.selected.map((c: any) => c.id));
    const hybrid = await s.call('POST', '/v1/retrieve', { ...q, score: 'hybrid' });
    expect(hybrid.body.selected.every((c: any) => typeof c.dense === 'number')).toBe(true);
  });

  it('caps the default 4000-token buffer at a fifth of a small document instead of reading it whole, and says so', async () => {
    const q = { question: 'Where did Captain Marbles hide the brass telescope?', documentIds: ['farm'] };
    const doc = (await s.call('GET', '/v1/documents/farm')).body;
    expect(doc.tokens).toBeLessThan(4000);
    const r = await s.call('POST', '/v1/retrieve', q);
    expect(r.status).toBe(200);
    expect(r.body.method).toMatchObject({ kind: 'adaptive-k', bufferTokens: 4000, bufferMaxShare: 0.2 });
    // Chunks without overlap: the candidates' tokens are the document's.
    expect(r.body.adaptiveK.effectiveBufferTokens).toBe(Math.floor(0.2 * doc.tokens));
    expect(r.body.adaptiveK.bufferCapped).toBe(true);
    const bufferRead = r.body.selected.slice(r.body.adaptiveK.aboveCut).reduce((a: number, c: any) => a + c.tokens, 0);
    const lastTokens = r.body.selected.at(-1).tokens;
    // The buffer stops at the first chunk that reaches the capped size.
    expect(bufferRead).toBeGreaterThanOrEqual(r.body.adaptiveK.effectiveBufferTokens);
    expect(bufferRead - lastTokens).toBeLessThan(r.body.adaptiveK.effectiveBufferTokens);
    expect(r.body.signals.selectedShare).toBeLessThan(0.5);
    expect(r.body.passages.some((p: any) => p.text.includes(NEEDLE))).toBe(true);

    // Without the cap (share 1), the same buffer reads every chunk: what the service did before.
    const whole = await s.call('POST', '/v1/retrieve', { ...q, bufferMaxShare: 1 });
    expect(whole.body.adaptiveK.bufferCapped).toBe(true);
    expect(whole.body.adaptiveK.effectiveBufferTokens).toBe(doc.tokens);
    expect(whole.body.k).toBe(whole.body.curve.length);
    expect(whole.body.tokens.selected).toBe(doc.tokens);
    expect(whole.body.signals.selectedShare).toBe(1);

    // A chunk buffer is the published setting: no token buffer, nothing to cap.
    const chunks = await s.call('POST', '/v1/retrieve', { ...q, buffer: 2 });
    expect(chunks.body.adaptiveK).toMatchObject({ effectiveBufferTokens: 0, bufferCapped: false });
    expect(chunks.body.k).toBe(chunks.body.adaptiveK.aboveCut + 2);
  });

  it('runs the published setting (a chunk buffer) and the baselines through the same path', async () => {
    const q = { question: 'Where did Captain Marbles hide the brass telescope?', documentIds: ['farm'] };
    const paper = await s.call('POST', '/v1/retrieve', { ...q, buffer: 5, score: 'dense' });
    expect(paper.body.k).toBe(Math.min(paper.body.adaptiveK.cutIndex + 1 + 5, paper.body.curve.length));
    const top3 = await s.call('POST', '/v1/retrieve', { ...q, method: 'top-k', k: 3 });
    expect(top3.body.k).toBe(3);
    expect(top3.body.adaptiveK).toBeNull();
    const budget = await s.call('POST', '/v1/retrieve', { ...q, method: 'token-budget', tokens: 300 });
    expect(budget.body.selected.reduce((a: number, c: any) => a + c.tokens, 0)).toBeLessThanOrEqual(300);
  });

  it('rejects bad parameters and unknown or unready documents with stable codes', async () => {
    const q = 'Where is the telescope?';
    const cases: Array<[unknown, number, string]> = [
      [{ question: '  ', documentIds: ['farm'] }, 400, 'EMPTY_QUESTION'],
      [{ question: q, documentIds: ['farm'], a: 1.2 }, 400, 'INVALID_PARAMETER'],
      [{ question: q, documentIds: ['farm'], b: -0.1 }, 400, 'INVALID_PARAMETER'],
      [{ question: q, documentIds: ['farm'], a: 0.6, b: 0.5 }, 400, 'INVALID_PARAMETER'],
      [{ question: q, documentIds: ['farm'], buffer: -1 }, 400, 'INVALID_PARAMETER'],
      [{ question: q, documentIds: ['farm'], bufferMaxShare: 1.5 }, 400, 'INVALID_PARAMETER'],
      [{ question: q, documentIds: ['farm'], method: 'top-k' }, 400, 'INVALID_PARAMETER'],
      [{ question: q, documentIds: ['farm', 'nope', 'ghost'] }, 404, 'DOCUMENTS_NOT_FOUND'],
      [{ question: q, documentIds: [] }, 400, 'VALIDATION'],
    ];
    for (const [body, status, code] of cases) {
      const r = await s.call('POST', '/v1/retrieve', body);
      expect([r.status, r.body.error.code]).toEqual([status, code]);
    }
    const missing = await s.call('POST', '/v1/retrieve', { question: q, documentIds: ['farm', 'nope', 'ghost'] });
    expect(missing.body.error.message).toContain('nope, ghost');
  });

  it('reports a document still ingesting as not ready, naming it', async () => {
    // The record as a submit leaves it until its job makes the version live: written directly, since the in-process
    // queue may index a small text before a request sent right after the upload arrives.
    await s.container.documents.put(
      makeRecord('default', 'fresh', {
        status: 'pending',
        version: null,
        pending: { version: 'v-fresh', jobId: 'ingest_fresh' },
        chunkCount: 0,
      }),
    );
    const q = await s.call('POST', '/v1/retrieve', { question: 'ploughing', documentIds: ['farm', 'fresh'] });
    expect(q.status).toBe(409);
    expect(q.body.error.code).toBe('DOCUMENT_NOT_READY');
    expect(q.body.error.message).toContain('fresh');
    await s.container.documents.delete('default', 'fresh');
  });
});
