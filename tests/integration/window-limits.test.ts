import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { AppError } from '../../src/errors.js';
import { cl100k } from '../../src/core/tokenizer.js';
import type { ChatMessage, CompletionRequest, CompletionResult, LlmProvider } from '../../src/ports/llm.js';
import { AnswerService, type AnswerInput } from '../../src/core/strategies/answer-service.js';
import { LARA_DIR } from '../helpers/paths.js';
import { openStores, type Stores } from '../helpers/stores.js';

const WINDOW = 8192;

/**
 * A GPT-4-class chat model with an 8k window, as the port sees it: cl100k
 * counting with OpenAI's per-message overhead. Like the real endpoint it
 * rejects a prompt that does not fit, and it records every request.
 */
class Window8k implements LlmProvider {
  readonly id = 'openai-like';
  readonly model = 'gpt-8k';
  readonly kind = 'generative' as const;
  readonly tokenCountIsEstimate = false;
  readonly contextWindow = WINDOW;
  readonly requests: Array<{ req: CompletionRequest; promptTokens: number }> = [];
  countTokens(text: string): number {
    return cl100k.count(text);
  }
  countMessageTokens(messages: readonly ChatMessage[]): number {
    return messages.reduce((n, m) => n + 4 + cl100k.count(m.content), 3);
  }
  async complete(req: CompletionRequest): Promise<CompletionResult> {
    const promptTokens = this.countMessageTokens(req.messages);
    if (promptTokens + req.maxTokens > WINDOW)
      throw new AppError('LLM_REJECTED', [`maximum context length is ${WINDOW} tokens`]);
    this.requests.push({ req, promptTokens });
    const text =
      req.task?.kind === 'coa-worker' ? `Notes after part ${req.task.index + 1}: nothing yet.` : 'An answer.';
    return {
      text,
      usage: { promptTokens, completionTokens: cl100k.count(text), estimated: false },
      latencyMs: 1,
      finishReason: 'stop',
    };
  }
  async health(): Promise<void> {}
  async close(): Promise<void> {}
}

const FILES = {
  book: 'documents/128k/book/Cranford.txt',
  financial: 'documents/128k/financial/Tesla, Inc..txt',
  paper: 'documents/128k/paper/128k_paper_0.md',
} as const;

