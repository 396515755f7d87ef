import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { AppError } from '../../errors.js';
import { cl100k } from '../../core/tokenizer.js';
import type { ChatMessage, CompletionRequest, CompletionResult, LlmProvider, Usage } from '../../ports/llm.js';

export interface OpenAiChatOptions {
  /** Base URL including the API prefix, e.g. `http://localhost:8000/v1`. */
  baseUrl: string;
  /** Bearer key; omitted from requests when empty. */
  apiKey?: string;
  model: string;
  /** Tokens of prompt plus answer the served model accepts. */
  contextWindow: number;
  /** Deadline of one `complete()` call, retries and their waits included. Default 120 000. */
  timeoutMs?: number;
  /** Retries after a 429 or 5xx answer. Default 3. */
  maxRetries?: number;
  /** First backoff step; doubled per retry, with jitter. Default 500 ms. */
  retryBaseMs?: number;
  /** Longest wait between tries, Retry-After included; a longer Retry-After fails at once. Default 30 000 ms. */
  maxRetryDelayMs?: number;
  /** Injected for tests; defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Injected for tests to observe backoff waits; must reject when `signal` aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  logger?: Logger;
}

/**
 * Chat-format overhead, after OpenAI's cookbook ("How to count tokens with
 * tiktoken"): every message costs about 4 tokens besides its content
 * (`<|start|>{role}\n … <|end|>`), and every reply is primed with 3 more
 * (`<|start|>assistant<|message|>`). Other servers' templates differ by a few
 * tokens per message, which the estimate flag already admits.
 */
export const TOKENS_PER_MESSAGE = 4;
export const TOKENS_PER_REPLY = 3;

const CONTEXT_OVERFLOW_PATTERN =
  /context[ _]length|context[ _]window|maximum context|context size|exceeds? the (available )?context|n_ctx|too many tokens|prompt is too long|input is too long|context_length_exceeded|exceed_context_size/i;

interface WireChoice {
  message?: { content?: string | null };
  delta?: { content?: string | null };
  finish_reason?: string | null;
}
interface WireUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
}
interface WireBody {
  choices?: WireChoice[];
  usage?: WireUsage | null;
  error?: { message?: string } | string;
}

/**
 * Any OpenAI-compatible `/chat/completions` endpoint: vLLM, llama.cpp server,
 * Ollama, OpenAI. Streams when the caller passes `onToken`.
 *
 * Token counts use cl100k (we cannot know a remote model's tokenizer), so
 * `tokenCountIsEstimate` is true; the usage of a completion is the server's own
 * when it reports one (`estimated: false`).
 */
export class OpenAiChatProvider implements LlmProvider {
  readonly id = 'openai';
  readonly kind = 'generative' as const;
  readonly tokenCountIsEstimate = true;
  readonly model: string;
  readonly contextWindow: number;
  private readonly baseUrl: string;
  private readonly apiKey: string;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly retryBaseMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly logger: Logger | undefined;
  private readonly inFlight = new Set<AbortController>();

  constructor(opts: OpenAiChatOptions) {
    if (!opts.baseUrl) throw new AppError('CONFIG_INVALID', ['the OpenAI-compatible provider needs a base URL']);
    if (!opts.model) throw new AppError('CONFIG_INVALID', ['the OpenAI-compatible provider needs a model name']);
    if (!(opts.contextWindow > 0)) throw new AppError('CONFIG_INVALID', ['contextWindow must be positive']);
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.apiKey = opts.apiKey ?? '';
    this.model = opts.model;
    this.contextWindow = opts.contextWindow;
    this.timeoutMs = opts.timeoutMs ?? 120_000;
    this.maxRetries = opts.maxRetries ?? 3;
    this.retryBaseMs = opts.retryBaseMs ?? 500;
    this.maxRetryDelayMs = opts.maxRetryDelayMs ?? 30_000;
    this.fetchImpl = opts.fetch ?? fetch;
    this.sleep = opts.sleep ?? ((ms, signal) => delay(ms, undefined, { signal }));
    this.logger = opts.logger;
  }

  countTokens(text: string): number {
    return cl100k.count(text);
  }

  countMessageTokens(messages: readonly ChatMessage[]): number {
    let n = TOKENS_PER_REPLY;
    for (const m of messages) n += TOKENS_PER_MESSAGE + cl100k.count(m.content);
    return n;
  }

