import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { AppError } from '../../errors.js';
import { EmbedderBase, type EmbedderBaseOptions } from './base.js';

export type Pooling = 'mean' | 'cls';

export interface TransformersEmbedderOptions extends EmbedderBaseOptions {
  /** Directory holding one folder per model (Hugging Face layout: config.json, tokenizer.json, onnx/). */
  modelDir: string;
  /** Folder name of the model under `modelDir`, e.g. `bge-small-en-v1.5`. */
  model: string;
  /** Pooling of token vectors: `cls` for bge, `mean` for e5/gte/nomic. Default `mean`. */
  pooling?: Pooling;
  /** Weights variant transformers.js picks in onnx/ (`fp32` = model.onnx, `q8` = model_quantized.onnx...). Default `fp32`. */
  dtype?: 'fp32' | 'fp16' | 'q8' | 'int8' | 'uint8' | 'q4' | 'bnb4' | 'q4f16';
  /** onnxruntime intra-op threads. Default: onnxruntime's own choice (one per core). */
  threads?: number;
  logger?: Logger;
}

type FeatureExtractor = {
  (
    texts: string[],
    opts: { pooling: Pooling; normalize: boolean },
  ): Promise<{ dims: number[]; data: unknown; dispose?: () => void }>;
  dispose(): Promise<void>;
};

/**
 * Any sentence-embedding model exported to ONNX (bge, e5, gte, nomic, MiniLM...)
 * run in process by transformers.js on onnxruntime-node. It only ever reads the
 * local model directory: remote models are switched off, so a missing model
 * is an EMBEDDER_UNAVAILABLE error and never a download.
 */
export class TransformersEmbedder extends EmbedderBase<FeatureExtractor> {
  readonly id: string;
  private readonly path: string;
  private readonly pooling: Pooling;
  private readonly dtype: NonNullable<TransformersEmbedderOptions['dtype']>;
  private readonly threads: number | undefined;
  private readonly logger: Logger | undefined;

  constructor(opts: TransformersEmbedderOptions) {
    super(opts);
    if (!opts.model || opts.model.split(/[\\/]/).some((part) => part === '..' || part === '')) {
      throw new AppError('CONFIG_INVALID', [
        `embedding model name "${opts.model}" must be a folder under the model directory`,
      ]);
    }
    this.path = resolve(opts.modelDir, opts.model);
    this.pooling = opts.pooling ?? 'mean';
    this.dtype = opts.dtype ?? 'fp32';
    this.threads = opts.threads;
    this.logger = opts.logger;
    // The model directory is left out: moving the models folder must not invalidate cached vectors.
    this.id = [
      `transformers:${opts.model}`,
      `pooling=${this.pooling}`,
      ...(this.dtype === 'fp32' ? [] : [`dtype=${this.dtype}`]),
      `query=${JSON.stringify(this.queryPrefix)}`,
      `document=${JSON.stringify(this.documentPrefix)}`,
    ].join('|');
  }

  protected override async release(extractor: FeatureExtractor): Promise<void> {
    await extractor.dispose();
  }

  protected embedTexts(
    extractor: FeatureExtractor,
    texts: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<Float32Array[]> {
    return this.inBatches(texts, signal, async (batch) => {
      let tensor: Awaited<ReturnType<FeatureExtractor>>;
      try {
        tensor = await extractor(batch, { pooling: this.pooling, normalize: true });
      } catch (err) {
        throw new AppError('EMBEDDER_UNAVAILABLE', [`${this.id}: inference failed: ${(err as Error).message}`], {
          cause: err,
        });
      }
      const [rows, dims] = tensor.dims;
      const data = tensor.data;
      if (rows !== batch.length || dims === undefined || !(data instanceof Float32Array)) {
        throw new AppError('EMBEDDER_BAD_RESPONSE', [
          `${this.id}: output of shape [${tensor.dims.join(', ')}] for ${batch.length} texts`,
        ]);
      }
      // Copies, so the vectors outlive the tensor's buffer.
      const out = Array.from({ length: rows }, (_, r) => data.slice(r * dims, (r + 1) * dims));
      tensor.dispose?.();
      this.dims ??= dims;
      return out;
    });
  }

  protected async load(): Promise<FeatureExtractor> {
    const missing = await firstMissing(this.path, ['config.json', 'tokenizer.json', 'onnx']);
    if (missing) {
      throw new AppError('EMBEDDER_UNAVAILABLE', [
        `model directory ${this.path} has no ${missing} (expected a Hugging Face model folder with an onnx/ subfolder)`,
      ]);
    }
    const started = Date.now();
    try {
      const { pipeline, env } = await import('@huggingface/transformers');
      // Never the network, and no model cache in node_modules that could shadow the local folder.
      env.allowRemoteModels = false;
      env.allowLocalModels = true;
      env.useFSCache = false;
      // An absolute path is not a hub id, so transformers.js reads it as is; env.localModelPath
      // (a process-wide global) would make two embedders with different directories race.
      const extractor = await pipeline('feature-extraction', this.path, {
        local_files_only: true,
        device: 'cpu',
        dtype: this.dtype,
        ...(this.threads ? { session_options: { intraOpNumThreads: this.threads } } : {}),
      });
      this.logger?.info({ embedder: this.id, ms: Date.now() - started }, 'embedding model loaded');
      return extractor as unknown as FeatureExtractor;
    } catch (err) {
      throw new AppError('EMBEDDER_UNAVAILABLE', [`cannot load ${this.path}: ${(err as Error).message}`], {
        cause: err,
      });
    }
  }
}

async function firstMissing(dir: string, entries: readonly string[]): Promise<string | undefined> {
  for (const entry of entries) {
    try {
      await stat(join(dir, entry));
    } catch {
      return entry;
    }
  }
  return undefined;
}
