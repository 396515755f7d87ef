import { closeSync, openSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import type { Logger } from 'pino';
import { AppError } from '../../errors.js';
import { cl100k } from '../../core/tokenizer.js';
import type { ChatMessage, CompletionRequest, CompletionResult, LlmProvider } from '../../ports/llm.js';

// node-llama-cpp is an optional dependency loaded with import(): only its types are named here.
type NodeLlamaCpp = typeof import('node-llama-cpp');
type Llama = import('node-llama-cpp').Llama;
type LlamaModel = import('node-llama-cpp').LlamaModel;
type LlamaContext = import('node-llama-cpp').LlamaContext;
type LlamaCompletion = import('node-llama-cpp').LlamaCompletion;
type ChatWrapper = import('node-llama-cpp').ChatWrapper;
type ChatHistoryItem = import('node-llama-cpp').ChatHistoryItem;
type Token = import('node-llama-cpp').Token;
type LlamaText = import('node-llama-cpp').LlamaText;

export interface LlamaCppOptions {
  /** Path of a GGUF model file. */
  modelPath: string;
  /**
   * CPU threads for inference. Default 1: on a 2-core machine node-llama-cpp's
   * own default (4) was measured ~700x slower (threads fighting for cores).
   */
  threads?: number;
  /** Context to allocate, in tokens; capped by the model's training context. Default: the training context. */
  contextSize?: number;
  logger?: Logger;
}

interface Loaded {
  llama: Llama;
  model: LlamaModel;
  context: LlamaContext;
  completion: LlamaCompletion;
  wrapper: ChatWrapper;
}

/**
 * A GGUF model run in process by llama.cpp (node-llama-cpp v3), on the CPU
 * with its prebuilt binary: it never downloads or compiles anything.
 *
 * The constructor is synchronous (the composition root is): it reads the
 * context length from the GGUF header at once and starts loading the model in
 * the background. `complete()` and `health()` wait for the load; until it is
 * done `countTokens` falls back to cl100k and `tokenCountIsEstimate` is true.
 * Use `LlamaCppProvider.load()` to get an instance that is ready.
 *
 * Calls run one at a time on a single context sequence (llama.cpp evaluates
 * one sequence per context here; queuing keeps memory flat).
 */
export class LlamaCppProvider implements LlmProvider {
  readonly id = 'llama-cpp';
  readonly kind = 'generative' as const;
  readonly model: string;
  /** The context size allocated: `contextSize`, capped by the model's training context. */
  readonly contextWindow: number;
  private loaded: Loaded | null = null;
  private readonly loading: Promise<Loaded>;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly opts: LlamaCppOptions) {
    const meta = readGgufHeader(opts.modelPath);
    const train = meta.contextLength ?? opts.contextSize ?? 2048;
    this.contextWindow = Math.max(1, Math.min(opts.contextSize ?? train, train));
    // The file name identifies a quantisation better than general.name, which is often just the architecture.
    this.model = basename(opts.modelPath).replace(/\.gguf$/i, '') || (meta.name ?? 'gguf');
    this.loading = this.load();
    this.loading.then(
      (l) => (this.loaded = l),
      (err: unknown) => opts.logger?.error({ err }, 'llama.cpp model failed to load'),
    );
  }

  /** Constructs and waits until the model is loaded. */
  static async load(opts: LlamaCppOptions): Promise<LlamaCppProvider> {
    const p = new LlamaCppProvider(opts);
    await p.ready();
    return p;
  }

  get tokenCountIsEstimate(): boolean {
    return this.loaded === null;
  }

  /** Resolves once the model is loaded; rejects with LLM_UNAVAILABLE if it cannot be. */
  async ready(): Promise<void> {
    await this.loading;
  }

  countTokens(text: string): number {
    if (text === '') return 0;
    return this.loaded ? this.loaded.model.tokenize(text).length : cl100k.count(text);
  }

  /** Tokens of the prompt the model's chat template renders from these messages, start of the reply included. */
  countMessageTokens(messages: readonly ChatMessage[]): number {
    if (!this.loaded) return messages.reduce((n, m) => n + cl100k.count(m.content) + 4, 3);
    return this.render(this.loaded, messages).tokens.length;
  }

  async complete(req: CompletionRequest): Promise<CompletionResult> {
    const started = performance.now();
    if (req.signal?.aborted) throw new AppError('CANCELLED', [], { cause: req.signal.reason });
    const l = await this.loading;
    const run = this.queue.then(() => this.generate(l, req, started));
    this.queue = run.catch(() => undefined);
    return run;
  }

  async health(): Promise<void> {
    if (this.closed) throw new AppError('LLM_UNAVAILABLE', ['the llama.cpp provider is closed']);
    await this.loading;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const l = await this.loading.catch(() => null);
    await this.queue;
    if (!l) return;
    // Each disposal runs even if an earlier one fails.
    for (const dispose of [() => l.context.dispose(), () => l.model.dispose(), () => l.llama.dispose()]) {
      await Promise.resolve()
        .then(dispose)
        .catch((err: unknown) => this.opts.logger?.warn({ err }, 'llama.cpp dispose failed'));
    }
  }

  private async generate(l: Loaded, req: CompletionRequest, started: number): Promise<CompletionResult> {
    if (this.closed) throw new AppError('LLM_UNAVAILABLE', ['the llama.cpp provider is closed']);
    if (req.signal?.aborted) throw new AppError('CANCELLED', [], { cause: req.signal.reason });
    const { tokens, stopTriggers } = this.render(l, req.messages);
    if (tokens.length + req.maxTokens > this.contextWindow) {
      throw new AppError('LLM_CONTEXT_OVERFLOW', [
        `the prompt takes ${tokens.length} tokens and the answer up to ${req.maxTokens}, more than the context window of ${this.contextWindow}`,
      ]);
    }
    let completionTokens = 0;
    let streamed = '';
    try {
      const res = await l.completion.generateCompletionWithMeta(tokens, {
        maxTokens: req.maxTokens,
        temperature: req.temperature ?? 0,
        signal: req.signal,
        stopOnAbortSignal: true,
        customStopTriggers: stopTriggers,
        disableContextShift: true,
        onToken: (t) => (completionTokens += t.length),
        onTextChunk: (text) => {
          streamed += text;
          req.onToken?.(text);
        },
      });
      const reason = res.metadata.stopReason;
      return {
        // What was streamed is what the caller saw; the two agree unless a stop trigger was cut from the end.
        text: req.onToken ? streamed : res.response,
        usage: { promptTokens: tokens.length, completionTokens, estimated: false },
        latencyMs: performance.now() - started,
        finishReason: reason === 'maxTokens' ? 'length' : reason === 'abort' ? 'cancelled' : 'stop',
      };
    } catch (err) {
      if (req.signal?.aborted) throw new AppError('CANCELLED', [], { cause: err });
      throw new AppError(
        'LLM_BAD_RESPONSE',
        [`llama.cpp generation failed: ${err instanceof Error ? err.message : String(err)}`],
        { cause: err },
      );
    }
  }

  private render(l: Loaded, messages: readonly ChatMessage[]): { tokens: Token[]; stopTriggers: LlamaText[] } {
    const history: ChatHistoryItem[] = messages.map((m) =>
      m.role === 'assistant' ? { type: 'model', response: [m.content] } : { type: m.role, text: m.content },
    );
    if (history.at(-1)?.type !== 'model') history.push({ type: 'model', response: [] });
    const state = l.wrapper.generateContextState({ chatHistory: history });
    return { tokens: state.contextText.tokenize(l.model.tokenizer), stopTriggers: state.stopGenerationTriggers };
  }

  private async load(): Promise<Loaded> {
    let lib: NodeLlamaCpp;
    try {
      lib = await import('node-llama-cpp');
    } catch (err) {
      throw new AppError(
        'LLM_UNAVAILABLE',
        ['node-llama-cpp is not installed (npm install node-llama-cpp) or cannot load on this platform'],
        {
          cause: err,
        },
      );
    }
    let llama: Llama | undefined;
    try {
      llama = await lib.getLlama({
        gpu: false,
        build: 'never',
        usePrebuiltBinaries: true,
        skipDownload: true,
        progressLogs: false,
        logLevel: lib.LlamaLogLevel.error,
        logger: (level, message) => this.opts.logger?.debug({ level }, message.trim()),
      });
      const model = await llama.loadModel({ modelPath: this.opts.modelPath, gpuLayers: 0 });
      const context = await model.createContext({
        contextSize: this.contextWindow,
        threads: this.opts.threads ?? 1,
        sequences: 1,
      });
      const completion = new lib.LlamaCompletion({ contextSequence: context.getSequence() });
      const wrapper = lib.resolveChatWrapper(model, { warningLogs: false }) ?? new lib.GeneralChatWrapper();
      return { llama, model, context, completion, wrapper };
    } catch (err) {
      await llama?.dispose().catch(() => undefined);
      throw new AppError(
        'LLM_UNAVAILABLE',
        [`llama.cpp could not load ${this.opts.modelPath}: ${err instanceof Error ? err.message : String(err)}`],
        {
          cause: err,
        },
      );
    }
  }
}

