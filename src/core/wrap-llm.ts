import type { CompletionRequest, CompletionResult, LlmProvider } from '../ports/llm.js';

/**
 * `llm` with its `complete` replaced; every other member forwards to `llm`
 * (getters, so a provider's live values stay live). What the LLM decorators
 * (concurrency limits, metrics) share.
 */
export function withComplete(
  llm: LlmProvider,
  complete: (req: CompletionRequest) => Promise<CompletionResult>,
): LlmProvider {
  return {
    get id() {
      return llm.id;
    },
    get model() {
      return llm.model;
    },
    get contextWindow() {
      return llm.contextWindow;
    },
    get kind() {
      return llm.kind;
    },
    get tokenCountIsEstimate() {
      return llm.tokenCountIsEstimate;
    },
    countTokens: (text) => llm.countTokens(text),
    countMessageTokens: (messages) => llm.countMessageTokens(messages),
    complete,
    ready: async () => llm.ready?.(),
    health: () => llm.health(),
    close: () => llm.close(),
  };
}
