import { AppError } from '../../src/errors.js';
import { cl100k } from '../../src/core/tokenizer.js';
import type { ChatMessage, CompletionRequest, CompletionResult, LlmProvider } from '../../src/ports/llm.js';

/** What a {@link ScriptedLlm} replies to the `n`-th request it accepts (from 0). */
export type LlmScript = (req: CompletionRequest, n: number) => string;

/**
 * A generative LLM that cannot run here (a remote API), replaced by the port
 * it implements: counts tokens as OpenAI chat models do (cl100k, 4 tokens per
 * message, 3 to prime the reply), records every request, and answers from a
 * script. Like a real server it refuses a prompt that does not fit its window.
 */
export class ScriptedLlm implements LlmProvider {
  readonly id = 'scripted';
  readonly model = 'fake';
  readonly kind = 'generative' as const;
  readonly tokenCountIsEstimate = false;
  readonly requests: Array<CompletionRequest & { promptTokens: number }> = [];
  constructor(
    readonly contextWindow: number,
    private readonly script: LlmScript = (req, n) => (req.task?.kind === 'coa-worker' ? `note-${n}` : 'the answer'),
  ) {}
  countTokens(text: string): number {
    return cl100k.count(text);
  }
  countMessageTokens(messages: readonly ChatMessage[]): number {
    return messages.reduce((n, m) => n + 4 + cl100k.count(m.content), 3);
  }
  async complete(req: CompletionRequest): Promise<CompletionResult> {
    if (req.signal?.aborted) throw new AppError('CANCELLED');
    const promptTokens = this.countMessageTokens(req.messages);
    if (promptTokens + req.maxTokens > this.contextWindow)
      throw new AppError('LLM_REJECTED', ['context length exceeded']);
    this.requests.push({ ...req, promptTokens });
    const text = this.script(req, this.requests.length - 1);
    req.onToken?.(text);
    return {
      text,
      usage: { promptTokens, completionTokens: cl100k.count(text), estimated: false },
      latencyMs: 1,
      finishReason: 'stop',
    };
  }
  async health(): Promise<void> {}
  async close(): Promise<void> {}
  /** The messages of the `i`-th request, joined. */
  prompt(i: number): string {
    return this.requests[i]!.messages.map((m) => m.content).join('\n');
  }
}

/**
 * Declines every prompt that allows declining (Self-Route's UNANSWERABLE
 * instruction), so an escalation shows; otherwise names the parrot of the
 * needle and lighthouse documents (tests/helpers/documents.ts).
 */
export const declining: LlmScript = (req) => {
  const system = req.messages[0]?.content ?? '';
  return /reply with the single word UNANSWERABLE/.test(system)
    ? 'UNANSWERABLE'
    : req.task?.kind === 'coa-worker'
      ? 'note'
      : 'Admiral Pimento.';
};

/**
 * Forwards every member of the port to `inner`: a base for wrappers that
 * watch or hold calls to a real provider, overriding only what they change.
 */
export class ForwardingLlm<L extends LlmProvider = LlmProvider> implements LlmProvider {
  constructor(protected readonly inner: L) {}
  get id() {
    return this.inner.id;
  }
  get model() {
    return this.inner.model;
  }
  get contextWindow() {
    return this.inner.contextWindow;
  }
  get kind() {
    return this.inner.kind;
  }
  get tokenCountIsEstimate() {
    return this.inner.tokenCountIsEstimate;
  }
  countTokens(t: string) {
    return this.inner.countTokens(t);
  }
  countMessageTokens(m: readonly ChatMessage[]) {
    return this.inner.countMessageTokens(m);
  }
  complete(req: CompletionRequest): Promise<CompletionResult> {
    return this.inner.complete(req);
  }
  health() {
    return this.inner.health();
  }
  close() {
    return this.inner.close();
  }
}
