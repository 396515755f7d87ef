import { AppError } from '../errors.js';
import type { LlmProvider } from '../ports/llm.js';
import { withComplete } from './wrap-llm.js';

export interface LimiterOptions {
  /** Holders at once. */
  max: number;
  /** Callers that may wait for a slot beyond `max`; one more is refused with OVERLOADED. Default `max`. */
  maxQueue?: number;
  /** What is limited, for the OVERLOADED message ("LLM calls", "Chain-of-Agents runs"). */
  what: string;
  /** Retry-After of OVERLOADED, in seconds. Default 1. */
  retryAfterSec?: number;
}

/**
 * A counting semaphore with a bounded wait queue. A short queue absorbs
 * bursts without failing anyone; past it, callers get 503 OVERLOADED with a
 * Retry-After at once instead of piling up behind upstream work that may take
 * minutes (an LLM call may run up to LLM_TIMEOUT_MS). A waiter whose signal
 * fires leaves the queue, so a client that went away frees its place.
 */
export class ConcurrencyLimiter {
  readonly max: number;
  readonly maxQueue: number;
  private active = 0;
  private readonly waiters: Array<{ grant: () => void }> = [];
  private readonly what: string;
  private readonly retryAfterSec: number;

  constructor(opts: LimiterOptions) {
    if (!Number.isInteger(opts.max) || opts.max < 1)
      throw new AppError('CONFIG_INVALID', [`${opts.what}: the limit must be a positive integer`]);
    this.max = opts.max;
    this.maxQueue = opts.maxQueue ?? opts.max;
    this.what = opts.what;
    this.retryAfterSec = opts.retryAfterSec ?? 1;
  }

  /** Holders now. */
  get inFlight(): number {
    return this.active;
  }

  /** Callers waiting now. */
  get queued(): number {
    return this.waiters.length;
  }

  /**
   * Takes a slot, waiting in the queue if all are held. Resolves to the
   * function that gives it back (idempotent). Rejects with OVERLOADED when the
   * queue is full, or with CANCELLED when `signal` fires while waiting.
   */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw new AppError('CANCELLED', [], { cause: signal.reason });
    if (this.active < this.max) {
      this.active++;
      return this.releaser();
    }
    if (this.waiters.length >= this.maxQueue) {
      throw new AppError('OVERLOADED', [this.what], { retryAfter: this.retryAfterSec, transient: true });
    }
    await new Promise<void>((resolve, reject) => {
      const waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new AppError('CANCELLED', [], { cause: signal?.reason }));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
    // The slot was handed over by the releaser without decrementing `active`.
    return this.releaser();
  }

  /** Runs `fn` holding a slot. */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiters.shift();
      if (next) next.grant();
      else this.active--;
    };
  }
}

/**
 * Wraps a provider so every `complete()` holds a slot of `limiter`
 * (MAX_CONCURRENT_LLM_CALLS). The extractive reader is returned as it is: it
 * runs in process with no upstream to protect, and queueing it would only add
 * latency to retrieval-only answers.
 */
export function limitLlm(llm: LlmProvider, limiter: ConcurrencyLimiter): LlmProvider {
  if (llm.kind === 'extractive') return llm;
  return withComplete(llm, (req) => limiter.run(() => llm.complete(req), req.signal));
}

/** The process-wide limiters built from the config. */
export interface Limits {
  llmCalls: ConcurrencyLimiter;
  chains: ConcurrencyLimiter;
}

/**
 * MAX_CONCURRENT_LLM_CALLS and MAX_CONCURRENT_CHAINS, each with a wait queue
 * as long as the limit itself: twice the limit is admitted, the rest get 503.
 */
export function createLimits(cfg: { MAX_CONCURRENT_LLM_CALLS: number; MAX_CONCURRENT_CHAINS: number }): Limits {
  return {
    llmCalls: new ConcurrencyLimiter({ max: cfg.MAX_CONCURRENT_LLM_CALLS, what: 'LLM calls' }),
    chains: new ConcurrencyLimiter({ max: cfg.MAX_CONCURRENT_CHAINS, what: 'Chain-of-Agents runs' }),
  };
}

/**
 * Makes every Chain-of-Agents run of `service` hold a slot of `limiter`
 * (MAX_CONCURRENT_CHAINS) for its whole length, whoever starts it (/v1/answer,
 * the router, Self-Route escalation, batch jobs). Patches the instance, so the
 * strategies need not know about process-wide limits.
 */
export function limitChains<
  S extends { answer(input: I): Promise<R> },
  I extends { strategy: string; signal?: AbortSignal },
  R,
>(service: S, limiter: ConcurrencyLimiter): S {
  const answer = service.answer.bind(service);
  service.answer = (input: I) =>
    input.strategy === 'coa' ? limiter.run(() => answer(input), input.signal) : answer(input);
  return service;
}
