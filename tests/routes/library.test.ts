import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, waitForJob, type TestServer } from '../helpers/server.js';
import { freshSchema, type TestSchema } from '../helpers/postgres.js';

// Twelve documents on different trades; only one of them says where the brass key is.
const TRADES = [
  ['orchard', 'apples', 'pruning', 'cider'],
  ['observatory', 'telescope', 'nebula', 'eclipse'],
  ['railway', 'locomotive', 'timetable', 'gauge'],
  ['bakery', 'sourdough', 'oven', 'croissant'],
  ['glacier', 'moraine', 'crevasse', 'meltwater'],
  ['choir', 'soprano', 'hymn', 'organ'],
  ['vineyard', 'grapes', 'barrel', 'cellar'],
  ['beekeeping', 'hive', 'honeycomb', 'swarm'],
  ['pottery', 'kiln', 'glaze', 'porcelain'],
  ['clockmaker', 'pendulum', 'mainspring', 'escapement'],
  ['shipwright', 'keel', 'caulking', 'rigging'],
  ['herbalist', 'chamomile', 'tincture', 'poultice'],
] as const;
const NEEDLE =
  'The ferryman Oswin hid the brass key of the lock-keeper inside the hollow lantern post on the eastern quay.';
const HOLDER = 7;

function trade(i: number): string {
  const [a, b, c, d] = TRADES[i]!;
  const out: string[] = [];
  for (let p = 0; p < 8; p++) {
    const s: string[] = [];
    for (let j = 0; j < 6; j++) {
      s.push(
        [
          `In week ${p * 6 + j + 1} the ${a} was busy with ${b} and ${c}.`,
          `Old hands said ${d} mattered more than ${c}, and nobody argued.`,
          `Visitors asked about the ${b}, and were shown how the ${c} is handled with brass tools.`,
          `Letters about ${d} came from three towns, each praising the ${a}.`,
        ][(p + j) % 4]!,
      );
    }
    out.push(s.join(' '));
  }
  if (i === HOLDER) out.splice(5, 0, NEEDLE);
  return out.join('\n\n');
}

const QUESTION = 'Where did Oswin hide the brass key?';

/** Ingests the twelve trades as doc-0 … doc-11 and waits until every job has completed. */
async function loadTrades(s: TestServer): Promise<void> {
  const jobs: string[] = [];
  for (let i = 0; i < TRADES.length; i++) {
    const r = await s.call('POST', '/v1/documents', { id: `doc-${i}`, title: `The ${TRADES[i]![0]}`, text: trade(i) });
    expect(r.status).toBe(202);
    jobs.push(r.body.jobId);
  }
  for (const j of jobs) expect((await waitForJob(s, j)).state).toBe('completed');
}

