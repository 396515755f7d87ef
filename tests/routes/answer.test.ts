import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRecord } from '../contract/document-store.contract.js';
import { startServer, waitForJob, type TestServer } from '../helpers/server.js';
import { ExtractiveReader } from '../../src/adapters/llm/extractive.js';
import { HashingEmbedder } from '../contract/llm-test-embedder.js';
import { ForwardingLlm } from '../helpers/llm.js';
import type { CompletionRequest, CompletionResult } from '../../src/ports/llm.js';

/**
 * The extractive reader, with the requests it was sent. It can hold calls at a
 * gate (so a test can act while a chain is mid-way) and tells when the signal
 * of a held call fires.
 */
class Watched extends ForwardingLlm<ExtractiveReader> {
  readonly started: Array<{ kind: string | undefined; abortedAtStart: boolean }> = [];
  private gate: { from: number; open: Promise<void>; release: () => void } | null = null;
  /** Holds every call from the `from`-th on (counted from now) until `release()`. */
  hold(from: number): { release: () => void } {
    let release!: () => void;
    const open = new Promise<void>((res) => (release = res));
    this.gate = { from: this.started.length + from, open, release };
    this.heldOutcome = new Promise((res) => (this.settleHeld = res));
    return {
      release: () => {
        this.gate = null;
        release();
      },
    };
  }
  /** Resolves when a held call's signal fires. */
  cancelled: Promise<void> = new Promise(() => {});
  /** How the first held call ended (its result or its error), once it has. */
  heldOutcome: Promise<unknown> = new Promise(() => {});
  private settleHeld: (outcome: unknown) => void = () => {};
  override async complete(req: CompletionRequest): Promise<CompletionResult> {
    const n = this.started.length;
    this.started.push({ kind: req.task?.kind, abortedAtStart: req.signal?.aborted ?? false });
    const gate = this.gate;
    if (gate && n >= gate.from && req.signal) {
      const signal = req.signal;
      this.cancelled = new Promise((res) => signal.addEventListener('abort', () => res(), { once: true }));
      await gate.open;
      const p = this.inner.complete(req);
      p.then(
        () => this.settleHeld('completed'),
        (err: unknown) => this.settleHeld(err),
      );
      return p;
    }
    return this.inner.complete(req);
  }
}

const PLACES = ['harbour', 'orchard', 'mill', 'chapel', 'market', 'bridge', 'quarry', 'forge'];
/** About 6 000 tokens of distinct sentences with one fact in the middle. */
function chronicle(): string {
  const out: string[] = [];
  for (let i = 0; i < 240; i++) {
    if (i === 150)
      out.push('The miller Oskar buried the silver bell beneath the old chapel floor in the winter of 1794.');
    const place = PLACES[i % PLACES.length]!;
    out.push(
      `In year ${1700 + i} the people of the ${place} repaired the road, counted ${i * 3 + 7} sheep and sang at the ${PLACES[(i + 3) % PLACES.length]} feast.`,
    );
    if (i % 10 === 9) out.push('\n\n');
  }
  return out.join(' ').replace(/ \n\n /g, '\n\n');
}

/** Reads a Server-Sent Events body into its events. */
function parseSse(body: string): Array<{ event: string; data: any }> {
  return body
    .split('\n\n')
    .map((block) => block.split('\n').filter((l) => !l.startsWith(':')))
    .filter((lines) => lines.length > 0 && lines.some((l) => l.startsWith('event:')))
    .map((lines) => ({
      event: lines
        .find((l) => l.startsWith('event:'))!
        .slice(6)
        .trim(),
      data: JSON.parse(
        lines
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trim())
          .join('\n'),
      ),
    }));
}

