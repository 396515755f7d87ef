import type { FastifyReply } from 'fastify';
import { AppError } from '../errors.js';

/**
 * A signal that fires with CANCELLED when the client goes away before the
 * response is complete: work for a client that left (retrieval, LLM calls)
 * is wasted, so routes pass this signal down.
 */
export function abortOnClientClose(reply: FastifyReply): AbortSignal {
  const abort = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableEnded) abort.abort(new AppError('CANCELLED'));
  });
  return abort.signal;
}
