import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import { AppError } from '../../errors.js';
import type { Embedder } from '../../ports/embedder.js';
import type { LlmProvider } from '../../ports/llm.js';
import { ExtractiveReader } from './extractive.js';
import { LlamaCppProvider } from './llama-cpp.js';
import { OpenAiChatProvider } from './openai.js';

export { ExtractiveReader, EXTRACTIVE_PREFIX } from './extractive.js';
export { LlamaCppProvider } from './llama-cpp.js';
export { OpenAiChatProvider } from './openai.js';

/**
 * The LLM named by LLM_PROVIDER; one line per provider. Synchronous: the
 * llama-cpp provider loads its model in the background (`health()` waits for it).
 */
export function createLlm(cfg: Config, deps: { embedder: Embedder; logger?: Logger }): LlmProvider {
  const logger = deps.logger?.child({ component: 'llm' });
  switch (cfg.LLM_PROVIDER) {
    case 'openai':
      return new OpenAiChatProvider({
        baseUrl: cfg.LLM_BASE_URL,
        apiKey: cfg.LLM_API_KEY,
        model: cfg.LLM_MODEL,
        contextWindow: cfg.LLM_CONTEXT_WINDOW,
        timeoutMs: cfg.LLM_TIMEOUT_MS,
        maxRetries: cfg.LLM_MAX_RETRIES,
        logger,
      });
    case 'llama-cpp':
      return new LlamaCppProvider({
        modelPath: cfg.LLAMA_MODEL_PATH,
        threads: cfg.LLAMA_THREADS,
        contextSize: cfg.LLM_CONTEXT_WINDOW,
        logger,
      });
    case 'extractive':
      return new ExtractiveReader({ embedder: deps.embedder });
    default:
      throw new AppError('CONFIG_INVALID', [`unknown LLM_PROVIDER ${String(cfg.LLM_PROVIDER)}`]);
  }
}
