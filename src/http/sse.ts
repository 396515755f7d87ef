import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toAppError } from './errors.js';

export interface SseOptions {
  /** Interval of the keep-alive comment, so proxies do not close a quiet stream. Default 15 000 ms. */
  heartbeatMs?: number;
}

/** An open Server-Sent Events response. */
export interface SseStream {
  /** Writes one event; a no-op (returning false) once the client is gone or the stream ended. */
  send(event: string, data: unknown): boolean;
  /** Writes one unnamed event whose data is `line` as is (OpenAI's `data: {...}` chunks and `data: [DONE]`); false as `send`. */
  data(line: string): boolean;
  /** Ends the response. Idempotent. */
  end(): void;
  /** False once the stream ended or the client disconnected. */
  readonly open: boolean;
  /** Runs `fn` if the client disconnects before `end()` (at once if it already has). */
  onDisconnect(fn: () => void): void;
}

/** True when the client asked for `text/event-stream`. */
export function wantsEventStream(req: FastifyRequest): boolean {
  const accept = req.headers.accept;
  return typeof accept === 'string' && /\btext\/event-stream\b/i.test(accept);
}

/**
 * Takes the response over from fastify (`reply.hijack()`) and opens an SSE
 * stream (https://html.spec.whatwg.org/multipage/server-sent-events.html):
 * headers already set on the reply (x-request-id) are kept, each event is one
 * JSON line, and a comment line every `heartbeatMs` keeps the connection alive.
 * Errors before this call go through the app's JSON error handler; after it,
 * the route reports them as events.
 */
export function openSse(req: FastifyRequest, reply: FastifyReply, opts: SseOptions = {}): SseStream {
  reply.hijack();
  const raw = reply.raw;
  const headers: OutgoingHttpHeaders = {
    ...(reply.getHeaders() as OutgoingHttpHeaders),
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    // nginx buffers responses unless told not to.
    'x-accel-buffering': 'no',
  };
  raw.writeHead(200, headers);
  raw.flushHeaders();

  let ended = false;
  let disconnected = false;
  const listeners: Array<() => void> = [];
  const write = (chunk: string): boolean => {
    if (ended || disconnected || raw.destroyed) return false;
    raw.write(chunk);
    return true;
  };
  const heartbeat = setInterval(() => write(': heartbeat\n\n'), opts.heartbeatMs ?? 15_000);
  heartbeat.unref();
  // The response closes either after end() or because the connection went away; only the second is a disconnect.
  raw.on('close', () => {
    clearInterval(heartbeat);
    if (ended) return;
    disconnected = true;
    req.log.info('event stream closed by the client');
    for (const fn of listeners.splice(0)) fn();
  });
  write(': stream open\n\n');

  return {
    send(event, data) {
      return write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    data(line) {
      return write(`data: ${line}\n\n`);
    },
    end() {
      if (ended) return;
      ended = true;
      clearInterval(heartbeat);
      if (!raw.destroyed) raw.end();
    },
    get open() {
      return !ended && !disconnected && !raw.destroyed;
    },
    onDisconnect(fn) {
      if (disconnected) fn();
      else listeners.push(fn);
    },
  };
}

/**
 * Answers with an SSE stream: the events `run` sends, then `result` with what
 * it returns, or `error` with the error body and request id if it throws. The
 * failure is logged by its severity, `what` naming the work ('answer failed').
 * Returns the (hijacked) reply for the handler to return.
 */
export async function streamResult(
  req: FastifyRequest,
  reply: FastifyReply,
  opts: { what: string; bodyLimit: number },
  run: (sse: SseStream) => Promise<unknown>,
): Promise<FastifyReply> {
  const sse = openSse(req, reply);
  try {
    const result = await run(sse);
    sse.send('result', result);
  } catch (err) {
    const e = toAppError(err, opts.bodyLimit);
    if (e.code === 'CANCELLED') req.log.info(`${opts.what} cancelled`);
    else if (e.statusCode >= 500) req.log.error({ err }, `${opts.what} failed`);
    else req.log.info({ code: e.code, msg: e.message }, `${opts.what} rejected`);
    sse.send('error', { error: e.toJSON(), requestId: req.id });
  } finally {
    sse.end();
  }
  return reply;
}