  async complete(req: CompletionRequest): Promise<CompletionResult> {
    const started = performance.now();
    if (req.signal?.aborted) throw new AppError('CANCELLED', [], { cause: req.signal.reason });
    const own = new AbortController();
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = AbortSignal.any([own.signal, timeout, ...(req.signal ? [req.signal] : [])]);
    this.inFlight.add(own);
    const stream = req.onToken !== undefined;
    const body = JSON.stringify({
      model: this.model,
      messages: req.messages.map((m) => ({ role: m.role, content: m.content })),
      max_tokens: req.maxTokens,
      ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
      ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    });
    const cancelled = (): boolean => req.signal?.aborted === true || own.signal.aborted;
    try {
      for (let attempt = 0; ; attempt++) {
        let res: Response;
        try {
          res = await this.fetchImpl(`${this.baseUrl}/chat/completions`, {
            method: 'POST',
            headers: this.headers({
              'content-type': 'application/json',
              accept: stream ? 'text/event-stream' : 'application/json',
            }),
            body,
            signal,
          });
        } catch (err) {
          throw this.transportError(err, cancelled(), timeout.aborted);
        }
        if (res.ok) {
          const partial = { text: '' };
          try {
            const out = stream ? await this.readStream(res, req, partial) : await this.readJson(res);
            return this.result(req, out, started);
          } catch (err) {
            if (err instanceof CallbackError) throw err.cause;
            if (err instanceof AppError) throw err;
            // Once tokens reached the caller, an abort keeps what was said rather than losing it.
            if (cancelled() && partial.text !== '') {
              return this.result(req, { text: partial.text, usage: null, finishReason: 'cancelled' }, started);
            }
            if (cancelled() || timeout.aborted) throw this.transportError(err, cancelled(), timeout.aborted);
            throw new AppError(
              'LLM_BAD_RESPONSE',
              [
                `the connection closed mid-response after ${partial.text.length} characters (${causeCode(err) ?? String(err)})`,
              ],
              {
                cause: err,
                transient: true,
              },
            );
          }
        }
        const errBody = await res.text().catch(() => '');
        const retryable = res.status === 429 || res.status >= 500;
        const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
        if (retryable && attempt < this.maxRetries) {
          const wait = retryAfterMs ?? this.backoff(attempt);
          if (wait <= this.maxRetryDelayMs) {
            this.logger?.warn(
              { status: res.status, attempt: attempt + 1, waitMs: Math.round(wait) },
              'LLM endpoint asked to retry',
            );
            try {
              await this.sleep(wait, signal);
            } catch (err) {
              throw this.transportError(err, cancelled(), timeout.aborted);
            }
            continue;
          }
        }
        throw this.statusError(res.status, errBody, retryAfterMs);
      }
    } finally {
      this.inFlight.delete(own);
    }
  }

