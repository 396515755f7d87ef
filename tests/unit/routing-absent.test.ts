import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cl100k } from '../../src/core/tokenizer.js';
import type { ChatMessage, CompletionRequest, CompletionResult, LlmProvider } from '../../src/ports/llm.js';
import { lighthouseDocument } from '../helpers/documents.js';
import { startServer, waitForJob, type TestServer } from '../helpers/server.js';

/**
 * The absent-terms rule end to end: a question naming things the document
 * never mentions is read by retrieval once, without the Self-Route decline
 * instruction and escalation that would hand it to a whole-text reader.
 */

/**
 * A generative LLM that cannot run here (a remote API), replaced by the port it
 * implements: counts tokens as OpenAI chat models do, declines prompts that
 * allow declining (so an escalation would show), and answers otherwise.
 */
class DecliningLlm implements LlmProvider {
  readonly id = 'scripted';
  readonly model = 'decliner';
  readonly kind = 'generative' as const;
  readonly tokenCountIsEstimate = false;
  readonly contextWindow = 32_768;
  readonly requests: CompletionRequest[] = [];
  countTokens(text: string): number {
    return cl100k.count(text);
  }
  countMessageTokens(messages: readonly ChatMessage[]): number {
    return messages.reduce((n, m) => n + 4 + cl100k.count(m.content), 3);
  }
  async complete(req: CompletionRequest): Promise<CompletionResult> {
    this.requests.push(req);
    const system = req.messages[0]?.content ?? '';
    const text = /reply with the single word UNANSWERABLE/.test(system) ? 'UNANSWERABLE' : 'Admiral Pimento.';
    return { text, usage: { promptTokens: this.countMessageTokens(req.messages), completionTokens: cl100k.count(text), estimated: false }, latencyMs: 1, finishReason: 'stop' };
  }
  async health(): Promise<void> {}
  async close(): Promise<void> {}
}

describe('a question about things the documents never mention', () => {
  let s: TestServer;
  let llm: DecliningLlm;
  beforeAll(async () => {
    llm = new DecliningLlm();
    // Gap rules that would read this question whole, so only the absent-terms rule can send it to retrieval.
    s = await startServer({ ROUTER_MIN_RELATIVE_GAP: 1, ROUTER_MIN_ABSENT_TERMS: 2, ROUTER_MAX_QUESTION_WORDS: 0 }, { llm });
    const r = await s.call('POST', '/v1/documents', { id: 'lighthouse', title: 'lighthouse', text: lighthouseDocument() });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect((await waitForJob(s, r.body.jobId)).state).toBe('completed');
  }, 180_000);
  afterAll(async () => s?.close());

  it('is read by retrieval once, without Self-Route escalation, saying why', async () => {
    const r = await s.call('POST', '/v1/query', { question: 'What colour was the umbrella of the lighthouse keeper?', documentIds: ['lighthouse'] });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const d = r.body.decision;
    expect(d.strategy).toBe('rag');
    expect(d.reasons.join(' ')).toMatch(/uses 2 terms the documents never do \("colour", "umbrella"\), at least 2: its answer may not be in the text/);
    expect(d.selfRoute).toEqual({ requested: true, active: false, note: expect.stringMatching(/its answer may not be in the text/) });
    expect(d.escalated).toBeNull();
    // One reading of the retrieved passages, with the ordinary prompt: the reader says what it finds there.
    expect(llm.requests).toHaveLength(1);
    expect(llm.requests[0]!.messages[0]!.content).not.toMatch(/UNANSWERABLE/);
    expect(r.body.strategy).toBe('rag');
  });

  it('leaves a question whose terms the document uses to the evidence rules', async () => {
    const r = await s.call('POST', '/v1/query', { question: 'What was the name of the lighthouse keeper’s parrot?', documentIds: ['lighthouse'], selfRoute: false });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.decision.strategy).toBe('full');
    expect(r.body.decision.reasons.join(' ')).not.toMatch(/never do/);
  });
});