/**
 * Reads `general.name` and `<architecture>.context_length` from a GGUF header
 * (format: github.com/ggml-org/ggml docs/gguf.md) synchronously, so the
 * context window is known before the model is loaded. Stops as soon as both
 * are found; they come before the large tokenizer arrays in practice.
 */
export function readGgufHeader(path: string): {
  contextLength: number | null;
  name: string | null;
  architecture: string | null;
} {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new AppError('LLM_UNAVAILABLE', [`cannot open the GGUF model ${path}`], { cause: err });
  }
  try {
    const r = new SyncReader(fd);
    if (r.bytes(4).toString('latin1') !== 'GGUF') throw new AppError('LLM_UNAVAILABLE', [`${path} is not a GGUF file`]);
    const version = r.u32();
    if (version < 2) throw new AppError('LLM_UNAVAILABLE', [`${path}: GGUF version ${version} is not supported`]);
    r.u64(); // tensor count
    const kvCount = r.u64();
    const found: Record<string, unknown> = {};
    let architecture: string | null = null;
    for (let i = 0; i < kvCount; i++) {
      const key = r.str();
      const value = r.value(r.u32());
      if (key === 'general.architecture' && typeof value === 'string') architecture = value;
      if (key === 'general.name' || key.endsWith('.context_length')) found[key] = value;
      if (architecture && `${architecture}.context_length` in found && 'general.name' in found) break;
    }
    const ctx = architecture ? found[`${architecture}.context_length`] : undefined;
    const name = found['general.name'];
    return {
      contextLength: typeof ctx === 'number' ? ctx : null,
      name: typeof name === 'string' ? name : null,
      architecture,
    };
  } finally {
    closeSync(fd);
  }
}

