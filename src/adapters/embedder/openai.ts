import type { Logger } from 'pino';
import { AppError } from '../../errors.js';
import { EmbedderBase, type EmbedderBaseOptions } from './base.js';
import { l2normalize, throwIfAborted } from './vectors.js';

export interface OpenAiEmbedderOptions extends EmbedderBaseOptions {
  /** Base URL of an OpenAI-compatible API, e.g. `http://localhost:8080/v1`; `/embeddings` is appended. */
  baseUrl: string;
  /** Model name sent in every request. */
  model: string;
  /** Bearer key; none is sent when empty. */
  apiKey?: string;
  /** Timeout of one request in ms. Default 60 000. */
  timeoutMs?: number;
  /** Retries of a request on 429, 5xx and connection failures. Default 3. */
  maxRetries?: number;
  /** First backoff delay in ms, doubled on each retry (with jitter) unless the server sends Retry-After. Default 500. */
  retryBaseMs?: number;
  /** Longest wait honoured from Retry-After; beyond it the call fails with the server's delay attached. Default 30 000. */
  maxRetryAfterMs?: number;
  logger?: Logger;
}

/** A failed attempt: whether to try again, and after how long the server asked us to wait. */
class AttemptError extends Error {
  constructor(
    readonly appError: AppError,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(appError.message);
  }
}

/**
 * Any server speaking OpenAI's `POST /embeddings` (OpenAI, Azure-style
 * gateways, vLLM, llama.cpp server, Ollama, text-embeddings-inference...).
 * Vectors are L2-normalised here, since not every server does it.
 */
export class OpenAiEmbedder extends EmbedderBase<null> {
  readonly id: string;
  private readonly url: string;
  private readonly model: string;
  private readonly apiKey: string;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly retryBaseMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly logger: Logger | undefined;

  constructor(opts: OpenAiEmbedderOptions) {
    super(opts);
    let base: URL;
    try {
      base = new URL(opts.baseUrl);
    } catch (err) {
      throw new AppError('CONFIG_INVALID', [`embeddings URL "${opts.baseUrl}" is not a URL`], { cause: err });
    }
    if (!opts.model) throw new AppError('CONFIG_INVALID', ['the embeddings endpoint needs a model name']);
    this.url = `${base.href.replace(/\/+$/, '')}/embeddings`;
    this.model = opts.model;
    this.apiKey = opts.apiKey ?? '';
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.maxRetries = opts.maxRetries ?? 3;
    this.retryBaseMs = opts.retryBaseMs ?? 500;
    this.maxRetryAfterMs = opts.maxRetryAfterMs ?? 30_000;
    this.logger = opts.logger;
    // The host is part of the identity: two servers may serve different models under one name ("default").
    this.id = [
      `openai:${this.model}@${base.host}${base.pathname.replace(/\/+$/, '')}`,
      ...(this.queryPrefix ? [`query=${JSON.stringify(this.queryPrefix)}`] : []),
      ...(this.documentPrefix ? [`document=${JSON.stringify(this.documentPrefix)}`] : []),
    ].join('|');
  }

  /** A request, since no model is loaded here: the endpoint must answer. */
  override async health(): Promise<void> {
    await this.embed(['health check'], undefined, false);
  }

  /** Nothing to load or release: fetch keeps no connection we own; the vector size comes with the first answer. */
  protected async load(): Promise<null> {
    return null;
  }

  protected embedTexts(
    _model: null,
    texts: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<Float32Array[]> {
    return this.inBatches(texts, signal, (batch) => this.request(batch, signal));
  }

  /** One batch, with retries. */
  private async request(input: string[], signal: AbortSignal | undefined): Promise<Float32Array[]> {
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(signal);
      try {
        return await this.attempt(input, signal);
      } catch (err) {
        if (!(err instanceof AttemptError)) throw err;
        if (!err.retryable || attempt >= this.maxRetries) throw err.appError;
        if (err.retryAfterMs !== undefined && err.retryAfterMs > this.maxRetryAfterMs) throw err.appError;
        const backoff = this.retryBaseMs * 2 ** attempt * (0.5 + Math.random() / 2);
        const delay = err.retryAfterMs ?? backoff;
        this.logger?.warn(
          { embedder: this.id, attempt: attempt + 1, delayMs: Math.round(delay), err: err.appError.message },
          'embeddings request failed; retrying',
        );
        await sleep(delay, signal);
      }
    }
  }

