import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLlm } from '../../src/adapters/llm/index.js';
import { ExtractiveReader } from '../../src/adapters/llm/extractive.js';
import { LlamaCppProvider } from '../../src/adapters/llm/llama-cpp.js';
import { OpenAiChatProvider } from '../../src/adapters/llm/openai.js';
import { ConcurrencyLimiter, limitLlm } from '../../src/core/limits.js';
import { HashingEmbedder } from './llm-test-embedder.js';

const config = (overrides: NonNullable<Parameters<typeof loadConfig>[1]>['overrides']) =>
  loadConfig({}, { dotenvPath: null, overrides });

describe('createLlm', () => {
  it('defaults to the extractive reader over the given embedder', () => {
    const llm = createLlm(config({}), { embedder: new HashingEmbedder() });
    expect(llm).toBeInstanceOf(ExtractiveReader);
    expect(llm.kind).toBe('extractive');
    expect(llm.model).toBe('extractive:test-hashing-256');
  });

  it('builds the OpenAI-compatible provider from LLM_* settings', () => {
    const llm = createLlm(
      config({
        LLM_PROVIDER: 'openai',
        LLM_BASE_URL: 'http://127.0.0.1:1/v1',
        LLM_MODEL: 'qwen',
        LLM_CONTEXT_WINDOW: 32768,
      }),
      { embedder: new HashingEmbedder() },
    );
    expect(llm).toBeInstanceOf(OpenAiChatProvider);
    expect(llm.model).toBe('qwen');
    expect(llm.contextWindow).toBe(32768);
    expect(llm.tokenCountIsEstimate).toBe(true);
  });

  it('builds the llama.cpp provider from LLAMA_* settings, its window capped by the GGUF', async () => {
    const llm = createLlm(
      config({
        LLM_PROVIDER: 'llama-cpp',
        LLAMA_MODEL_PATH: '/work/shared/models/stories260K/stories260K.gguf',
        LLM_CONTEXT_WINDOW: 8192,
        LLM_MAX_ANSWER_TOKENS: 64,
      }),
      { embedder: new HashingEmbedder() },
    );
    try {
      expect(llm).toBeInstanceOf(LlamaCppProvider);
      expect(llm.contextWindow).toBe(2048);
      await llm.health();
      expect(llm.tokenCountIsEstimate).toBe(false);
    } finally {
      await llm.close();
    }
  });

  it('makes the reader the server waits for at start ready once the llama.cpp model has loaded, through the limit wrapper', async () => {
    const llm = createLlm(
      config({
        LLM_PROVIDER: 'llama-cpp',
        LLAMA_MODEL_PATH: '/work/shared/models/stories260K/stories260K.gguf',
        LLM_MAX_ANSWER_TOKENS: 64,
      }),
      { embedder: new HashingEmbedder() },
    );
    const reader = limitLlm(llm, new ConcurrencyLimiter({ max: 1, what: 'LLM calls' }));
    try {
      expect(reader.ready).toBeTypeOf('function');
      await reader.ready?.();
      expect(reader.tokenCountIsEstimate).toBe(false);
    } finally {
      await llm.close();
    }
  });

  it('gives the extractive reader nothing to wait for', () => {
    expect(createLlm(config({}), { embedder: new HashingEmbedder() }).ready).toBeUndefined();
  });
});