describe('POST /v1/answer over HTTP (extractive reader with a 1 500-token window, hashing embedder)', () => {
  let s: TestServer;
  let llm: Watched;
  const text = chronicle();
  const question = 'Where did the miller Oskar bury the silver bell?';
  const post = (body: unknown, headers: Record<string, string> = {}) => s.call('POST', '/v1/answer', body, headers);

  beforeAll(async () => {
    // The embedder is not under test here: a deterministic one keeps the answers stable and the suite fast.
    const embedder = new HashingEmbedder();
    llm = new Watched(new ExtractiveReader({ embedder, contextWindow: 1500 }));
    s = await startServer({ CHUNK_TOKENS: 200, CHUNK_OVERLAP_TOKENS: 20 }, { embedder, llm });
    const r = await s.call('POST', '/v1/documents', { id: 'chronicle', title: 'Village Chronicle', text });
    expect(r.status).toBe(202);
    expect((await waitForJob(s, r.body.jobId)).state).toBe('completed');
  });
  afterAll(async () => s?.close());

  const expectExactCitations = (body: any) => {
    expect(body.citations.length).toBeGreaterThan(0);
    for (const c of body.citations) {
      expect(c.documentId).toBe('chronicle');
      expect(text.slice(c.start, c.end)).toBe(c.text);
    }
  };

  it('answers by retrieval, saying the answer is extractive, with exact citations', async () => {
    const r = await post({ question, documentIds: ['chronicle'], strategy: 'rag' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ strategy: 'rag', extractive: true, truncated: null, segments: null });
    expect(r.body.answer).toMatch(/^\[extractive\] /);
    expect(r.body.answer).toContain('silver bell');
    expectExactCitations(r.body);
    expect(r.body.citations.every((c: any) => typeof c.chunkId === 'string')).toBe(true);
    expect(r.body.retrieval.signals.k).toBeGreaterThan(0);
    expect(r.body.calls).toHaveLength(1);
    expect(r.body.totals.calls).toBe(1);
    expect(r.body.fullContextTokens).toBeGreaterThan(r.body.contextTokens);
  });

  it('answers with full context, middle-truncated to the window, with exact citations', async () => {
    const r = await post({ question, documentIds: ['chronicle'], strategy: 'full' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ strategy: 'full', extractive: true, retrieval: null });
    expect(r.body.truncated.droppedTokens).toBeGreaterThan(0);
    expectExactCitations(r.body);
    expect(r.body.calls[0].promptTokens + 375).toBeLessThanOrEqual(1500);
  });

  it('answers by Chain-of-Agents over several segments, carrying the fact to the manager', async () => {
    const r = await post({ question, documentIds: ['chronicle'], strategy: 'coa' });
    expect(r.status).toBe(200);
    expect(r.body.segments.count).toBeGreaterThan(3);
    expect(r.body.notes).toHaveLength(r.body.segments.count);
    expect(r.body.calls.map((c: any) => c.role)).toEqual([...r.body.notes.map(() => 'coa-worker'), 'coa-manager']);
    expect(r.body.answer).toContain('silver bell');
    expectExactCitations(r.body);
  });

  it('streams Chain-of-Agents progress, calls and the final result as server-sent events', async () => {
    const res = await fetch(`${s.url}/v1/answer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ question, documentIds: ['chronicle'], strategy: 'coa' }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('x-request-id')).toBeTruthy();
    const events = parseSse(await res.text());
    const result = events.at(-1)!;
    expect(result.event).toBe('result');
    const n = result.data.segments.count;
    const segments = events.filter((e) => e.event === 'progress' && e.data.stage === 'segment');
    expect(segments.map((e) => [e.data.index, e.data.total])).toEqual(Array.from({ length: n }, (_, i) => [i + 1, n]));
    expect(segments.map((e) => e.data.note)).toEqual(result.data.notes);
    expect(events.filter((e) => e.event === 'call').map((e) => e.data)).toEqual(result.data.calls);
    expect(
      events
        .filter((e) => e.event === 'token')
        .map((e) => e.data.text)
        .join(''),
    ).toBe(result.data.answer);
    expect(events.findIndex((e) => e.data.stage === 'manager')).toBeGreaterThan(events.indexOf(segments.at(-1)!));
    expect(events.some((e) => e.event === 'error')).toBe(false);
  });

  it('cancels the chain when the client disconnects mid-stream', async () => {
    const before = llm.started.length;
    // The second worker is held until the client has gone.
    const gate = llm.hold(1);
    const abort = new AbortController();
    const res = await fetch(`${s.url}/v1/answer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ question, documentIds: ['chronicle'], strategy: 'coa' }),
      signal: abort.signal,
    });
    const reader = res.body!.getReader();
    let seen = '';
    while (!/"stage":"segment","index":1,/.test(seen)) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the stream ended before the first segment');
      seen += new TextDecoder().decode(value);
    }
    while (llm.started.length < before + 2) await new Promise((r) => setTimeout(r, 10));
    abort.abort();
    await llm.cancelled;
    gate.release();
    // The held call saw the cancelled signal; once the service has handled that, nothing else was asked of the LLM.
    expect(await llm.heldOutcome).toMatchObject({ code: 'CANCELLED' });
    await new Promise((r) => setImmediate(r));
    const calls = llm.started.slice(before);
    expect(calls.map((c) => c.kind)).toEqual(['coa-worker', 'coa-worker']);
    expect(calls.every((c) => !c.abortedAtStart)).toBe(true);
  });

  describe('bad input gets a 4xx with a stable code', () => {
    const cases: Array<[string, () => Promise<{ status: number; body: any }>, number, string]> = [
      ['an unknown strategy', () => post({ question, strategy: 'skim' }), 400, 'UNKNOWN_STRATEGY'],
      ['a missing strategy', () => post({ question }), 400, 'VALIDATION'],
      ['an empty question', () => post({ question: '   ', strategy: 'rag' }), 400, 'EMPTY_QUESTION'],
      ['an unknown field', () => post({ question, strategy: 'rag', colour: 'red' }), 400, 'VALIDATION'],
      ['top-k without k', () => post({ question, strategy: 'rag', method: 'top-k' }), 400, 'INVALID_PARAMETER'],
      [
        'unknown documents',
        () => post({ question, strategy: 'full', documentIds: ['chronicle', 'nope'] }),
        404,
        'DOCUMENTS_NOT_FOUND',
      ],
      [
        'unknown documents on a stream request',
        () => post({ question, strategy: 'coa', documentIds: ['nope'] }, { accept: 'text/event-stream' }),
        404,
        'DOCUMENTS_NOT_FOUND',
      ],
      [
        'an empty namespace',
        () => post({ question, strategy: 'rag' }, { 'x-namespace': 'empty-ns' }),
        404,
        'NO_DOCUMENTS',
      ],
    ];
    for (const [name, send, status, code] of cases) {
      it(`rejects ${name} with ${status} ${code}`, async () => {
        const r = await send();
        expect(r.status).toBe(status);
        expect(r.body.error.code).toBe(code);
        expect(r.body.requestId).toBeTruthy();
      });
    }

    it('rejects a document that is not ready yet with 409 DOCUMENT_NOT_READY', async () => {
      await s.container.documents.put(
        makeRecord('default', 'still-indexing', {
          status: 'indexing',
          version: null,
          pending: { version: 'v1', jobId: 'j1' },
          chunkCount: 0,
        }),
      );
      const r = await post({ question, strategy: 'rag', documentIds: ['still-indexing'] });
      expect(r.status).toBe(409);
      expect(r.body.error.code).toBe('DOCUMENT_NOT_READY');
    });
  });

  it('is described in the OpenAPI document', async () => {
    const spec = await s.call('GET', '/openapi.json');
    expect(spec.body.paths['/v1/answer'].post.requestBody).toBeDefined();
  });
});