  async health(): Promise<void> {
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.baseUrl}/models`, {
        headers: this.headers({ accept: 'application/json' }),
        signal: AbortSignal.timeout(Math.min(this.timeoutMs, 10_000)),
      });
    } catch (err) {
      throw this.transportError(err, false, err instanceof Error && err.name === 'TimeoutError');
    }
    const text = await res.text().catch(() => '');
    if (!res.ok) throw this.statusError(res.status, text, undefined);
  }

  async close(): Promise<void> {
    for (const c of this.inFlight) c.abort(new AppError('CANCELLED'));
    this.inFlight.clear();
  }

  private headers(extra: Record<string, string>): Record<string, string> {
    return this.apiKey ? { ...extra, authorization: `Bearer ${this.apiKey}` } : extra;
  }

  /** Exponential backoff with "equal jitter": half the step fixed, half random, so retries of many callers spread out. */
  private backoff(attempt: number): number {
    const step = Math.min(this.maxRetryDelayMs, this.retryBaseMs * 2 ** attempt);
    return step / 2 + Math.random() * (step / 2);
  }

  private async readJson(res: Response): Promise<ParsedCompletion> {
    const raw = await res.text();
    let body: WireBody;
    try {
      body = JSON.parse(raw) as WireBody;
    } catch (err) {
      throw new AppError('LLM_BAD_RESPONSE', [`body is not JSON: ${snippet(raw)}`], { cause: err, transient: true });
    }
    const choice = Array.isArray(body?.choices) ? body.choices[0] : undefined;
    const content = choice?.message?.content;
    if (!choice || (typeof content !== 'string' && content !== null)) {
      throw new AppError('LLM_BAD_RESPONSE', [`no choices[0].message.content in ${snippet(raw)}`], { transient: true });
    }
    return { text: content ?? '', usage: body.usage ?? null, finishReason: mapFinish(choice.finish_reason) };
  }

  /** Reads a server-sent-event stream of chat.completion.chunk objects up to `data: [DONE]`. */
  private async readStream(
    res: Response,
    req: CompletionRequest,
    partial: { text: string },
  ): Promise<ParsedCompletion> {
    if (!res.body) throw new AppError('LLM_BAD_RESPONSE', ['streaming response has no body'], { transient: true });
    const decoder = new TextDecoder();
    let buffer = '';
    let usage: WireUsage | null = null;
    let finish: CompletionResult['finishReason'] = 'unknown';
    const handleLine = (line: string): boolean => {
      if (!line.startsWith('data:')) return false; // comments (": ping"), event:, id:, blank separators
      const data = line.slice(5).trim();
      if (data === '[DONE]') return true;
      let chunk: WireBody;
      try {
        chunk = JSON.parse(data) as WireBody;
      } catch (err) {
        throw new AppError('LLM_BAD_RESPONSE', [`stream event is not JSON: ${snippet(data)}`], {
          cause: err,
          transient: true,
        });
      }
      if (chunk.error)
        throw new AppError('LLM_BAD_RESPONSE', [`stream reported an error: ${snippet(JSON.stringify(chunk.error))}`], {
          transient: true,
        });
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices?.[0];
      const piece = choice?.delta?.content;
      if (typeof piece === 'string' && piece !== '') {
        partial.text += piece;
        try {
          req.onToken?.(piece);
        } catch (err) {
          throw new CallbackError(err);
        }
      }
      if (choice?.finish_reason) finish = mapFinish(choice.finish_reason);
      return false;
    };
    for await (const bytes of res.body as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(bytes, { stream: true });
      for (let nl = buffer.indexOf('\n'); nl !== -1; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl).replace(/\r$/, '');
        buffer = buffer.slice(nl + 1);
        if (handleLine(line)) {
          await res.body.cancel().catch(() => undefined);
          return { text: partial.text, usage, finishReason: finish };
        }
      }
    }
    buffer += decoder.decode();
    if (buffer.trim() !== '' && handleLine(buffer.trim())) return { text: partial.text, usage, finishReason: finish };
    throw new AppError('LLM_BAD_RESPONSE', [`stream ended before [DONE] after ${partial.text.length} characters`], {
      transient: true,
    });
  }

  private result(req: CompletionRequest, out: ParsedCompletion, started: number): CompletionResult {
    const server = out.usage;
    const usage: Usage =
      server && typeof server.prompt_tokens === 'number' && typeof server.completion_tokens === 'number'
        ? { promptTokens: server.prompt_tokens, completionTokens: server.completion_tokens, estimated: false }
        : {
            promptTokens: this.countMessageTokens(req.messages),
            completionTokens: cl100k.count(out.text),
            estimated: true,
          };
    return { text: out.text, usage, latencyMs: performance.now() - started, finishReason: out.finishReason };
  }

  private transportError(err: unknown, cancelled: boolean, timedOut: boolean): AppError {
    if (err instanceof AppError) return err;
    if (cancelled) return new AppError('CANCELLED', [], { cause: err });
    if (timedOut) return new AppError('LLM_TIMEOUT', [this.timeoutMs], { cause: err, transient: true });
    const code = causeCode(err);
    return new AppError(
      'LLM_UNAVAILABLE',
      [`${this.baseUrl}: ${code ?? (err instanceof Error ? err.message : String(err))}`],
      {
        cause: err,
        transient: true,
      },
    );
  }

  private statusError(status: number, body: string, retryAfterMs: number | undefined): AppError {
    const message = errorMessage(body);
    const detail = `HTTP ${status}${message ? `: ${message}` : ''}`;
    const cause = { status, body: snippet(body, 2000) };
    if (status === 429) {
      return new AppError('LLM_RATE_LIMITED', [detail], {
        cause,
        transient: true,
        retryAfter: retryAfterMs === undefined ? undefined : Math.max(1, Math.ceil(retryAfterMs / 1000)),
      });
    }
    if (status >= 500)
      return new AppError('LLM_UNAVAILABLE', [`${this.baseUrl}: ${detail}`], { cause, transient: true });
    if ((status === 400 || status === 413) && CONTEXT_OVERFLOW_PATTERN.test(body)) {
      return new AppError('LLM_CONTEXT_OVERFLOW', [`the prompt does not fit the model's context window (${detail})`], {
        cause,
      });
    }
    return new AppError('LLM_REJECTED', [detail], { cause });
  }
}

/** Carries an exception thrown by the caller's onToken out of the stream reader unchanged. */
class CallbackError extends Error {
  constructor(override readonly cause: unknown) {
    super('onToken threw');
  }
}

interface ParsedCompletion {
  text: string;
  usage: WireUsage | null;
  finishReason: CompletionResult['finishReason'];
}

function mapFinish(reason: string | null | undefined): CompletionResult['finishReason'] {
  if (reason === 'stop' || reason === 'eos') return 'stop';
  if (reason === 'length') return 'length';
  return 'unknown';
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function causeCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function errorMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as WireBody & { message?: string; detail?: string };
    const e = parsed.error;
    const msg = typeof e === 'string' ? e : (e?.message ?? parsed.message ?? parsed.detail);
    if (typeof msg === 'string') return snippet(msg);
  } catch {
    // not JSON: fall through to the raw text
  }
  return snippet(body);
}

function snippet(s: string, max = 300): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max)}…` : one;
}
