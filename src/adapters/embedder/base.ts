import { AppError } from '../../errors.js';
import type { Embedder } from '../../ports/embedder.js';
import { assertVectors, batches, throwIfAborted } from './vectors.js';

/** Options every embedder takes. */
export interface EmbedderBaseOptions {
  /** Text put before every query (e5: "query: ", nomic: "search_query: "). Default ''. */
  queryPrefix?: string;
  /** Text put before every chunk (e5: "passage: ", nomic: "search_document: "). Default ''. */
  documentPrefix?: string;
  /** Most texts per call to the model (see {@link EmbedderBase.inBatches}). Default 16. */
  batchSize?: number;
}

/**
 * What the embedders do alike, so that each adapter keeps only what differs
 * (its id, how it loads its model, how it embeds texts): the query and
 * document prefixes; the model loaded once on first use, shared by concurrent
 * callers and forgotten after a failure, so the next call tries again; close()
 * releasing it; the vector size told by the model or learnt from a first
 * batch; and the output checked (count, size) before it leaves the adapter.
 */
export abstract class EmbedderBase<Model> implements Embedder {
  abstract readonly id: string;
  protected readonly queryPrefix: string;
  protected readonly documentPrefix: string;
  protected readonly batchSize: number;
  /** The vector size: set by {@link load} when the model tells it, else by the adapter on its first batch. */
  protected dims: number | undefined;
  #loading: Promise<Model> | undefined;

  constructor(opts: EmbedderBaseOptions = {}) {
    this.queryPrefix = opts.queryPrefix ?? '';
    this.documentPrefix = opts.documentPrefix ?? '';
    this.batchSize = opts.batchSize ?? 16;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1)
      throw new AppError('CONFIG_INVALID', [`embedding batch size ${this.batchSize} must be a positive integer`]);
  }

  /** Loads the model (files, threads, a session); run again only after it failed or the model was dropped. */
  protected abstract load(): Promise<Model>;

  /**
   * Embeds `texts` (prefixes applied, at least one) in order. `urgent` marks a
   * query, which an adapter with a queue may serve first.
   */
  protected abstract embedTexts(
    model: Model,
    texts: readonly string[],
    signal: AbortSignal | undefined,
    urgent: boolean,
  ): Promise<Float32Array[]>;

  /** Releases a loaded model on close(). Default: nothing to release. */
  protected async release(_model: Model): Promise<void> {}

  async dimensions(): Promise<number> {
    await this.loaded();
    if (this.dims === undefined) await this.embed(['dimension probe'], undefined, false);
    return this.dims!;
  }

  embedDocuments(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]> {
    return this.embed(
      texts.map((t) => this.documentPrefix + t),
      signal,
      false,
    );
  }

  async embedQuery(text: string, signal?: AbortSignal): Promise<Float32Array> {
    const [v] = await this.embed([this.queryPrefix + text], signal, true);
    return v!;
  }

  async health(): Promise<void> {
    await this.loaded();
  }

  async close(): Promise<void> {
    const loading = this.#loading;
    this.#loading = undefined;
    if (!loading) return;
    const model = await loading.catch(() => undefined);
    if (model !== undefined) await this.release(model);
  }

  /** The model, loaded on first use. */
  protected loaded(): Promise<Model> {
    this.#loading ??= this.load().catch((err: unknown) => {
      // Forget the failure so a later call (after the model is installed, the server is back) can retry.
      this.#loading = undefined;
      throw err;
    });
    return this.#loading;
  }

  /** Drops the loaded model without releasing it (it died and was cleaned up): the next call loads a fresh one. */
  protected forget(): void {
    this.#loading = undefined;
  }

  protected async embed(
    texts: readonly string[],
    signal: AbortSignal | undefined,
    urgent: boolean,
  ): Promise<Float32Array[]> {
    throwIfAborted(signal);
    if (texts.length === 0) return [];
    const model = await this.loaded();
    const out = await this.embedTexts(model, texts, signal, urgent);
    assertVectors(out, texts.length, this.dims!, this.id);
    return out;
  }

  /** For {@link embedTexts}: `embedBatch` over batches of `batchSize`, one after another, cancelled between them. */
  protected async inBatches(
    texts: readonly string[],
    signal: AbortSignal | undefined,
    embedBatch: (batch: string[]) => Promise<Float32Array[]>,
  ): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (const batch of batches(texts, this.batchSize)) {
      throwIfAborted(signal);
      out.push(...(await embedBatch(batch)));
    }
    return out;
  }
}
