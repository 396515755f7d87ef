import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LlamaLogLevel, getLlama, readGgufFileInfo } from 'node-llama-cpp';
import { LlamaCppProvider, readGgufHeader } from '../../src/adapters/llm/llama-cpp.js';
import type { CompletionRequest } from '../../src/ports/llm.js';
import { appErrorOf } from '../helpers/errors.js';

// A 260K-parameter TinyStories model (/work/shared/models/README.md): nonsense text, real llama.cpp.
const MODEL = '/work/shared/models/stories260K/stories260K.gguf';

const ask = (content: string, extra: Partial<CompletionRequest> = {}): CompletionRequest => ({
  messages: [{ role: 'user', content }],
  maxTokens: 32,
  temperature: 0,
  ...extra,
});

describe('LlamaCppProvider with stories260K', () => {
  let llm: LlamaCppProvider;
  let trainContext: number;
  beforeAll(async () => {
    llm = await LlamaCppProvider.load({ modelPath: MODEL, threads: 1, contextSize: 100_000 });
    const info = await readGgufFileInfo(MODEL);
    trainContext = Number((info.architectureMetadata as { context_length?: number }).context_length);
  });
  afterAll(async () => llm?.close());

  it('reads the context length from the GGUF header as node-llama-cpp does', () => {
    expect(readGgufHeader(MODEL).contextLength).toBe(trainContext);
  });

  it('caps the allocated context at the model training context', () => {
    expect(trainContext).toBeGreaterThan(0);
    expect(llm.contextWindow).toBe(trainContext);
  });

  it('counts tokens with the model tokenizer, exactly', async () => {
    const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
    const model = await llama.loadModel({ modelPath: MODEL });
    try {
      for (const text of [
        'Once upon a time',
        'Lily and Tom went to the park to play with a red ball.',
        'ünïcödé 123',
      ]) {
        expect(llm.countTokens(text)).toBe(model.tokenize(text).length);
      }
      expect(llm.tokenCountIsEstimate).toBe(false);
    } finally {
      await model.dispose();
      await llama.dispose();
    }
  });

  it('counts the chat template around messages', () => {
    const messages = [
      { role: 'system', content: 'Tell a story.' },
      { role: 'user', content: 'Once upon a time' },
    ] as const;
    const contents = llm.countTokens('Tell a story.') + llm.countTokens('Once upon a time');
    expect(llm.countMessageTokens(messages)).toBeGreaterThan(contents);
  });

  it('generates at most maxTokens tokens and reports exact usage', async () => {
    const res = await llm.complete(ask('Once upon a time', { maxTokens: 12 }));
    expect(res.usage.completionTokens).toBeGreaterThan(0);
    expect(res.usage.completionTokens).toBeLessThanOrEqual(12);
    expect(res.usage.promptTokens).toBe(llm.countMessageTokens([{ role: 'user', content: 'Once upon a time' }]));
    expect(res.usage.estimated).toBe(false);
    expect(['length', 'stop']).toContain(res.finishReason);
  });

  it('is deterministic at temperature 0', async () => {
    const a = await llm.complete(ask('Tom had a dog', { maxTokens: 16 }));
    const b = await llm.complete(ask('Tom had a dog', { maxTokens: 16 }));
    expect(b.text).toBe(a.text);
  });

  it('streams pieces that concatenate to the final text', async () => {
    const pieces: string[] = [];
    const res = await llm.complete(ask('Lily saw a cat', { maxTokens: 24, onToken: (t) => pieces.push(t) }));
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.join('')).toBe(res.text);
  });

  it('stops early when the caller aborts mid-generation', async () => {
    const ac = new AbortController();
    const pieces: string[] = [];
    const res = await llm.complete(
      ask('Once upon a time', {
        maxTokens: 200,
        signal: ac.signal,
        onToken: (t) => {
          pieces.push(t);
          if (pieces.length === 3) ac.abort();
        },
      }),
    );
    expect(res.finishReason).toBe('cancelled');
    expect(res.usage.completionTokens).toBeLessThan(200);
    expect(pieces.length).toBeLessThan(10);
  });

  it('rejects a prompt over the window before generating anything', async () => {
    const long = 'the cat sat on the mat '.repeat(600);
    expect(llm.countTokens(long)).toBeGreaterThan(llm.contextWindow);
    const pieces: string[] = [];
    const err = await appErrorOf(llm.complete(ask(long, { onToken: (t) => pieces.push(t) })));
    expect(err.code).toBe('LLM_CONTEXT_OVERFLOW');
    expect(pieces).toEqual([]);
  });

  it('rejects a prompt that fits only without room for maxTokens', async () => {
    const prompt = 'the cat sat on the mat '.repeat(40);
    const promptTokens = llm.countMessageTokens([{ role: 'user', content: prompt }]);
    const err = await appErrorOf(llm.complete(ask(prompt, { maxTokens: llm.contextWindow - promptTokens + 1 })));
    expect(err.code).toBe('LLM_CONTEXT_OVERFLOW');
    const ok = await llm.complete(ask(prompt, { maxTokens: 4 }));
    expect(ok.usage.promptTokens).toBe(promptTokens);
  });

  it('serialises concurrent calls on its one sequence', async () => {
    const results = await Promise.all(
      [1, 2, 3].map((i) => llm.complete(ask(`Story ${i}: Once upon a time`, { maxTokens: 8 }))),
    );
    for (const r of results) expect(r.usage.completionTokens).toBeGreaterThan(0);
  });
});

describe('LlamaCppProvider failures', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'llama-cpp-test-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('fails with LLM_UNAVAILABLE when the model file is missing', () => {
    expect(() => new LlamaCppProvider({ modelPath: join(dir, 'missing.gguf') })).toThrowError(
      expect.objectContaining({ code: 'LLM_UNAVAILABLE' }) as Error,
    );
  });

  it('fails with LLM_UNAVAILABLE when the file is not a GGUF', async () => {
    const path = join(dir, 'not-a-model.gguf');
    await writeFile(path, 'hello world, not a model at all');
    expect(() => new LlamaCppProvider({ modelPath: path })).toThrowError(
      expect.objectContaining({ code: 'LLM_UNAVAILABLE' }) as Error,
    );
  });

  it('allocates a smaller context when asked, and closes idempotently', async () => {
    const path = join(dir, 'copy.gguf');
    await copyFile(MODEL, path);
    const small = await LlamaCppProvider.load({ modelPath: path, contextSize: 256 });
    expect(small.contextWindow).toBe(256);
    expect(small.model).toBe('copy');
    await small.close();
    await small.close();
    await expect(small.health()).rejects.toMatchObject({ code: 'LLM_UNAVAILABLE' });
  });
});
