import { SseParser, type SseEvent } from './sse.js';
import type { ErrorBody } from './types.js';

const KEY_STORAGE = 'adaptive-reader.apiKey';

/** An API error as the service reports it: `{error: {code, message}, requestId}`. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status: number,
    readonly requestId?: string,
  ) {
    super(message);
  }

  /** True when the route itself does not exist (as opposed to a missing document): the server is older than the page. */
  get routeMissing(): boolean {
    return this.status === 404 && this.code === 'NOT_FOUND';
  }
}

export function loadApiKey(): string {
  try {
    return localStorage.getItem(KEY_STORAGE) ?? '';
  } catch {
    return '';
  }
}

export function saveApiKey(key: string): void {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    // Storage can be disabled (private mode): the key then lives for this page only.
  }
}

export interface RequestOptions {
  json?: unknown;
  form?: FormData;
  accept?: string;
  signal?: AbortSignal;
}

/** The service's API, with the key sent as `x-api-key` on every call when one is set. */
export class Api {
  constructor(private readonly getKey: () => string) {}

  private async send(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: opts.accept ?? 'application/json' };
    const key = this.getKey();
    if (key) headers['x-api-key'] = key;
    let body: BodyInit | undefined;
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.json);
    } else if (opts.form) {
      body = opts.form; // the browser sets the multipart boundary
    }
    let res: Response;
    try {
      res = await fetch(path, { method, headers, body, signal: opts.signal ?? null });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw new ApiError(`The service is unreachable: ${(err as Error).message}`, 'NETWORK', 0);
    }
    if (!res.ok) throw await toApiError(res);
    return res;
  }

  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, opts);
    return (await res.json()) as T;
  }

  /**
   * POSTs and reads the answer as server-sent events. A server that answers
   * JSON instead (no streaming support) yields one `result` event, so callers
   * handle both the same way.
   */
  async *stream(path: string, json: unknown, signal?: AbortSignal): AsyncGenerator<SseEvent> {
    const res = await this.send('POST', path, { json, accept: 'text/event-stream', ...(signal ? { signal } : {}) });
    const type = res.headers.get('content-type') ?? '';
    if (!type.includes('text/event-stream') || !res.body) {
      yield { event: 'result', data: await res.text() };
      return;
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    const parser = new SseParser();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        yield* parser.push(value);
      }
      yield* parser.end();
    } finally {
      reader.releaseLock();
    }
  }
}

async function toApiError(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as ErrorBody;
    if (body?.error?.message) return new ApiError(body.error.message, body.error.code, res.status, body.requestId);
  } catch {
    // not JSON: a proxy's page, say
  }
  return new ApiError(
    `${res.status} ${res.statusText}${text ? `: ${text.slice(0, 200)}` : ''}`,
    `HTTP_${res.status}`,
    res.status,
  );
}

/** Reads an SSE `error` event's data into an ApiError. */
export function streamError(data: string): ApiError {
  try {
    const body = JSON.parse(data) as ErrorBody;
    return new ApiError(body.error.message, body.error.code, 0, body.requestId);
  } catch {
    return new ApiError(data || 'The stream failed', 'STREAM_ERROR', 0);
  }
}
