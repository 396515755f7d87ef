import { AppError, type ErrorCode } from '../errors.js';

/**
 * What the API's Redis clients (key store, queue producer) share when Redis
 * is away: how long one call may wait, how long a client is told to wait
 * before retrying, and the error a failed call becomes.
 */

/** Seconds in Retry-After while Redis is away: about one reconnect backoff of ioredis (at most 2 s) and a margin. */
export const REDIS_RETRY_AFTER_S = 5;

/** Bound on each call, waiting for a connection included, when REDIS_TIMEOUT_MS is not given. */
export const DEFAULT_REDIS_TIMEOUT_MS = 2000;

/** A failed Redis call as the client's `code`: the store is unavailable (503, Retry-After), not broken, so the request may simply be retried. */
export function redisUnavailable(
  code: Extract<ErrorCode, 'KEY_STORE_UNAVAILABLE' | 'QUEUE_UNAVAILABLE'>,
  err: unknown,
): AppError {
  return new AppError(code, [err instanceof Error ? err.message : String(err)], {
    cause: err,
    transient: true,
    retryAfter: REDIS_RETRY_AFTER_S,
  });
}
