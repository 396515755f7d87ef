import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import type { CompletionRequest, CompletionResult } from '../../src/ports/llm.js';
import { LlamaCppProvider } from '../../src/adapters/llm/llama-cpp.js';
import { AnswerService, type AnswerInput } from '../../src/core/strategies/answer-service.js';
import type { AnswerEvent, StrategyName } from '../../src/core/strategies/types.js';
import { QueryService } from '../../src/core/routing/query-service.js';
import { readerChoices, routerSettings } from '../../src/container.js';
import { judgeProbe } from '../../src/core/routing/probe.js';
import { ForwardingLlm } from '../helpers/llm.js';
import { STORIES_GGUF } from '../helpers/paths.js';
import { openStores, type Stores } from '../helpers/stores.js';

/** The real provider, with every request and result kept so the test can recount them. */
class Recording extends ForwardingLlm {
  readonly seen: Array<{ req: CompletionRequest; res: CompletionResult }> = [];
  override async complete(req: CompletionRequest) {
    const res = await this.inner.complete(req);
    this.seen.push({ req, res });
    return res;
  }
}

const NAMES = ['Lily', 'Tom', 'Sue', 'Ben', 'Mia', 'Max', 'Amy', 'Sam'];
const THINGS = [
  'a red ball',
  'a big tree',
  'a shiny stone',
  'a little dog',
  'a blue kite',
  'a funny hat',
  'a green frog',
];
/** A TinyStories-like text several 512-token windows long, its sentences varied so the model's tokenizer cannot compress it. */
const STORY = Array.from({ length: 60 }, (_, i) => {
  const who = NAMES[i % NAMES.length]!;
  const what = THINGS[(i * 3) % THINGS.length]!;
  return `On day ${i + 1}, ${who} went to the park and found ${what}. ${who} was very happy and showed it to ${NAMES[(i + 3) % NAMES.length]}.`;
}).join(' ');

