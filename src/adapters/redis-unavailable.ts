/**
 * What the API's Redis clients (key store, queue producer) share when Redis
 * is away: how long one call may wait, and how long a client is told to wait
 * before retrying.
 */

/** Seconds in Retry-After while Redis is away: about one reconnect backoff of ioredis (at most 2 s) and a margin. */
export const REDIS_RETRY_AFTER_S = 5;

/** Bound on each call, waiting for a connection included, when REDIS_TIMEOUT_MS is not given. */
export const DEFAULT_REDIS_TIMEOUT_MS = 2000;
