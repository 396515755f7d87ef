import type { Logger } from 'pino';
import type { ChoiceOf, Config } from '../../config.js';
import type { Embedder } from '../../ports/embedder.js';
import type { LlmProvider } from '../../ports/llm.js';
import { lookup, type Registry } from '../registry.js';
import { ExtractiveReader } from './extractive.js';
import { LlamaCppProvider } from './llama-cpp.js';
import { OpenAiChatProvider } from './openai.js';

export { ExtractiveReader, EXTRACTIVE_PREFIX } from './extractive.js';
export { LlamaCppProvider } from './llama-cpp.js';
export { OpenAiChatProvider } from './openai.js';

/** What an LLM provider is built from. */
export interface LlmDeps {
  /** The LLM_* and LLAMA_* settings. */
  config: Config;
  /** The model to ask: LLM_MODEL, or one of ROUTER_ALLOWED_MODELS a request chose (openai only). */
  model: string;
  /** The extractive reader ranks sentences with it. */
  embedder: Embedder;
  logger: Logger | undefined;
}

/**
 * The LLM providers by LLM_PROVIDER name; one line per provider. Synchronous:
 * the llama-cpp provider loads its model in the background (`health()` waits for it).
 */
export const llms: Registry<ChoiceOf<'LLM_PROVIDER'>, LlmDeps, LlmProvider> = Object.freeze({
  openai: ({ config, model, logger }) =>
    new OpenAiChatProvider({
      baseUrl: config.LLM_BASE_URL,
      apiKey: config.LLM_API_KEY,
      model,
      contextWindow: config.LLM_CONTEXT_WINDOW,
      timeoutMs: config.LLM_TIMEOUT_MS,
      maxRetries: config.LLM_MAX_RETRIES,
      logger,
    }),
  'llama-cpp': ({ config, logger }) =>
    new LlamaCppProvider({
      modelPath: config.LLAMA_MODEL_PATH,
      threads: config.LLAMA_THREADS,
      contextSize: config.LLM_CONTEXT_WINDOW,
      logger,
    }),
  extractive: ({ embedder }) => new ExtractiveReader({ embedder }),
});

/**
 * The LLM named by `deps.provider` (default LLM_PROVIDER) asking `deps.model`
 * (default LLM_MODEL): the container's reader, and the readers a request may
 * choose (see `readerChoices` in src/container.ts).
 */
export function createLlm(
  cfg: Config,
  deps: { embedder: Embedder; logger?: Logger; provider?: string; model?: string },
): LlmProvider {
  const provider = deps.provider ?? cfg.LLM_PROVIDER;
  return lookup(
    llms,
    'LLM_PROVIDER',
    provider,
  )({
    config: cfg,
    model: deps.model ?? cfg.LLM_MODEL,
    embedder: deps.embedder,
    logger: deps.logger?.child({ component: 'llm' }),
  });
}