describe('reading strategies with llama.cpp (stories260K, 512-token context, 1 thread)', () => {
  const NS = 'llama';
  let stores: Stores;
  let llama: LlamaCppProvider;
  let service: AnswerService;
  const cfg = loadConfig({}, { dotenvPath: null, overrides: { LLM_MAX_ANSWER_TOKENS: 48, LOG_LEVEL: 'silent' } });
  const logger = pino({ level: 'silent' });

  beforeAll(async () => {
    stores = await openStores(
      'air-llama-strategies-',
      { chunkTokens: 60, overlapTokens: 5, maxDocumentTokens: 100_000, namespaceCandidates: 50 },
      logger,
    );
    await stores.documents.submit({ namespace: NS, id: 'story', title: 'Lily', text: STORY, source: 'json' });
    await stores.queue.drain();
    llama = await LlamaCppProvider.load({ modelPath: STORIES_GGUF, threads: 1, contextSize: 512 });
    service = new AnswerService({
      retrieval: stores.retrieval,
      llm: llama,
      maxAnswerTokens: cfg.LLM_MAX_ANSWER_TOKENS,
      logger,
    });
  });
  afterAll(async () => {
    await llama?.close();
    await stores?.close();
  });

  const run = async (strategy: StrategyName, extra: Partial<AnswerInput> = {}) => {
    const llm = new Recording(llama);
    const events: AnswerEvent[] = [];
    const result = await service.answer({
      namespace: NS,
      question: 'What did Lily find in the park?',
      documentIds: ['story'],
      strategy,
      selection: { kind: 'top-k', k: 4 },
      score: 'hybrid',
      hybridAlpha: 0.5,
      llm,
      onEvent: (e) => events.push(e),
      ...extra,
    });
    return { result, llm, events };
  };

  /** Every prompt, recounted by the model's own tokenizer and as llama.cpp evaluated it, fits with its answer. */
  const expectAllFit = (llm: Recording, recorded: number[]) => {
    expect(llm.seen.length).toBeGreaterThan(0);
    llm.seen.forEach(({ req, res }, i) => {
      const counted = llama.countMessageTokens(req.messages);
      expect(counted).toBe(recorded[i]);
      expect(res.usage.promptTokens).toBe(counted);
      expect(res.usage.estimated).toBe(false);
      expect(counted + req.maxTokens).toBeLessThanOrEqual(512);
      expect(res.usage.completionTokens).toBeLessThanOrEqual(req.maxTokens);
    });
  };

  it('uses the model tokenizer, and the story is several windows long', () => {
    expect(llama.contextWindow).toBe(512);
    expect(llama.tokenCountIsEstimate).toBe(false);
    expect(llama.countTokens(STORY)).toBeGreaterThan(3 * 512);
  });

  it('answers by retrieval within the window', async () => {
    const { result, llm } = await run('rag');
    expectAllFit(
      llm,
      result.calls.map((c) => c.promptTokens),
    );
    expect(result.calls).toHaveLength(1);
    expect(result.extractive).toBe(false);
    expect(result.answer.length).toBeGreaterThan(0);
    expect(result.contextTokens).toBeGreaterThan(0);
    expect(result.fullContextTokens).toBeGreaterThan(result.totals.promptTokens);
  });

  it('answers with full context middle-truncated to the window', async () => {
    const { result, llm } = await run('full');
    expectAllFit(
      llm,
      result.calls.map((c) => c.promptTokens),
    );
    expect(result.truncated!.droppedTokens).toBeGreaterThan(0);
    expect(result.truncated!.keptTokens).toBe(result.contextTokens);
    expect(result.truncated!.keptTokens + result.truncated!.droppedTokens).toBe(llama.countTokens(STORY));
    const task = llm.seen[0]!.req.task;
    const parts = task?.kind === 'answer' ? task.passages : [];
    expect(parts[0]!.start).toBe(0);
    expect(parts.at(-1)!.end).toBe(STORY.length);
  });

  it('runs Chain-of-Agents over several segments, each prompt in the window', async () => {
    const { result, llm, events } = await run('coa');
    expectAllFit(
      llm,
      result.calls.map((c) => c.promptTokens),
    );
    expect(result.segments!.count).toBeGreaterThanOrEqual(4);
    expect(result.calls).toHaveLength(result.segments!.count + 1);
    expect(result.notes).toHaveLength(result.segments!.count);
    expect(result.contextTokens).toBe(result.segments!.tokensPerSegment.reduce((a, b) => a + b, 0));
    // Segments tile the story: their token counts add up to about the whole (seams cost a token or so each).
    expect(Math.abs(result.contextTokens - llama.countTokens(STORY))).toBeLessThanOrEqual(2 * result.segments!.count);
    expect(
      events
        .filter((e) => e.type === 'progress' && e.stage === 'segment')
        .map((e) => (e.type === 'progress' ? e.index : 0)),
    ).toEqual(Array.from({ length: result.segments!.count }, (_, i) => i + 1));
    expect(events.some((e) => e.type === 'token')).toBe(true);
  });

  it('cancels a chain between segments', async () => {
    const abort = new AbortController();
    const llm = new Recording(llama);
    await expect(
      service.answer({
        namespace: NS,
        question: 'What did Lily find?',
        documentIds: ['story'],
        strategy: 'coa',
        selection: { kind: 'top-k', k: 2 },
        score: 'hybrid',
        hybridAlpha: 0.5,
        llm,
        signal: abort.signal,
        onEvent: (e) => e.type === 'progress' && e.stage === 'segment' && e.index === 1 && abort.abort(),
      }),
    ).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(llm.seen).toHaveLength(1);
  });
  describe('the retrieval probe, judging what the real model wrote', () => {
    const query = async (maxAnswerTokens: number) => {
      const config = loadConfig(
        {},
        {
          dotenvPath: null,
          overrides: {
            LLM_MAX_ANSWER_TOKENS: 48,
            LOG_LEVEL: 'silent',
            ROUTER_PROBE_MAX_ANSWER_TOKENS: maxAnswerTokens,
          },
        },
      );
      const answers = new AnswerService({
        retrieval: stores.retrieval,
        llm: llama,
        maxAnswerTokens: config.LLM_MAX_ANSWER_TOKENS,
        logger,
      });
      const router = new QueryService({
        retrieval: stores.retrieval,
        answers,
        router: routerSettings(config),
        readers: readerChoices(config),
        logger,
      });
      const llm = new Recording(llama);
      const result = await router.query({
        namespace: NS,
        question: 'What did Lily find in the park?',
        documentIds: ['story'],
        selection: { kind: 'top-k', k: 2 },
        score: 'hybrid',
        hybridAlpha: 0.5,
        llm,
      });
      return { result, llm };
    };

    it('keeps the retrieval answer when the limit allows its length: one call', async () => {
      const { result, llm } = await query(1000);
      const d = result.decision;
      expect(d.probe).toMatchObject({ requested: true, active: true, maxAnswerTokens: 1000 });
      expect(d.probe.verdict).toEqual(judgeProbe(result.answer, 1000));
      expect(d.probe.verdict!.keep).toBe(true);
      expect(result.strategy).toBe('rag');
      expect(d.escalated).toBeNull();
      expect(llm.seen).toHaveLength(1);
    });

    it('escalates the same answer with a limit of 0 to Chain-of-Agents, the story being longer than the window', async () => {
      const { result, llm } = await query(0);
      const d = result.decision;
      const first = d.escalated?.firstAttempt;
      expect(first?.strategy).toBe('rag');
      expect(d.probe.verdict).toEqual(judgeProbe(first!.answer, 0));
      // The model tells stories: it does not say the text lacks the answer, so only its length speaks.
      expect(d.probe.verdict!.why).toBe('long');
      expect(d.probe.fallback).toBe('coa');
      expect(d.escalated).toMatchObject({
        from: 'rag',
        to: 'coa',
        reason: expect.stringMatching(/the retrieval answer is long \(\d+ tokens, more than 0\)/),
      });
      expect(result.strategy).toBe('coa');
      expect(llm.seen.length).toBe(1 + result.calls.length);
      expectAllFit(
        llm,
        [...first!.calls, ...result.calls].map((c) => c.promptTokens),
      );
    });
  });
});