// The default store and PostgreSQL: their lexical search (searchText) gives the candidates.
describe.each([
  { store: 'the embedded store (SQLite FTS5)', postgres: false },
  { store: 'PostgreSQL', postgres: true },
])('questions over a whole namespace (no documentIds) on $store, over HTTP', ({ postgres }) => {
  let s: TestServer;
  let schema: TestSchema | undefined;
  const holder = `doc-${HOLDER}`;
  beforeAll(async () => {
    schema = postgres ? await freshSchema() : undefined;
    s = await startServer({
      CHUNK_TOKENS: 120,
      CHUNK_OVERLAP_TOKENS: 0,
      ...(schema ? { DATABASE_URL: schema.url, VECTOR_STORE: 'postgres', AUTH: 'off' } : {}),
    });
    await loadTrades(s);
  }, 240_000);
  afterAll(async () => {
    await s?.close();
    await schema?.drop();
  });

  it('retrieval picks the one document that holds the answer, says why, and selects chunks only within it', async () => {
    const r = await s.call('POST', '/v1/retrieve', { question: QUESTION });
    expect(r.status).toBe(200);
    const lib = r.body.library;
    expect(lib.namespaceDocuments).toBe(TRADES.length);
    expect(lib.picked.map((d: any) => d.id)).toEqual([holder]);
    expect(lib.curve[0].documentId).toBe(holder);
    expect(lib.aboveCut).toBe(1);
    expect(lib.reasons.join(' ')).toMatch(/one document stands out/);
    // Both stores search text (SQLite FTS5, PostgreSQL tsvectors): no dense candidates, no fallback (tests/unit/retrieval-service.test.ts has the fallback).
    expect(typeof s.container.vectors.searchText).toBe('function');
    expect(lib.candidates).toMatchObject({ source: 'store', dense: 0 });
    expect(lib.candidates.lexical).toBeGreaterThan(1);
    expect(lib.fallback).toBeNull();
    expect(r.body.scope.wholeNamespace).toBe(true);
    expect(r.body.scope.documents.map((d: any) => d.id)).toEqual([holder]);
    // Level two: every chunk of the picked document is scored, and the selection reads the needle.
    const doc = (await s.call('GET', `/v1/documents/${holder}`)).body;
    expect(r.body.curve).toHaveLength(doc.chunkCount);
    expect(r.body.selected.every((c: any) => c.documentId === holder)).toBe(true);
    expect(r.body.passages.some((p: any) => p.text.includes(NEEDLE))).toBe(true);
    expect(r.body.tokens.documents).toBe(doc.tokens);
  });

  it("says whether the question's terms single out the document it picked", async () => {
    const named = (await s.call('POST', '/v1/retrieve', { question: QUESTION })).body.library;
    // "oswin" and "key" are only in the needle's document; the needle says "hid", not "hide".
    expect(named.distinction).toEqual({ singledOut: true, terms: ['oswin', 'brass', 'key'], alsoHeldBy: [] });
    expect(named.reasons.join(' ')).toMatch(/the question's terms single out "The beekeeping"/);

    // Every document says its visitors are shown "brass tools": nothing in this question says which document it means.
    const vague = await s.call('POST', '/v1/retrieve', { question: 'Which brass tools were shown to visitors?' });
    expect(vague.status).toBe(200);
    const lib = vague.body.library;
    expect(lib.distinction.singledOut).toBe(false);
    expect(lib.distinction.terms).toEqual(['brass', 'tool', 'shown', 'visitor']);
    // Every other document holds those terms too, in the curve's order.
    expect(lib.distinction.alsoHeldBy.map((d: { id: string }) => d.id)).toEqual(
      lib.curve.slice(1).map((d: { documentId: string }) => d.documentId),
    );
    expect(lib.distinction.alsoHeldBy).toHaveLength(TRADES.length - 1);
    expect(lib.distinction.alsoHeldBy[0].title).toMatch(/^The /);
    expect(lib.reasons.join(' ')).toMatch(
      /the question does not say which document it is about: .* and 8 more also hold every question term that/,
    );

    // With hybrid scores the dense candidates are read too: the vague question stays vague, the needle stays singled out.
    const hybrid = await s.call('POST', '/v1/retrieve', {
      question: 'Which brass tools were shown to visitors?',
      score: 'hybrid',
    });
    expect(hybrid.body.library.candidates.dense).toBeGreaterThan(0);
    expect(hybrid.body.library.distinction.singledOut).toBe(false);
    const needle = await s.call('POST', '/v1/retrieve', { question: QUESTION, score: 'hybrid' });
    expect(needle.body.library.distinction).toMatchObject({ singledOut: true, alsoHeldBy: [] });

    // /v1/query carries the same verdict in its decision.
    const q = await s.call('POST', '/v1/query', { question: 'Which brass tools were shown to visitors?' });
    expect(q.body.decision.documents.singledOut).toBe(false);
    expect(q.body.decision.documents.alsoHeldBy).toHaveLength(TRADES.length - 1);
    expect(q.body.decision.reasons[0]).toMatch(/does not say which document it is about/);
  });

  it('reads every document that holds the terms of a question that does not say which it means, each one in turn', async () => {
    const r = await s.call('POST', '/v1/retrieve', { question: 'Which brass tools were shown to visitors?' });
    const lib = r.body.library;
    expect(lib.distinction.singledOut).toBe(false);
    // All twelve hold the same terms (at most LIBRARY_MAX_DOCUMENTS, 16): those above the cut, then the rest, best first.
    const read = lib.picked.map((d: { id: string }) => d.id);
    expect(read).toEqual(lib.curve.map((d: { documentId: string }) => d.documentId));
    expect(r.body.scope.documents.map((d: { id: string }) => d.id)).toEqual(read);
    const by = lib.picked.map((d: { by: string }) => d.by);
    expect(by.slice(0, lib.aboveCut)).toEqual(Array(lib.aboveCut).fill('cut'));
    expect(by.slice(lib.aboveCut)).toEqual(Array(TRADES.length - lib.aboveCut).fill('same-terms'));
    expect(lib.reasons.join(' ')).toMatch(/documents holding the same terms are read too: "The /);
    expect(lib.reasons.join(' ')).toMatch(/each document's chunks were cut at their own largest gap/);
    // Level two cut each document's own curve: every document read gives at least its best chunk, first in turn.
    const first = r.body.selected.slice(0, read.length).map((c: { documentId: string }) => c.documentId);
    expect(first).toEqual(read);

    // A question whose terms single out its document reads it alone, as before.
    const needle = (await s.call('POST', '/v1/retrieve', { question: QUESTION })).body.library;
    expect(needle.picked.map((d: { id: string; by: string }) => [d.id, d.by])).toEqual([[holder, 'cut']]);
  });

  it('/v1/query weighs and reads only the picked document, and the decision names it', async () => {
    const r = await s.call('POST', '/v1/query', { question: QUESTION });
    expect(r.status).toBe(200);
    const doc = (await s.call('GET', `/v1/documents/${holder}`)).body;
    expect(r.body.decision.documents).toMatchObject({
      picked: [holder],
      namespaceDocuments: TRADES.length,
      singledOut: true,
      alsoHeldBy: [],
    });
    expect(r.body.decision.reasons[0]).toMatch(/^documents: .*one document stands out/);
    // The router weighs the picked document, not the namespace's tokens.
    expect(r.body.decision.signals.documentTokens).toBe(doc.tokens);
    expect(r.body.fullContextTokens).toBeLessThan(doc.tokens * 1.5);
    expect(r.body.answer).toContain('lantern post');
    expect(r.body.citations.every((c: any) => c.documentId === holder)).toBe(true);
  });

  it('a strategy that reads whole texts reads only the picked documents', async () => {
    const r = await s.call('POST', '/v1/query', { question: QUESTION, strategy: 'full' });
    expect(r.status).toBe(200);
    const doc = (await s.call('GET', `/v1/documents/${holder}`)).body;
    expect(r.body.strategy).toBe('full');
    expect(r.body.decision.documents.picked).toEqual([holder]);
    expect(r.body.contextTokens).toBeLessThanOrEqual(doc.tokens + 10);
  });

  it('a question sharing no term with the namespace is answered from dense candidates, and says so', async () => {
    const r = await s.call('POST', '/v1/retrieve', { question: 'Quixotic zephyrs?' });
    expect(r.status).toBe(200);
    expect(r.body.library.candidates).toMatchObject({ source: 'store', lexical: 0 });
    expect(r.body.library.candidates.dense).toBeGreaterThan(0);
    expect(r.body.library.fallback).toMatch(/no chunk of the namespace shares a term with the question/);
    expect(r.body.library.picked.length).toBeGreaterThan(0);
    // No question term is in any candidate: nothing in the question names a document, and the response says so.
    expect(r.body.library.distinction).toMatchObject({ singledOut: false, terms: [] });
    expect(r.body.library.reasons.join(' ')).toMatch(/nothing in the question names a document/);
  });

  it('refuses a question of stopwords only over the whole namespace with 422 NO_SEARCH_TERMS, and reads named documents as asked', async () => {
    for (const [path, extra] of [
      ['/v1/retrieve', {}],
      ['/v1/query', {}],
      ['/v1/answer', { strategy: 'rag' }],
    ] as const) {
      const r = await s.call('POST', path, { question: 'What is it?', ...extra });
      expect(r.status, path).toBe(422);
      expect(r.body.error.code, path).toBe('NO_SEARCH_TERMS');
      expect(r.body.error.message, path).toMatch(/every word of it is a stopword/);
    }
    // The same question over a named document is read (a whole-text strategy can answer it).
    const named = await s.call('POST', '/v1/retrieve', { question: 'What is it?', documentIds: [holder] });
    expect(named.status).toBe(200);
    expect(named.body.library).toBeNull();
    // A dense score is what the caller asked for: the question's vector is compared, no refusal.
    const dense = await s.call('POST', '/v1/retrieve', { question: 'What is it?', score: 'dense' });
    expect(dense.status).toBe(200);
    expect(dense.body.library.candidates.dense).toBeGreaterThan(0);
  });

  it('/v1/answer with a whole-text strategy reads the picked documents, not the namespace', async () => {
    const r = await s.call('POST', '/v1/answer', { question: QUESTION, strategy: 'full' });
    expect(r.status).toBe(200);
    const doc = (await s.call('GET', `/v1/documents/${holder}`)).body;
    expect(r.body.contextTokens).toBeLessThanOrEqual(doc.tokens + 10);
    expect(r.body.fullContextTokens).toBeLessThan(doc.tokens * 1.5);
  });

  it('named documents are read as before: no library view', async () => {
    const r = await s.call('POST', '/v1/retrieve', { question: QUESTION, documentIds: [holder, 'doc-0'] });
    expect(r.status).toBe(200);
    expect(r.body.library).toBeNull();
    expect(r.body.scope.wholeNamespace).toBe(false);
    const q = await s.call('POST', '/v1/query', { question: QUESTION, documentIds: [holder, 'doc-0'] });
    expect(q.body.decision.documents).toBeNull();
  });
});

describe('the cap on what a whole-namespace question reads (LIBRARY_MAX_TOKENS), over HTTP', () => {
  let s: TestServer;
  const VAGUE = 'Which brass tools were shown to visitors?';
  beforeAll(async () => {
    s = await startServer({ CHUNK_TOKENS: 120, CHUNK_OVERLAP_TOKENS: 0, LIBRARY_MAX_TOKENS: 300 });
    await loadTrades(s);
  }, 240_000);
  afterAll(async () => s?.close());

  it('cuts a selection over the picked documents to its best chunks within the cap, and says so', async () => {
    // Up to 30 chunks of ~120 tokens over the picked documents: more than 300 tokens.
    const r = await s.call('POST', '/v1/retrieve', { question: VAGUE, method: 'top-k', k: 30, includeCurve: true });
    expect(r.status).toBe(200);
    const lib = r.body.library;
    expect(lib.readCap.maxTokens).toBe(300);
    expect(lib.readCap.cut.k).toBeGreaterThan(r.body.selected.length);
    expect(lib.readCap.cut.tokens).toBeGreaterThan(300);
    const read = r.body.selected.reduce((a: number, c: { tokens: number }) => a + c.tokens, 0);
    expect(read).toBeLessThanOrEqual(300);
    expect(r.body.selected.length).toBeGreaterThan(0);
    // The best chunks are kept: nothing left out scores above what was kept.
    const kept = Math.min(...r.body.selected.map((c: { score: number }) => c.score));
    const ids = new Set(r.body.selected.map((c: { id: string }) => c.id));
    for (const p of r.body.curve) if (!ids.has(p.id)) expect(p.score).toBeLessThanOrEqual(kept);
    expect(lib.reasons.join(' ')).toMatch(
      /\(\d+ chunks, \d+ tokens\) was cut to its best \d+ \(\d+ tokens\): at most 300 tokens/,
    );
  });

  it('cuts an Adaptive-k selection over several documents by turns: each document keeps its best chunk first', async () => {
    const r = await s.call('POST', '/v1/retrieve', { question: VAGUE });
    const lib = r.body.library;
    expect(lib.picked.length).toBeGreaterThan(2);
    expect(lib.readCap.cut.k).toBeGreaterThan(r.body.selected.length);
    expect(r.body.tokens.selected).toBeLessThanOrEqual(300);
    // Chunks of at most 120 tokens, 300 tokens: the best chunk of each of the first documents read, not several of the first.
    expect(r.body.selected.length).toBeGreaterThanOrEqual(2);
    expect(r.body.selected.map((c: { documentId: string }) => c.documentId)).toEqual(
      lib.picked.slice(0, r.body.selected.length).map((d: { id: string }) => d.id),
    );
    expect(lib.reasons.join(' ')).toMatch(/was cut to \d+ \(\d+ tokens\), taking each document's best chunks in turn/);
  });

  it('leaves a selection within the cap alone', async () => {
    const r = await s.call('POST', '/v1/retrieve', { question: QUESTION, method: 'top-k', k: 1 });
    expect(r.body.library.readCap).toEqual({ maxTokens: 300, cut: null });
    expect(r.body.selected).toHaveLength(1);
  });
});

describe('LIBRARY_READ_ALIKE=false, over HTTP', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ CHUNK_TOKENS: 120, CHUNK_OVERLAP_TOKENS: 0, LIBRARY_READ_ALIKE: false });
    await loadTrades(s);
  }, 240_000);
  afterAll(async () => s?.close());

  it('reads only the documents above the cut, even when the terms do not single one out', async () => {
    const r = await s.call('POST', '/v1/retrieve', { question: 'Which brass tools were shown to visitors?' });
    const lib = r.body.library;
    expect(lib.distinction.singledOut).toBe(false);
    expect(lib.distinction.alsoHeldBy).toHaveLength(TRADES.length - 1);
    expect(lib.picked).toHaveLength(lib.aboveCut);
    expect(lib.picked.every((d: { by: string }) => d.by === 'cut')).toBe(true);
    expect(lib.reasons.join(' ')).not.toMatch(/read too/);
  });
});
