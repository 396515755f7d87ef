import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { cl100k } from '../../src/core/tokenizer.js';
import type { ChatMessage, CompletionRequest, LlmProvider, SourceSpan } from '../../src/ports/llm.js';
import { ExtractiveReader } from '../../src/adapters/llm/extractive.js';
import type { RetrievalService } from '../../src/core/retrieval/service.js';
import { AnswerService, type AnswerInput } from '../../src/core/strategies/answer-service.js';
import {
  cutToTokens,
  middleTruncate,
  packSegments,
  reservesFor,
  sentencePieces,
} from '../../src/core/strategies/budget.js';
import { LlmCaller } from '../../src/core/strategies/caller.js';
import { isUnanswerable, UNANSWERABLE } from '../../src/core/strategies/prompts.js';
import type { AnswerEvent } from '../../src/core/strategies/types.js';
import { HashingEmbedder } from '../contract/llm-test-embedder.js';
import { ScriptedLlm } from '../helpers/llm.js';
import { openStores, type Stores } from '../helpers/stores.js';

/** The passages of an answer task (none for other tasks). */
function passagesOf(req: CompletionRequest): readonly SourceSpan[] {
  return req.task?.kind === 'answer' ? req.task.passages : [];
}

const COLOURS = ['amber', 'blue', 'crimson', 'dusky', 'emerald', 'fawn', 'grey'];
/** A long text of distinct sentences, with one fact in the middle. */
function book(
  sentences: number,
  fact = 'The keeper Arvid hid the brass key under the third stone of the pier.',
): string {
  const out: string[] = [];
  for (let i = 0; i < sentences; i++) {
    if (i === Math.floor(sentences / 2)) out.push(fact);
    out.push(`Sentence ${i} tells how the ${COLOURS[i % 7]} boat number ${i} drifted past the harbour wall at dawn.`);
    if (i % 12 === 11) out.push('\n\n');
  }
  return out.join(' ').replace(/ \n\n /g, '\n\n');
}

const cfg = loadConfig({}, { dotenvPath: null, overrides: { LLM_MAX_ANSWER_TOKENS: 256, LOG_LEVEL: 'silent' } });
const logger = pino({ level: 'silent' });

