import type { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { inlineTokenWork } from '../core/ingest/inline-token-work.js';
import { AppError, cancelledBy } from '../errors.js';
import type { ChunkSizes, TextChunk, TokenWork } from '../ports/token-work.js';
import { startModuleThread, stopThread } from './worker-thread.js';

/** A request to a pool thread (see token-pool-worker.ts). */
export type TokenRequest =
  | { id: number; kind: 'count'; text: string }
  | { id: number; kind: 'chunk'; text: string; chunkTokens: number; overlapTokens: number };

/** A thread's answer; `spans` holds (start, end, tokens) per chunk. */
export type TokenReply =
  | { id: number; ok: true; count: number }
  | { id: number; ok: true; spans: Int32Array }
  | { id: number; ok: false; name: string; message: string };

export interface TokenPoolOptions {
  /** Worker threads, started on the first large text or by {@link TokenPool.warm}. Default 1. */
  threads?: number;
  /**
   * Texts shorter than this (in characters) are tokenized on the calling
   * thread: a thread hop costs more than ~1k tokens of BPE, and the worst
   * text this short (random CJK without punctuation, ~3 tokens a character)
   * holds the loop ~10 ms to count and chunk. Default 4 000.
   */
  inlineBelowChars?: number;
  /**
   * Longest run of one count or chunking on a thread, in milliseconds; past
   * it the thread is terminated and the call rejects with TEXT_TOO_COMPLEX
   * (not transient: the same text would take as long again). Default 60 000.
   */
  timeoutMs?: number;
  logger?: Logger;
}

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
type Request = WithoutId<TokenRequest>;

interface Task {
  request: Request;
  signal: AbortSignal | undefined;
  settled: boolean;
  resolve: (reply: TokenReply & { ok: true }) => void;
  reject: (err: unknown) => void;
  /** Removes the abort listener. */
  release: () => void;
}

interface Slot {
  worker: Worker;
  busy: { id: number; task: Task; timer: NodeJS.Timeout } | undefined;
}

/**
 * Runs `cl100k.count` and `chunkText` on worker threads, so that counting and
 * chunking a large upload (~355 ms and ~560 ms for 1.4M tokens) does not stall
 * every other request of the process. Texts below `inlineBelowChars` run
 * inline. Threads are started on demand (or ahead: {@link TokenPool.warm}),
 * unref'd while idle (they never keep a process alive), and replaced when one
 * dies: its call rejects with TOKENIZER_UNAVAILABLE and the next call gets a
 * fresh thread. A call whose
 * signal fires while it runs (the client left, the job was stopped) rejects
 * with CANCELLED at once, and one that runs past `timeoutMs` with
 * TEXT_TOO_COMPLEX; either way its thread is terminated, since BPE cannot be
 * interrupted, and the calls queued behind it go on on a fresh one.
 */
export class TokenPool implements TokenWork {
  private readonly threads: number;
  private readonly inlineBelowChars: number;
  private readonly timeoutMs: number;
  private readonly logger: Logger | undefined;
  private readonly slots: Array<Slot | undefined>;
  private readonly queue: Task[] = [];
  private nextId = 0;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(opts: TokenPoolOptions = {}) {
    this.threads = opts.threads ?? 1;
    this.inlineBelowChars = opts.inlineBelowChars ?? 4_000;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    if (!(this.timeoutMs > 0))
      throw new AppError('CONFIG_INVALID', [`tokenizer timeout ${this.timeoutMs} must be positive`]);
    if (!Number.isInteger(this.threads) || this.threads < 1)
      throw new AppError('CONFIG_INVALID', [`tokenizer threads ${this.threads} must be a positive integer`]);
    if (!Number.isInteger(this.inlineBelowChars) || this.inlineBelowChars < 0) {
      throw new AppError('CONFIG_INVALID', [
        `tokenizer inline threshold ${this.inlineBelowChars} must be a non-negative integer`,
      ]);
    }
    this.logger = opts.logger;
    this.slots = Array.from({ length: this.threads }, () => undefined);
  }

  /** Threads currently running (started and not dead or terminated). */
  get running(): number {
    return this.slots.filter(Boolean).length;
  }

  async count(text: string, signal?: AbortSignal): Promise<number> {
    this.assertOpen();
    if (text.length < this.inlineBelowChars) return inlineTokenWork.count(text, signal);
    const reply = await this.run({ kind: 'count', text }, signal);
    if (!('count' in reply))
      throw new AppError('INTERNAL', [], { details: { reason: 'token thread answered a count without one' } });
    return reply.count;
  }

  async chunk(text: string, sizes: ChunkSizes, signal?: AbortSignal): Promise<TextChunk[]> {
    this.assertOpen();
    if (text.length < this.inlineBelowChars) return inlineTokenWork.chunk(text, sizes, signal);
    const reply = await this.run(
      { kind: 'chunk', text, chunkTokens: sizes.chunkTokens, overlapTokens: sizes.overlapTokens },
      signal,
    );
    if (!('spans' in reply))
      throw new AppError('INTERNAL', [], { details: { reason: 'token thread answered a chunking without spans' } });
    const { spans } = reply;
    const chunks: TextChunk[] = new Array(spans.length / 3);
    for (let i = 0; i < chunks.length; i++) {
      const start = spans[3 * i]!;
      const end = spans[3 * i + 1]!;
      chunks[i] = { order: i, start, end, tokens: spans[3 * i + 2]!, text: text.slice(start, end) };
    }
    return chunks;
  }

  /**
   * Starts the threads now rather than on the first large text, which would
   * otherwise wait for its thread to load (about half a second under tsx).
   * For process entries (the API server, the ingest worker): they are
   * unref'd like idle threads, so a warmed pool never keeps a process alive.
   * Threads already running are kept; a no-op once closed.
   */
  warm(): void {
    if (this.closed) return;
    for (let i = 0; i < this.slots.length; i++) if (!this.slots[i]) this.spawn(i);
  }

  /**
   * Terminates every thread; calls in flight or queued reject with
   * TOKENIZER_UNAVAILABLE. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      const reason = new AppError('TOKENIZER_UNAVAILABLE', ['the tokenizer pool was closed']);
      for (const task of this.queue.splice(0)) this.settle(task, reason);
      const workers: Worker[] = [];
      this.slots.forEach((slot, i) => {
        if (!slot) return;
        if (slot.busy) {
          clearTimeout(slot.busy.timer);
          this.settle(slot.busy.task, reason);
        }
        this.slots[i] = undefined;
        workers.push(slot.worker);
      });
      await Promise.all(workers.map((w) => stopThread(w)));
    })();
    return this.closing;
  }

  private assertOpen(): void {
    if (this.closed) throw new AppError('TOKENIZER_UNAVAILABLE', ['the tokenizer pool was closed']);
  }

  private run(request: Request, signal: AbortSignal | undefined): Promise<TokenReply & { ok: true }> {
    if (signal?.aborted) return Promise.reject(cancelledBy(signal));
    return new Promise((resolve, reject) => {
      const task: Task = { request, signal, settled: false, resolve, reject, release: () => {} };
      if (signal) {
        const onAbort = (): void => this.abort(task);
        signal.addEventListener('abort', onAbort, { once: true });
        task.release = () => signal.removeEventListener('abort', onAbort);
      }
      this.queue.push(task);
      this.dispatch();
    });
  }

  private settle(task: Task, outcome: Error | (TokenReply & { ok: true })): void {
    if (task.settled) return;
    task.settled = true;
    task.release();
    if (outcome instanceof Error) task.reject(outcome);
    else task.resolve(outcome);
  }

  private abort(task: Task): void {
    const err = cancelledBy(task.signal!);
    const queued = this.queue.indexOf(task);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      this.settle(task, err);
      return;
    }
    this.logger?.info(
      { chars: task.request.text.length, kind: task.request.kind },
      'tokenizer call cancelled: its thread is dropped',
    );
    this.stopRunning(task, err);
  }

  /** Settles a task running on a thread with `err` and drops the thread: BPE cannot be interrupted. */
  private stopRunning(task: Task, err: Error): void {
    const i = this.slots.findIndex((s) => s?.busy?.task === task);
    this.settle(task, err);
    if (i >= 0) this.retire(i);
    this.dispatch();
  }

  private dispatch(): void {
    if (this.closed) return;
    for (let i = 0; i < this.slots.length && this.queue.length > 0; i++) {
      let slot = this.slots[i];
      if (slot?.busy) continue;
      slot ??= this.spawn(i);
      const task = this.queue.shift()!;
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.logger?.warn(
          { chars: task.request.text.length, kind: task.request.kind, timeoutMs: this.timeoutMs },
          'tokenizer call stopped at its time cap',
        );
        this.stopRunning(task, new AppError('TEXT_TOO_COMPLEX', [this.timeoutMs]));
      }, this.timeoutMs);
      timer.unref();
      slot.busy = { id, task, timer };
      this.logger?.debug({ chars: task.request.text.length, kind: task.request.kind }, 'tokenizer call started');
      slot.worker.ref();
      slot.worker.postMessage({ ...task.request, id } as TokenRequest);
    }
  }

  private spawn(i: number): Slot {
    const worker = startModuleThread('token-pool-worker', import.meta.url);
    const slot: Slot = { worker, busy: undefined };
    this.slots[i] = slot;
    worker.on('message', (reply: TokenReply) => {
      const busy = slot.busy;
      if (this.slots[i] !== slot || !busy || busy.id !== reply.id) return;
      clearTimeout(busy.timer);
      slot.busy = undefined;
      worker.unref();
      if (reply.ok) {
        this.settle(busy.task, reply);
      } else {
        const err = reply.name === 'RangeError' ? new RangeError(reply.message) : new Error(reply.message);
        if (!(err instanceof RangeError)) err.name = reply.name;
        this.settle(busy.task, err);
      }
      this.dispatch();
    });
    const died = (cause: Error): void => {
      if (this.slots[i] !== slot) return;
      this.slots[i] = undefined;
      this.logger?.error({ err: cause }, 'tokenizer thread died');
      if (slot.busy) clearTimeout(slot.busy.timer);
      if (slot.busy)
        this.settle(
          slot.busy.task,
          new AppError('TOKENIZER_UNAVAILABLE', [`the thread died: ${cause.message}`], { cause, transient: true }),
        );
      void stopThread(worker);
      this.dispatch();
    };
    worker.on('error', died);
    worker.on('exit', (code) => died(new Error(`exited with code ${code}`)));
    // After the listeners: adding a 'message' listener refs the worker's port again.
    worker.unref();
    return slot;
  }

  /** Drops slot `i`'s thread without waiting for it. */
  private retire(i: number): void {
    const slot = this.slots[i];
    if (!slot) return;
    if (slot.busy) clearTimeout(slot.busy.timer);
    this.slots[i] = undefined;
    void stopThread(slot.worker);
  }
}
