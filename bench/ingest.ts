/**
 * Ingestion benchmark: the real pipeline (HTTP-free core: validation, storage,
 * queue, chunking, embedding, vector store) with each embedder in turn, on the
 * same documents in the same run, and each bare embedder on the same chunks
 * (the floor the pipeline adds to). The first embedder is the baseline (USE
 * lite, the default before issue 18); the ratios compare the others with it.
 *
 *   npx tsx bench/ingest.ts [--dataset ../shared/datasets/lara] [--length 128k] [--limit N]
 *                           [--embedders use-lite,use-lite-static]
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cliHelp, exitOnHelp, type CliOptions } from '../src/cli/help.js';
import { loadConfig, type Config } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { buildContainer } from '../src/container.js';
import { createEmbedder } from '../src/adapters/embedder/index.js';
import { chunkText } from '../src/core/ingest/chunker.js';

const OPTIONS = {
  dataset: { type: 'string', default: new URL('../../shared/datasets/lara', import.meta.url).pathname },
  length: { type: 'string', default: '128k' },
  limit: { type: 'string', default: '2' },
  embedders: { type: 'string', default: 'use-lite,use-lite-static' },
} satisfies CliOptions;
exitOnHelp(() =>
  cliHelp({
    usage: 'npx tsx bench/ingest.ts [options]',
    about:
      'Ingestion benchmark: the real pipeline and the bare embedder on the same chunks, with each embedder in turn, in the same run (chunks/s, pipeline vs bare, each embedder vs the first, peak RSS).',
    options: OPTIONS,
    describe: {
      dataset: 'LaRA-style dataset directory',
      length: 'documents of this length (32k, 64k, 128k)',
      limit: 'documents (0 = all)',
      embedders: 'EMBEDDER values to compare, the baseline first',
    },
  }),
);
const { values } = parseArgs({ options: OPTIONS });

async function documents(): Promise<Array<{ name: string; text: string }>> {
  const root = join(values.dataset!, 'documents', values.length!);
  const out: Array<{ name: string; text: string }> = [];
  for (const type of (await readdir(root)).sort()) {
    for (const f of (await readdir(join(root, type))).sort())
      out.push({ name: `${type}/${f}`, text: await readFile(join(root, type, f), 'utf8') });
  }
  // Interleave types so a --limit still sees books, papers and filings.
  out.sort((x, y) => (x.name.split('/')[1]! < y.name.split('/')[1]! ? -1 : 1));
  const limit = Number(values.limit);
  return limit > 0 ? out.slice(0, limit) : out;
}

const WARM_UP = ['warm up the model with a sentence.', 'and another one.'];

/** The bare embedder (empty cache of its own) on the distinct chunk texts, in the pipeline's batch size: seconds. */
async function bare(config: Config, dataDir: string, distinct: readonly string[]): Promise<number> {
  const embedder = createEmbedder({ ...config, DATA_DIR: dataDir });
  try {
    await embedder.embedDocuments(WARM_UP);
    const start = performance.now();
    for (let i = 0; i < distinct.length; i += config.EMBED_BATCH_SIZE)
      await embedder.embedDocuments(distinct.slice(i, i + config.EMBED_BATCH_SIZE));
    return (performance.now() - start) / 1000;
  } finally {
    await embedder.close();
  }
}

/** The whole pipeline on a fresh data directory: submit every document, wait until all are live. */
async function pipeline(
  config: Config,
  docs: ReadonlyArray<{ name: string; text: string }>,
): Promise<{ seconds: number; chunks: number; hits: number; misses: number }> {
  const container = buildContainer(config, createLogger('warn'), { role: 'local' });
  try {
    await container.runner!.start();
    await container.embedder.embedDocuments(WARM_UP);
    const t = performance.now();
    const ids: string[] = [];
    for (const d of docs)
      ids.push(
        (await container.documentService.submit({ namespace: 'bench', title: d.name, text: d.text, source: d.name }))
          .document.id,
      );
    for (;;) {
      const states = await Promise.all(ids.map((id) => container.documentService.get('bench', id)));
      const failed = states.filter((s) => s.status === 'failed');
      if (failed.length > 0)
        throw new Error(`ingestion failed: ${failed.map((f) => `${f.id} ${f.error?.message}`).join('; ')}`);
      if (states.every((s) => s.status === 'ready' && !s.pending)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - t) / 1000;
    const chunks = (await Promise.all(ids.map((id) => container.documentService.get('bench', id)))).reduce(
      (a, d) => a + d.chunkCount,
      0,
    );
    const stats = (container.embedder as unknown as { stats?: () => { hits: number; misses: number } }).stats?.() ?? {
      hits: 0,
      misses: 0,
    };
    return { seconds, chunks, ...stats };
  } finally {
    await container.close();
  }
}

async function main(): Promise<void> {
  const docs = await documents();
  const embedders = values.embedders!.split(',');
  const root = await mkdtemp(join(tmpdir(), 'bench-ingest-'));
  const base = loadConfig(process.env, {
    overrides: { DATA_DIR: root, LOG_LEVEL: 'warn', REDIS_URL: '', VECTOR_STORE: 'embedded' },
  });
  const chunks = docs.flatMap((d) =>
    chunkText(d.text, { chunkTokens: base.CHUNK_TOKENS, overlapTokens: base.CHUNK_OVERLAP_TOKENS }),
  );
  // Repeated chunk texts (boilerplate in filings, reference lists) are embedded once by the pipeline's cache,
  // so the floor is the time the bare embedder needs for the distinct texts.
  const distinct = [...new Set(chunks.map((c) => c.text))];
  const chars = docs.reduce((a, d) => a + d.text.length, 0);
  console.log(
    `documents: ${docs.length} (${values.length}), ${chunks.length} chunks (${distinct.length} distinct), ${(chars / 1e6).toFixed(2)}M chars, batch ${base.EMBED_BATCH_SIZE}`,
  );

  const rows: Array<{ embedder: string; bareRate: number; pipeRate: number; seconds: number; note: string }> = [];
  try {
    for (const name of embedders) {
      const config = { ...base, EMBEDDER: name, DATA_DIR: join(root, name) } as Config;
      const bareSec = await bare(config, join(root, `${name}-bare`), distinct);
      const run = await pipeline(config, docs);
      rows.push({
        embedder: name,
        bareRate: chunks.length / bareSec,
        pipeRate: run.chunks / run.seconds,
        seconds: run.seconds,
        note: `${run.chunks} chunks in ${run.seconds.toFixed(1)} s; cache ${run.hits} hits, ${run.misses} misses`,
      });
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }

  const first = rows[0]!;
  console.log(
    `\n${'embedder'.padEnd(18)} ${'bare chunks/s'.padStart(14)} ${'pipeline chunks/s'.padStart(18)} ${'pipeline/bare'.padStart(14)} ${`pipeline vs ${first.embedder}`.padStart(22)}  pipeline run`,
  );
  for (const r of rows) {
    console.log(
      `${r.embedder.padEnd(18)} ${r.bareRate.toFixed(1).padStart(14)} ${r.pipeRate.toFixed(1).padStart(18)} ${(r.pipeRate / r.bareRate).toFixed(3).padStart(14)} ${`${(r.pipeRate / first.pipeRate).toFixed(1)}×`.padStart(22)}  ${r.note}`,
    );
  }
  console.log(`\npeak RSS of the run: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