describe('reading strategies over real stores (hashing embedder, in-process queue)', () => {
  let stores: Stores;
  let retrieval: RetrievalService;
  let extractive: ExtractiveReader;
  const texts = new Map<string, string>();
  const NS = 'strategies';

  const service = (llm: LlmProvider) =>
    new AnswerService({ retrieval, llm, maxAnswerTokens: cfg.LLM_MAX_ANSWER_TOKENS, logger });
  const ask = (llm: LlmProvider, over: Partial<AnswerInput>): AnswerInput => ({
    namespace: NS,
    question: 'Where did Arvid hide the brass key?',
    documentIds: ['long'],
    strategy: 'rag',
    selection: { kind: 'adaptive-k', a: 0, b: 0.1, buffer: 5 },
    score: 'hybrid',
    hybridAlpha: 0.5,
    llm,
    ...over,
  });

  beforeAll(async () => {
    stores = await openStores(
      'air-strategies-',
      { chunkTokens: 120, overlapTokens: 10, maxDocumentTokens: 1_000_000, namespaceCandidates: 200 },
      logger,
    );
    retrieval = stores.retrieval;
    extractive = new ExtractiveReader({ embedder: stores.embedder });
    const add = async (id: string, title: string, text: string) => {
      texts.set(id, text);
      await stores.documents.submit({ namespace: NS, id, title, text, source: 'json' });
    };
    await add('long', 'The Harbour', book(400));
    await add(
      'short',
      'A Note',
      'The gate opens at nine. Visitors leave by the east door. The keeper Arvid hid the brass key under the third stone of the pier.',
    );
    await add('other', 'Second Harbour', book(150, 'The ferry captain Lund counted eleven gulls on the mast.'));
    await stores.queue.drain();
  });
  afterAll(async () => stores?.close());

  describe('retrieval (rag)', () => {
    it('puts the selected passages in document order, labelled with their document and offsets', async () => {
      const llm = new ScriptedLlm(100_000);
      const r = await service(llm).answer(ask(llm, { selection: { kind: 'top-k', k: 5 } }));
      const req = llm.requests[0]!;
      const passages = passagesOf(req);
      expect(passages.length).toBeGreaterThan(1);
      const starts = passages.map((p) => p.start);
      expect(starts).toEqual([...starts].sort((a, b) => a - b));
      const prompt = llm.prompt(0);
      let at = -1;
      passages.forEach((p, i) => {
        expect(p.text).toBe(texts.get('long')!.slice(p.start, p.end));
        const label = `[${i + 1}] (document "The Harbour", characters ${p.start}-${p.end})`;
        expect(prompt.indexOf(label)).toBeGreaterThan(at);
        at = prompt.indexOf(label);
      });
      expect(r.retrieval?.signals.k).toBe(5);
      expect(r.retrieval?.droppedForWindow).toBeNull();
      expect(r.calls).toEqual([
        expect.objectContaining({ role: 'answer', index: null, promptTokens: req.promptTokens }),
      ]);
      expect(r.extractive).toBe(false);
    });

    it('drops the lowest-scored chunks when the passages do not fit the window, and says which', async () => {
      const wide = new ScriptedLlm(100_000);
      const all = await service(wide).answer(ask(wide, { selection: { kind: 'top-k', k: 12 } }));
      const llm = new ScriptedLlm(1200);
      const r = await service(llm).answer(ask(llm, { selection: { kind: 'top-k', k: 12 } }));
      const dropped = r.retrieval!.droppedForWindow!;
      expect(dropped.chunkIds.length).toBeGreaterThan(0);
      expect(dropped.chunkIds.length).toBeLessThan(12);
      expect(llm.requests[0]!.promptTokens + llm.requests[0]!.maxTokens).toBeLessThanOrEqual(1200);
      expect(r.contextTokens).toBeLessThan(all.contextTokens);
      // What was dropped is the tail of the score ranking.
      const ranking = (
        await retrieval.retrieve({
          namespace: NS,
          question: ask(llm, {}).question,
          documentIds: ['long'],
          method: { kind: 'top-k', k: 12 },
          score: 'hybrid',
          hybridAlpha: 0.5,
        })
      ).selected.map((c) => c.id);
      expect(dropped.chunkIds).toEqual(ranking.slice(12 - dropped.chunkIds.length));
    });

    it('cites the passages a generative answer names by number', async () => {
      const llm = new ScriptedLlm(100_000, () => 'Under the third stone [2].');
      const r = await service(llm).answer(ask(llm, { selection: { kind: 'top-k', k: 4 } }));
      const passages = passagesOf(llm.requests[0]!);
      expect(r.citations).toEqual([expect.objectContaining({ start: passages[1]!.start, end: passages[1]!.end })]);
    });

    it('asks for UNANSWERABLE only when allowed, and recognises the reply', async () => {
      const llm = new ScriptedLlm(100_000, () => `${UNANSWERABLE}.`);
      const r = await service(llm).answer(ask(llm, { allowUnanswerable: true }));
      expect(llm.prompt(0)).toContain('reply with the single word UNANSWERABLE');
      expect(isUnanswerable(r.answer)).toBe(true);
      const plain = new ScriptedLlm(100_000);
      await service(plain).answer(ask(plain, {}));
      expect(plain.prompt(0)).not.toContain(UNANSWERABLE);
      expect(isUnanswerable('**Unanswerable**')).toBe(true);
      expect(isUnanswerable('UNANSWERABLE: the passages do not say.')).toBe(true);
      expect(isUnanswerable('Unanswerable questions are rare; the key is under the stone.')).toBe(false);
      expect(isUnanswerable('Under the stone.')).toBe(false);
    });

    it('answers extractively with citations that slice the document and name their chunk', async () => {
      const r = await service(extractive).answer(ask(extractive, {}));
      expect(r.extractive).toBe(true);
      expect(r.answer).toContain('brass key');
      expect(r.citations.length).toBeGreaterThan(0);
      const chunks = await stores.vectors.getChunks(NS, {
        documentId: 'long',
        version: (await stores.docs.get(NS, 'long'))!.version!,
      });
      for (const c of r.citations) {
        expect(texts.get(c.documentId)!.slice(c.start, c.end)).toBe(c.text);
        const chunk = chunks.find((k) => k.id === c.chunkId);
        expect(chunk).toBeDefined();
        expect(chunk!.start <= c.start && c.start < chunk!.end).toBe(true);
      }
    });
  });

  describe('full context', () => {
    it('reads a document that fits whole, without truncation', async () => {
      const llm = new ScriptedLlm(8192);
      const r = await service(llm).answer(ask(llm, { strategy: 'full', documentIds: ['short'] }));
      expect(r.truncated).toBeNull();
      expect(llm.prompt(0)).toContain(texts.get('short'));
      expect(r.fullContextTokens).toBe(llm.requests[0]!.promptTokens);
      expect(r.contextTokens).toBe(cl100k.count(texts.get('short')!));
    });

    it('cuts the middle of a document that does not fit, keeping head and tail, and reports the cut', async () => {
      const llm = new ScriptedLlm(2048);
      const text = texts.get('long')!;
      const r = await service(llm).answer(ask(llm, { strategy: 'full' }));
      const req = llm.requests[0]!;
      expect(req.promptTokens + req.maxTokens).toBeLessThanOrEqual(2048);
      const parts = passagesOf(req);
      expect(parts).toHaveLength(2);
      const [head, tail] = parts as [(typeof parts)[0], (typeof parts)[0]];
      expect(head.start).toBe(0);
      expect(tail.end).toBe(text.length);
      expect(head.end).toBeLessThan(tail.start);
      // Cuts on sentence boundaries: the head ends with a full stop, the tail starts a sentence.
      expect(head.text.trimEnd()).toMatch(/\.$/);
      expect(tail.text).toMatch(/^Sentence \d+ /);
      // Head and tail take about half of the kept tokens each.
      expect(Math.abs(cl100k.count(head.text) - cl100k.count(tail.text))).toBeLessThan(0.2 * r.truncated!.keptTokens);
      const total = cl100k.count(text);
      expect(r.truncated!.keptTokens + r.truncated!.droppedTokens).toBe(total);
      expect(r.truncated!.droppedShare).toBeCloseTo(r.truncated!.droppedTokens / total, 6);
      expect(r.truncated!.keptTokens).toBeGreaterThan(0.8 * (2048 - 512));
      expect(llm.prompt(0)).toMatch(/tokens of the middle left out/);
      expect(r.fullContextTokens).toBeGreaterThan(total);
    });

    it('shares the budget between documents in proportion to their size', async () => {
      const llm = new ScriptedLlm(3000);
      await service(llm).answer(ask(llm, { strategy: 'full', documentIds: ['long', 'other'] }));
      const parts = passagesOf(llm.requests[0]!);
      const kept = (id: string) =>
        parts.filter((p) => p.documentId === id).reduce((n, p) => n + cl100k.count(p.text), 0);
      const share = (id: string) => kept(id) / cl100k.count(texts.get(id)!);
      expect(share('long')).toBeGreaterThan(0.05);
      expect(Math.abs(share('long') - share('other'))).toBeLessThan(0.35 * share('long'));
    });

    it('quotes head or tail extractively with exact offsets', async () => {
      const r = await service(extractive).answer(ask(extractive, { strategy: 'full', documentIds: ['short'] }));
      expect(r.extractive).toBe(true);
      expect(r.answer).toContain('brass key');
      for (const c of r.citations) expect(texts.get(c.documentId)!.slice(c.start, c.end)).toBe(c.text);
    });
  });

  describe('Chain-of-Agents', () => {
    it('cuts segments that tile the document in order, passes each note forward, and keeps every prompt in the window', async () => {
      const llm = new ScriptedLlm(1024);
      const events: AnswerEvent[] = [];
      const r = await service(llm).answer(ask(llm, { strategy: 'coa', onEvent: (e) => events.push(e) }));
      const text = texts.get('long')!;
      const workers = llm.requests.filter((q) => q.task?.kind === 'coa-worker');
      expect(workers.length).toBeGreaterThan(3);
      expect(r.segments!.count).toBe(workers.length);
      let expectedStart = 0;
      workers.forEach((q, i) => {
        const t = q.task!.kind === 'coa-worker' ? q.task : null;
        expect(t!.index).toBe(i);
        expect(t!.segment.start).toBe(expectedStart);
        expect(t!.segment.text).toBe(text.slice(t!.segment.start, t!.segment.end));
        expect(r.segments!.tokensPerSegment[i]).toBe(cl100k.count(t!.segment.text));
        expectedStart = t!.segment.end;
        // Worker i reads the note of worker i-1 (in the prompt and in the task).
        expect(t!.previousNote).toBe(i === 0 ? '' : `note-${i - 1}`);
        if (i > 0) expect(llm.prompt(i)).toContain(`Notes so far:\nnote-${i - 1}`);
        // Segments end where sentences end.
        if (i < workers.length - 1) expect(t!.segment.text.trimEnd()).toMatch(/\.$/);
      });
      expect(expectedStart).toBe(text.length);
      for (const q of llm.requests) expect(q.promptTokens + q.maxTokens).toBeLessThanOrEqual(1024);
      const manager = llm.requests.at(-1)!;
      expect(manager.task?.kind).toBe('coa-manager');
      expect(llm.prompt(llm.requests.length - 1)).toContain(`note-${workers.length - 1}`);
      expect(r.notes).toEqual(workers.map((_, i) => `note-${i}`));
      const progress = events.filter((e) => e.type === 'progress' && e.stage === 'segment');
      expect(progress).toEqual(
        workers.map((_, i) => ({
          type: 'progress',
          stage: 'segment',
          index: i + 1,
          total: workers.length,
          note: `note-${i}`,
        })),
      );
      expect(events.filter((e) => e.type === 'call')).toHaveLength(workers.length + 1);
      expect(r.calls.map((c) => c.role)).toEqual([...workers.map(() => 'coa-worker'), 'coa-manager']);
      expect(r.totals.promptTokens).toBe(llm.requests.reduce((n, q) => n + q.promptTokens, 0));
      expect(r.contextTokens).toBe(r.segments!.tokensPerSegment.reduce((a, b) => a + b, 0));
    });

    it('never lets a segment span two documents', async () => {
      const llm = new ScriptedLlm(1024);
      await service(llm).answer(ask(llm, { strategy: 'coa', documentIds: ['short', 'other'] }));
      const segs = llm.requests.flatMap((q) => (q.task?.kind === 'coa-worker' ? [q.task.segment] : []));
      expect(segs[0]).toMatchObject({ documentId: 'short', start: 0, end: texts.get('short')!.length });
      expect(segs.slice(1).every((s) => s.documentId === 'other')).toBe(true);
      expect(segs.at(-1)!.end).toBe(texts.get('other')!.length);
    });

    it('bounds a note that overruns its reserve before the next worker reads it', async () => {
      const long = Array.from({ length: 400 }, (_, i) => `fact${i}`).join(' ');
      const llm = new ScriptedLlm(1024, (req) => (req.task?.kind === 'coa-worker' ? long : 'done'));
      const r = await service(llm).answer(ask(llm, { strategy: 'coa' }));
      const reserve = reservesFor(llm, cfg.LLM_MAX_ANSWER_TOKENS).note;
      for (const n of r.notes) expect(cl100k.count(n)).toBeLessThanOrEqual(reserve);
      const second = llm.requests[1]!.task!;
      expect(second.kind === 'coa-worker' && long.startsWith(second.previousNote)).toBe(true);
      for (const q of llm.requests) expect(q.promptTokens + q.maxTokens).toBeLessThanOrEqual(1024);
    });

    it('stops between segments once cancelled', async () => {
      const llm = new ScriptedLlm(1024);
      const abort = new AbortController();
      const run = service(llm).answer(
        ask(llm, {
          strategy: 'coa',
          signal: abort.signal,
          onEvent: (e) => e.type === 'progress' && e.stage === 'segment' && e.index === 2 && abort.abort(),
        }),
      );
      await expect(run).rejects.toMatchObject({ code: 'CANCELLED' });
      expect(llm.requests).toHaveLength(2);
    });

    it('refuses a window too small to hold a segment after the question and reserves', async () => {
      const llm = new ScriptedLlm(300);
      await expect(service(llm).answer(ask(llm, { strategy: 'coa' }))).rejects.toMatchObject({
        code: 'BUDGET_TOO_SMALL',
      });
      expect(llm.requests).toHaveLength(0);
    });

    it('carries the evidence to the manager with the extractive reader, citing the document exactly', async () => {
      const reader = new ExtractiveReader({ embedder: new HashingEmbedder(), contextWindow: 1500 });
      const events: AnswerEvent[] = [];
      const r = await service(reader).answer(ask(reader, { strategy: 'coa', onEvent: (e) => events.push(e) }));
      expect(r.segments!.count).toBeGreaterThan(3);
      expect(r.extractive).toBe(true);
      expect(r.answer).toContain('brass key');
      const cited = r.citations.find((c) => c.text.includes('brass key'));
      expect(cited).toBeDefined();
      for (const c of r.citations) expect(texts.get('long')!.slice(c.start, c.end)).toBe(c.text);
      expect(events.filter((e) => e.type === 'progress' && e.stage === 'segment')).toHaveLength(r.segments!.count);
    });
  });

  describe('service', () => {
    it('refuses to send a prompt that would overflow the window, before calling the provider', async () => {
      const llm = new ScriptedLlm(200);
      const caller = new LlmCaller(llm, { emit: () => {} });
      const messages: ChatMessage[] = [{ role: 'user', content: 'word '.repeat(300) }];
      await expect(
        caller.call({
          role: 'answer',
          index: null,
          messages,
          task: { kind: 'answer', question: 'q', passages: [] },
          maxTokens: 10,
          stream: false,
        }),
      ).rejects.toMatchObject({
        code: 'LLM_CONTEXT_OVERFLOW',
      });
      expect(llm.requests).toHaveLength(0);
    });

    it('rejects an unknown strategy and an empty question, and names missing documents', async () => {
      const llm = new ScriptedLlm(8192);
      await expect(service(llm).answer(ask(llm, { strategy: 'skim' as never }))).rejects.toMatchObject({
        code: 'UNKNOWN_STRATEGY',
      });
      await expect(service(llm).answer(ask(llm, { question: '  ' }))).rejects.toMatchObject({ code: 'EMPTY_QUESTION' });
      await expect(service(llm).answer(ask(llm, { documentIds: ['nope'] }))).rejects.toMatchObject({
        code: 'DOCUMENTS_NOT_FOUND',
      });
    });

    it('estimates each strategy without calling the LLM, consistent with what the runs cost', async () => {
      const llm = new ScriptedLlm(2048);
      const svc = service(llm);
      const doc = (await stores.docs.get(NS, 'long'))!;
      const est = svc.estimateCosts([doc], 600, llm, 'Where did Arvid hide the brass key?');
      expect(llm.requests).toHaveLength(0);
      expect(est.full).toMatchObject({ feasible: true, calls: 1, truncated: true });
      expect(est.full.promptTokens).toBeLessThanOrEqual(2048 - est.reserves.answer);
      expect(est.rag.contextTokens).toBe(600);
      const coa = await svc.answer(ask(llm, { strategy: 'coa' }));
      expect(est.coa.calls).toBeGreaterThanOrEqual(coa.totals.calls - 1);
      expect(est.coa.calls).toBeLessThanOrEqual(coa.totals.calls + 1);
      // Notes in the run are tiny, the estimate assumes full ones: an upper bound, within the note reserves.
      expect(est.coa.promptTokens).toBeGreaterThanOrEqual(coa.totals.promptTokens);
      expect(est.coa.promptTokens - coa.totals.promptTokens).toBeLessThan(
        (est.coa.segments + 1) * (est.reserves.note + 40),
      );
      const small = svc.estimateCosts([{ title: 'x', tokens: 100 }], 50, llm);
      expect(small.full.truncated).toBe(false);
      expect(small.coa.segments).toBe(1);
    });
  });
});