  private async attempt(input: string[], signal: AbortSignal | undefined): Promise<Float32Array[]> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    let res: Response;
    let text: string;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}),
        },
        body: JSON.stringify({ model: this.model, input }),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      text = await res.text();
    } catch (err) {
      if (signal?.aborted) throw new AppError('CANCELLED', [], { cause: err });
      if (timeout.aborted) {
        // A slow server stays slow: retrying would multiply the wait.
        throw new AttemptError(
          new AppError('EMBEDDER_UNAVAILABLE', [`${this.url} did not answer within ${this.timeoutMs} ms`], {
            cause: err,
            transient: true,
          }),
          false,
        );
      }
      throw new AttemptError(
        new AppError('EMBEDDER_UNAVAILABLE', [`${this.url}: ${describe(err)}`], { cause: err, transient: true }),
        true,
      );
    }

    if (!res.ok) {
      const retryAfterMs = parseRetryAfter(res.headers);
      const retryable = res.status === 429 || res.status >= 500;
      const detail = `${this.url} answered ${res.status}: ${text.slice(0, 300)}`;
      const appError = new AppError('EMBEDDER_UNAVAILABLE', [detail], {
        cause: new Error(detail),
        transient: retryable,
        ...(retryAfterMs !== undefined ? { retryAfter: Math.ceil(retryAfterMs / 1000) } : {}),
      });
      throw new AttemptError(appError, retryable, retryAfterMs);
    }
    return this.parse(text, input.length);
  }

  private parse(text: string, count: number): Float32Array[] {
    const bad = (what: string, cause?: unknown): AppError =>
      new AppError('EMBEDDER_BAD_RESPONSE', [`${this.url}: ${what}`], cause === undefined ? {} : { cause });
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      throw bad(`body is not JSON: ${text.slice(0, 100)}`, err);
    }
    const data = (body as { data?: unknown } | null)?.data;
    if (!Array.isArray(data)) throw bad('no "data" array');
    if (data.length !== count) throw bad(`${data.length} embeddings for ${count} inputs`);
    const out = new Array<Float32Array | undefined>(count);
    data.forEach((item: unknown, position) => {
      const { index, embedding } = (item ?? {}) as { index?: unknown; embedding?: unknown };
      // Servers that omit "index" return the inputs' order.
      const i = index === undefined ? position : index;
      if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= count || out[i])
        throw bad(`bad or repeated index ${String(i)}`);
      if (!Array.isArray(embedding) || embedding.length === 0) throw bad(`embedding ${i} is not a list of numbers`);
      const v = Float32Array.from(embedding as number[]);
      if (!v.every(Number.isFinite) || (embedding as unknown[]).some((x) => typeof x !== 'number'))
        throw bad(`embedding ${i} holds non-numbers`);
      if (this.dims !== undefined && v.length !== this.dims)
        throw bad(`embedding ${i} has ${v.length} dimensions, expected ${this.dims}`);
      this.dims ??= v.length;
      out[i] = l2normalize(v);
    });
    return out as Float32Array[];
  }
}

function describe(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message ?? String(err);
}

/** `retry-after-ms` (OpenAI) or `Retry-After` in seconds or as an HTTP date. */
function parseRetryAfter(headers: Headers): number | undefined {
  const ms = Number(headers.get('retry-after-ms'));
  if (headers.has('retry-after-ms') && Number.isFinite(ms) && ms >= 0) return ms;
  const raw = headers.get('retry-after');
  if (raw === null) return undefined;
  const seconds = Number(raw);
  if (raw.trim() !== '' && Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AppError('CANCELLED', [], { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
