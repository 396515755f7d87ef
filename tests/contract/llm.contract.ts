import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../src/errors.js';
import type { CompletionRequest, LlmProvider } from '../../src/ports/llm.js';

const DOCUMENT =
  'The lighthouse keeper was named Tomas. He lit the lamp every evening at dusk. ' +
  'Ships passed the rocky point safely because of him. One winter the lamp broke during a storm.';

/** A request every provider can serve: generative ones read the messages, the extractive one the task. */
export function contractRequest(overrides: Partial<CompletionRequest> = {}): CompletionRequest {
  const question = 'Who kept the lighthouse?';
  return {
    messages: [
      { role: 'system', content: 'Answer from the context only.' },
      { role: 'user', content: `Context:\n${DOCUMENT}\n\nQuestion: ${question}` },
    ],
    task: {
      kind: 'answer',
      question,
      passages: [{ documentId: 'doc-1', chunkId: 'c1', start: 0, end: DOCUMENT.length, text: DOCUMENT }],
    },
    maxTokens: 24,
    temperature: 0,
    ...overrides,
  };
}

/**
 * The behaviour every LlmProvider shares, run against each adapter (the way
 * unstorage runs one driver suite over every driver).
 */
export function llmContract(name: string, make: () => Promise<LlmProvider>): void {
  describe(`LlmProvider contract: ${name}`, () => {
    let llm: LlmProvider;
    beforeAll(async () => {
      llm = await make();
    });
    afterAll(async () => {
      await llm?.close();
    });

    it('declares a positive context window, an id, a model and a kind', () => {
      expect(llm.contextWindow).toBeGreaterThan(0);
      expect(Number.isInteger(llm.contextWindow)).toBe(true);
      expect(llm.id).toMatch(/^(openai|llama-cpp|extractive)$/);
      expect(llm.model.length).toBeGreaterThan(0);
      expect(['generative', 'extractive']).toContain(llm.kind);
    });

    it('counts zero tokens for empty text and more tokens for longer text', () => {
      expect(llm.countTokens('')).toBe(0);
      const short = llm.countTokens('The lamp broke.');
      const long = llm.countTokens('The lamp broke. '.repeat(20));
      expect(short).toBeGreaterThan(0);
      expect(long).toBeGreaterThan(short * 10);
    });

    it('counts message tokens as at least the tokens of their contents', () => {
      const req = contractRequest();
      const contents = req.messages.reduce((n, m) => n + llm.countTokens(m.content), 0);
      expect(llm.countMessageTokens(req.messages)).toBeGreaterThanOrEqual(contents);
    });

    it('completes a request with text, usage, latency and a finish reason', async () => {
      const res = await llm.complete(contractRequest());
      expect(res.text.length).toBeGreaterThan(0);
      expect(res.usage.promptTokens).toBeGreaterThan(0);
      expect(res.usage.completionTokens).toBeGreaterThan(0);
      expect(typeof res.usage.estimated).toBe('boolean');
      expect(res.latencyMs).toBeGreaterThanOrEqual(0);
      expect(['stop', 'length', 'cancelled', 'unknown']).toContain(res.finishReason);
    });

    it('streams pieces through onToken that concatenate to the final text', async () => {
      const pieces: string[] = [];
      const res = await llm.complete(contractRequest({ onToken: (t) => pieces.push(t) }));
      expect(pieces.length).toBeGreaterThan(0);
      expect(pieces.join('')).toBe(res.text);
    });

    it('does not run a request whose signal is already aborted', async () => {
      const ac = new AbortController();
      ac.abort();
      const pieces: string[] = [];
      const outcome = await llm.complete(contractRequest({ signal: ac.signal, onToken: (t) => pieces.push(t) })).then(
        (res) => ({ res }),
        (err: unknown) => ({ err }),
      );
      if ('err' in outcome) {
        expect(isAppError(outcome.err) && outcome.err.code).toBe('CANCELLED');
      } else {
        expect(outcome.res.finishReason).toBe('cancelled');
      }
      expect(pieces).toEqual([]);
    });

    it('reports healthy', async () => {
      await expect(llm.health()).resolves.toBeUndefined();
    });
  });
}