class SyncReader {
  private buf = Buffer.alloc(0);
  private pos = 0;
  private filePos = 0;
  constructor(private readonly fd: number) {}

  private need(n: number): void {
    if (this.buf.length - this.pos >= n) return;
    const chunk = Buffer.alloc(Math.max(n, 1 << 16));
    const got = readSync(this.fd, chunk, 0, chunk.length, this.filePos);
    this.filePos += got;
    this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk.subarray(0, got)]);
    this.pos = 0;
    if (this.buf.length < n) throw new AppError('LLM_UNAVAILABLE', ['the GGUF header is truncated']);
  }
  bytes(n: number): Buffer {
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  u32(): number {
    return this.bytes(4).readUInt32LE(0);
  }
  u64(): number {
    return Number(this.bytes(8).readBigUInt64LE(0));
  }
  str(): string {
    return this.bytes(this.u64()).toString('utf8');
  }
  value(type: number): unknown {
    switch (type) {
      case 0:
        return this.bytes(1).readUInt8(0);
      case 1:
        return this.bytes(1).readInt8(0);
      case 2:
        return this.bytes(2).readUInt16LE(0);
      case 3:
        return this.bytes(2).readInt16LE(0);
      case 4:
        return this.u32();
      case 5:
        return this.bytes(4).readInt32LE(0);
      case 6:
        return this.bytes(4).readFloatLE(0);
      case 7:
        return this.bytes(1).readUInt8(0) !== 0;
      case 8:
        return this.str();
      case 9: {
        const itemType = this.u32();
        const n = this.u64();
        for (let i = 0; i < n; i++) this.value(itemType); // skipped: arrays hold tokenizer data we do not need
        return null;
      }
      case 10:
        return this.u64();
      case 11:
        return Number(this.bytes(8).readBigInt64LE(0));
      case 12:
        return this.bytes(8).readDoubleLE(0);
      default:
        throw new AppError('LLM_UNAVAILABLE', [`unknown GGUF value type ${type}`]);
    }
  }
}