describe('budget helpers', () => {
  const text = book(60);
  const count = (t: string) => cl100k.count(t);

  it('cuts sentence pieces that tile the text, long sentences split to the limit', () => {
    const withLong = `${text} ${'word '.repeat(400)}end.`;
    const pieces = sentencePieces(withLong, 50, count);
    expect(pieces[0]!.start).toBe(0);
    for (let i = 1; i < pieces.length; i++) expect(pieces[i]!.start).toBe(pieces[i - 1]!.end);
    expect(pieces.at(-1)!.end).toBe(withLong.length);
    for (const p of pieces) expect(p.tokens).toBeLessThanOrEqual(50);
    const segs = packSegments(withLong, pieces, 300, count);
    for (const s of segs) expect(count(withLong.slice(s.start, s.end))).toBeLessThanOrEqual(300);
    expect(segs.map((s) => withLong.slice(s.start, s.end)).join('')).toBe(withLong);
  });

  it('finds the longest prefix or suffix within a token budget, on a word boundary', () => {
    const p = cutToTokens(text, { start: 0, end: text.length }, 40, count);
    expect(count(text.slice(p.start, p.end))).toBeLessThanOrEqual(40);
    expect(count(text.slice(p.start, p.end))).toBeGreaterThan(30);
    expect(text[p.end]).toMatch(/\s/);
    const s = cutToTokens(text, { start: 0, end: text.length }, 40, count, true);
    expect(s.end).toBe(text.length);
    expect(count(text.slice(s.start))).toBeLessThanOrEqual(40);
  });

  it('keeps a text that fits whole and cuts the middle of one that does not', () => {
    const total = count(text);
    expect(middleTruncate(text, total, count)).toMatchObject({
      head: { start: 0, end: text.length },
      tail: null,
      keptTokens: total,
    });
    const cut = middleTruncate(text, 200, count);
    expect(cut.head.start).toBe(0);
    expect(cut.tail!.end).toBe(text.length);
    expect(cut.keptTokens).toBeLessThanOrEqual(200);
    expect(cut.keptTokens).toBeGreaterThan(150);
    expect(count(text.slice(0, cut.head.end)) + count(text.slice(cut.tail!.start))).toBe(cut.keptTokens);
  });
});
