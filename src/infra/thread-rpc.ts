import { parentPort, type Worker } from 'node:worker_threads';
import { startModuleThread, stopThread } from './worker-thread.js';

/** A call posted to an {@link RpcThread}'s worker. */
export interface RpcRequest<P> {
  seq: number;
  body: P;
}

/** A worker's reply to one {@link RpcRequest}: the value, or the failure's SQLite code (if any) and message. */
export type RpcReply<R> =
  | { seq: number; ok: true; value: R }
  | { seq: number; ok: false; code: string | null; message: string };

export interface RpcThreadOptions {
  /** What the thread is called in errors ("the search thread"). */
  name: string;
  /** The worker module's name beside `base` (without `.ts` / `.js`; under tsx the `.ts` one is loaded). */
  entry: string;
  /** `import.meta.url` of the module naming the entry. */
  base: string;
  /** What the worker module reads from `workerData` besides its entry. */
  workerData: Record<string, unknown>;
  /** The error of every pending call when the thread stops (`cause` set) or is closed (no `cause`). */
  stopped(cause?: unknown): Error;
  /** The error of a call the worker replied a failure to. */
  failed(code: string | null, message: string): unknown;
}

/**
 * Calls into one worker thread, in order: started on the first call, ref'd
 * while a call is pending and unref'd while idle (it never keeps the process
 * alive), restarted on the next call after it dies. The SQLite search and
 * write threads are two of these; their workers answer with {@link serveRpc}.
 */
export class RpcThread<P, R> {
  readonly #opts: RpcThreadOptions;
  #worker: Worker | null = null;
  #seq = 0;
  readonly #calls = new Map<number, { resolve: (value: R) => void; reject: (err: unknown) => void }>();

  constructor(opts: RpcThreadOptions) {
    this.#opts = opts;
  }

  /** Posts one call; `transfer` lists buffers of `body` to move rather than copy. */
  call(body: P, transfer: ArrayBuffer[] = []): Promise<R> {
    const worker = this.#thread();
    const seq = ++this.#seq;
    return new Promise((resolve, reject) => {
      this.#calls.set(seq, { resolve, reject });
      worker.ref();
      worker.postMessage({ seq, body } satisfies RpcRequest<P>, transfer);
    });
  }

  /** Stops the thread; pending calls fail with `stopped()`. */
  async close(): Promise<void> {
    const w = this.#worker;
    this.#worker = null;
    if (w) await stopThread(w);
    this.#failAll(this.#opts.stopped());
  }

  #thread(): Worker {
    if (this.#worker) return this.#worker;
    const worker = startModuleThread(this.#opts.entry, this.#opts.base, this.#opts.workerData);
    worker.on('message', (reply: RpcReply<R>) => {
      const call = this.#calls.get(reply.seq);
      if (!call) return;
      this.#calls.delete(reply.seq);
      if (this.#calls.size === 0) worker.unref();
      if (reply.ok) call.resolve(reply.value);
      else call.reject(this.#opts.failed(reply.code, reply.message));
    });
    const die = (err: unknown) => {
      if (this.#worker !== worker) return;
      this.#worker = null;
      this.#failAll(this.#opts.stopped(err));
    };
    worker.on('error', die);
    worker.on('exit', (code) => die(new Error(`${this.#opts.name} exited with ${code}`)));
    worker.unref();
    this.#worker = worker;
    return worker;
  }

  #failAll(err: unknown): void {
    const calls = [...this.#calls.values()];
    this.#calls.clear();
    for (const c of calls) c.reject(err);
  }
}

/** The worker side of an {@link RpcThread}: answers each call with `handle`'s value or its error's code and message. */
export function serveRpc<P, R>(handle: (body: P) => R): void {
  const port = parentPort;
  if (!port) throw new Error('an RPC worker runs only as a worker thread');
  port.on('message', (req: RpcRequest<P>) => {
    let reply: RpcReply<R>;
    try {
      reply = { seq: req.seq, ok: true, value: handle(req.body) };
    } catch (err) {
      const e = err as { message?: string; code?: string };
      reply = { seq: req.seq, ok: false, code: e.code ?? null, message: e.message ?? String(err) };
    }
    port.postMessage(reply);
  });
}
