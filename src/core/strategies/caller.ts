import type { Logger } from '../../ports/logger.js';
import { AppError } from '../../errors.js';
import type { ChatMessage, CompletionResult, LlmProvider, ReadingTask } from '../../ports/llm.js';
import { assertFits } from './budget.js';
import type { AnswerEvent, LlmCallRecord } from './types.js';

/**
 * Sends every LLM call of one answer run: counts the prompt with the
 * provider's tokenizer and refuses it if it would not fit the window, passes
 * the cancellation signal, streams tokens of answer calls, and records each
 * call for the result.
 */
export class LlmCaller {
  readonly calls: LlmCallRecord[] = [];

  constructor(
    readonly llm: LlmProvider,
    private readonly opts: { signal?: AbortSignal; emit: (e: AnswerEvent) => void; logger?: Logger },
  ) {}

  /** Reports an event to the run's listener. */
  emit(e: AnswerEvent): void {
    this.opts.emit(e);
  }

  /** Throws CANCELLED once the run's signal has fired (checked between steps). */
  checkCancelled(): void {
    if (this.opts.signal?.aborted) throw new AppError('CANCELLED', [], { cause: this.opts.signal.reason });
  }

  async call(input: {
    role: LlmCallRecord['role'];
    index: number | null;
    messages: readonly ChatMessage[];
    task: ReadingTask;
    maxTokens: number;
    /** Emit the completion's tokens as `token` events (the final answer only). */
    stream: boolean;
    /** The messages' token count, when the strategy has just counted these very messages with this provider. */
    promptTokens?: number;
  }): Promise<CompletionResult> {
    this.checkCancelled();
    const promptTokens = assertFits(
      this.llm,
      input.messages,
      input.maxTokens,
      input.index === null ? input.role : `${input.role} ${input.index}`,
      input.promptTokens,
    );
    const res = await this.llm.complete({
      messages: input.messages,
      task: input.task,
      maxTokens: input.maxTokens,
      temperature: 0,
      ...(this.opts.signal ? { signal: this.opts.signal } : {}),
      ...(input.stream ? { onToken: (text: string) => this.opts.emit({ type: 'token', text }) } : {}),
    });
    const record: LlmCallRecord = {
      role: input.role,
      index: input.index,
      promptTokens,
      completionTokens: res.usage.completionTokens,
      estimated: this.llm.tokenCountIsEstimate || res.usage.estimated,
      latencyMs: res.latencyMs,
      finishReason: res.finishReason,
    };
    this.calls.push(record);
    this.opts.logger?.debug({ call: record }, 'llm call');
    this.opts.emit({ type: 'call', call: record });
    // A provider that stops on abort returns normally; the run still ends here.
    this.checkCancelled();
    return res;
  }
}