describe('prompts fit an 8k window on 128k-token LaRA documents', () => {
  const NS = 'lara';
  let stores: Stores;
  let service: AnswerService;
  const texts = new Map<string, string>();
  const cfg = loadConfig({}, { dotenvPath: null, overrides: { LOG_LEVEL: 'silent' } });
  const logger = pino({ level: 'silent' });

  beforeAll(async () => {
    stores = await openStores(
      'air-window-limits-',
      {
        chunkTokens: 400,
        overlapTokens: 40,
        maxDocumentTokens: 2_000_000,
        embedBatchSize: 256,
        namespaceCandidates: 200,
      },
      logger,
    );
    for (const [id, file] of Object.entries(FILES)) {
      const text = await readFile(join(LARA_DIR, file), 'utf8');
      texts.set(id, text);
      await stores.documents.submit({ namespace: NS, id, title: file.split('/').at(-1)!, text, source: 'json' });
    }
    await stores.queue.drain();
    service = new AnswerService({
      retrieval: stores.retrieval,
      llm: new Window8k(),
      maxAnswerTokens: cfg.LLM_MAX_ANSWER_TOKENS,
      logger,
    });
  });
  afterAll(async () => stores?.close());

  const ask = (llm: Window8k, over: Partial<AnswerInput>) =>
    service.answer({
      namespace: NS,
      question: 'What did Miss Matty do after the bank failed?',
      documentIds: ['book'],
      strategy: 'full',
      selection: { kind: 'adaptive-k', a: 0, b: 0.1, buffer: 5 },
      score: 'hybrid',
      hybridAlpha: 0.5,
      llm,
      ...over,
    });
  const expectFits = (llm: Window8k) => {
    expect(llm.requests.length).toBeGreaterThan(0);
    for (const { req, promptTokens } of llm.requests) expect(promptTokens + req.maxTokens).toBeLessThanOrEqual(WINDOW);
  };

  it('holds documents far larger than the window', () => {
    for (const t of texts.values()) expect(cl100k.count(t)).toBeGreaterThan(10 * WINDOW);
  });

  for (const id of Object.keys(FILES)) {
    it(`middle-truncates the ${id} document to fit, keeping its head and tail`, async () => {
      const llm = new Window8k();
      const r = await ask(llm, { documentIds: [id] });
      expectFits(llm);
      const text = texts.get(id)!;
      const parts = llm.requests[0]!.req.task?.kind === 'answer' ? llm.requests[0]!.req.task.passages : [];
      expect(parts[0]!.start).toBe(0);
      expect(parts.at(-1)!.end).toBe(text.length);
      for (const p of parts) expect(text.slice(p.start, p.end)).toBe(p.text);
      expect(r.truncated!.keptTokens + r.truncated!.droppedTokens).toBe(cl100k.count(text));
      expect(r.truncated!.droppedShare).toBeGreaterThan(0.9);
      // Nearly the whole window is used: little is lost to sentence cuts.
      expect(llm.requests[0]!.promptTokens).toBeGreaterThan(0.95 * (WINDOW - llm.requests[0]!.req.maxTokens));
      expect(r.fullContextTokens).toBeGreaterThan(10 * WINDOW);
    });
  }

  it('middle-truncates several documents together within one window', async () => {
    const llm = new Window8k();
    const r = await ask(llm, { documentIds: ['book', 'financial', 'paper'] });
    expectFits(llm);
    const parts = llm.requests[0]!.req.task?.kind === 'answer' ? llm.requests[0]!.req.task.passages : [];
    expect(new Set(parts.map((p) => p.documentId))).toEqual(new Set(['book', 'financial', 'paper']));
    expect(r.truncated!.keptTokens).toBeLessThan(WINDOW);
  });

  it('cuts Chain-of-Agents segments that each fit, covering the whole document', async () => {
    const llm = new Window8k();
    const r = await ask(llm, { strategy: 'coa' });
    expectFits(llm);
    const text = texts.get('book')!;
    const segments = llm.requests.flatMap(({ req }) => (req.task?.kind === 'coa-worker' ? [req.task.segment] : []));
    expect(segments.length).toBe(r.segments!.count);
    expect(segments.length).toBeGreaterThanOrEqual(Math.ceil(cl100k.count(text) / WINDOW));
    expect(segments[0]!.start).toBe(0);
    for (let i = 1; i < segments.length; i++) expect(segments[i]!.start).toBe(segments[i - 1]!.end);
    expect(segments.at(-1)!.end).toBe(text.length);
    // Segments are not wastefully small: all but the last use most of what a worker may read.
    const sizes = r.segments!.tokensPerSegment;
    expect(Math.min(...sizes.slice(0, -1))).toBeGreaterThan(0.8 * Math.max(...sizes));
  });

  it('fits retrieval prompts, dropping the lowest-scored chunks when a selection is too large', async () => {
    const llm = new Window8k();
    await ask(llm, { strategy: 'rag', documentIds: null });
    // 60 chunks of the three named documents (~24k tokens) into an 8k window.
    const big = new Window8k();
    const r = await ask(big, {
      strategy: 'rag',
      documentIds: ['book', 'financial', 'paper'],
      selection: { kind: 'top-k', k: 60 },
    });
    expectFits(llm);
    expectFits(big);
    expect(r.retrieval!.droppedForWindow!.chunkIds.length).toBeGreaterThan(30);
    expect(big.requests[0]!.promptTokens).toBeGreaterThan(WINDOW - 512 - 600);
    // Over the whole namespace the library's own cap (LIBRARY_MAX_TOKENS, 12k) cuts the selection first, and the
    // window drops what is left over it.
    const library = new Window8k();
    const w = await ask(library, { strategy: 'rag', documentIds: null, selection: { kind: 'top-k', k: 60 } });
    expectFits(library);
    const cut = await stores.retrieval.retrieve({
      namespace: NS,
      question: 'What did Miss Matty do after the bank failed?',
      documentIds: null,
      method: { kind: 'top-k', k: 60 },
      score: 'hybrid',
      hybridAlpha: 0.5,
    });
    expect(cut.library!.readCap.cut!.k).toBe(60);
    expect(cut.selected.reduce((a, c) => a + c.tokens, 0)).toBeLessThanOrEqual(12_000);
    expect(w.retrieval!.droppedForWindow!.chunkIds.length).toBeGreaterThan(0);
    expect(w.retrieval!.droppedForWindow!.chunkIds.length).toBeLessThan(r.retrieval!.droppedForWindow!.chunkIds.length);
  });
});
