/**
 * Ingestion benchmark: the real pipeline (HTTP-free core: validation, storage,
 * queue, chunking, embedding, vector store) against the bare embedder on the
 * same chunks, measured in the same run. The embedder is the floor; the
 * pipeline should cost little on top of it.
 *
 *   npx tsx bench/ingest.ts [--dataset ../shared/datasets/lara] [--length 128k] [--limit N]
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cliHelp, exitOnHelp, type CliOptions } from '../src/cli/help.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { buildContainer } from '../src/container.js';
import { createEmbedder } from '../src/adapters/embedder/index.js';
import { chunkText } from '../src/core/ingest/chunker.js';

const OPTIONS = {
  dataset: { type: 'string', default: new URL('../../shared/datasets/lara', import.meta.url).pathname },
  length: { type: 'string', default: '128k' },
  limit: { type: 'string', default: '0' },
} satisfies CliOptions;
exitOnHelp(() =>
  cliHelp({
    usage: 'npx tsx bench/ingest.ts [options]',
    about: 'Ingestion benchmark: the real pipeline against the bare embedder on the same chunks, in the same run (chunks/s, ratio, peak RSS).',
    options: OPTIONS,
    describe: {
      dataset: 'LaRA-style dataset directory',
      length: 'documents of this length (32k, 64k, 128k)',
      limit: 'documents (0 = all)',
    },
  }),
);
const { values } = parseArgs({ options: OPTIONS });

async function documents(): Promise<Array<{ name: string; text: string }>> {
  const root = join(values.dataset!, 'documents', values.length!);
  const out: Array<{ name: string; text: string }> = [];
  for (const type of (await readdir(root)).sort()) {
    for (const f of (await readdir(join(root, type))).sort()) out.push({ name: `${type}/${f}`, text: await readFile(join(root, type, f), 'utf8') });
  }
  // Interleave types so a --limit still sees books, papers and filings.
  out.sort((x, y) => (x.name.split('/')[1]! < y.name.split('/')[1]! ? -1 : 1));
  const limit = Number(values.limit);
  return limit > 0 ? out.slice(0, limit) : out;
}

function rssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

async function main(): Promise<void> {
  const docs = await documents();
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-ingest-'));
  const config = loadConfig(process.env, { overrides: { DATA_DIR: dataDir, LOG_LEVEL: 'warn', REDIS_URL: '', VECTOR_STORE: 'embedded' } });
  const chunks = docs.flatMap((d) => chunkText(d.text, { chunkTokens: config.CHUNK_TOKENS, overlapTokens: config.CHUNK_OVERLAP_TOKENS }));
  const tokens = docs.reduce((a, d) => a + d.text.length, 0);
  console.log(`documents: ${docs.length} (${values.length}), ${chunks.length} chunks, ${(tokens / 1e6).toFixed(2)}M chars, embedder ${config.EMBEDDER}, batch ${config.EMBED_BATCH_SIZE}`);

  // Every measurement starts after a warm-up (model load, first-call compilation).
  // 1. The bare embedder on exactly the chunks the pipeline will embed (its own, empty cache dir).
  //    Measured before and after the pipeline: the machine's load drifts, so the baseline is their mean.
  // Repeated chunk texts (boilerplate in filings, reference lists) are embedded once by the pipeline's
  // cache, so the floor is the time the bare embedder needs for the distinct texts.
  const distinct = [...new Set(chunks.map((c) => c.text))];
  const bareRun = async (): Promise<number> => {
    const start = performance.now();
    for (let i = 0; i < distinct.length; i += config.EMBED_BATCH_SIZE) {
      await bare.embedDocuments(distinct.slice(i, i + config.EMBED_BATCH_SIZE));
    }
    return (performance.now() - start) / 1000;
  };
  const bareDir = join(dataDir, 'bare');
  let bare = createEmbedder({ ...config, DATA_DIR: bareDir } as typeof config, {});
  await bare.embedDocuments(['warm up the model with a sentence.', 'and another one.']);
  const bareSec1 = await bareRun();
  await bare.close();
  let t = 0;

  // 2. The pipeline: submit every document, wait until all are indexed (fresh store and cache).
  const container = buildContainer(config, createLogger('warn'), { role: 'local' });
  await container.runner!.start();
  await container.embedder.embedDocuments(['warm up the model with a sentence.', 'and another one.']);
  t = performance.now();
  const ids: string[] = [];
  for (const d of docs) ids.push((await container.documentService.submit({ namespace: 'bench', title: d.name, text: d.text, source: d.name })).document.id);
  for (;;) {
    const states = await Promise.all(ids.map((id) => container.documentService.get('bench', id)));
    const failed = states.filter((s) => s.status === 'failed');
    if (failed.length > 0) throw new Error(`ingestion failed: ${failed.map((f) => `${f.id} ${f.error?.message}`).join('; ')}`);
    if (states.every((s) => s.status === 'ready' && !s.pending)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const pipeSec = (performance.now() - t) / 1000;
  const stored = (await Promise.all(ids.map((id) => container.documentService.get('bench', id)))).reduce((a, d) => a + d.chunkCount, 0);
  const cacheStats = (container.embedder as unknown as { stats?: () => { hits: number; misses: number } }).stats?.();
  await container.close();

  // 1b. The bare embedder again, with a fresh cache so nothing is served from disk.
  await rm(bareDir, { recursive: true, force: true });
  bare = createEmbedder({ ...config, DATA_DIR: bareDir } as typeof config, {});
  await bare.embedDocuments(['warm up the model with a sentence.', 'and another one.']);
  const bareSec2 = await bareRun();
  await bare.close();
  await rm(dataDir, { recursive: true, force: true });
  const bareSec = (bareSec1 + bareSec2) / 2;

  const bareRate = chunks.length / bareSec;
  const pipeRate = stored / pipeSec;
  console.log(`bare embedder : ${distinct.length} distinct chunk texts (of ${chunks.length}) in ${bareSec1.toFixed(1)} s before and ${bareSec2.toFixed(1)} s after the pipeline, mean ${bareRate.toFixed(2)} chunks/s (chunks served per second)`);
  console.log(`pipeline cache: ${cacheStats ? `${cacheStats.hits} hits, ${cacheStats.misses} misses (hits: repeated chunk texts, embedded once)` : 'n/a'}`);
  console.log(`pipeline      : ${stored} chunks in ${pipeSec.toFixed(1)} s = ${pipeRate.toFixed(2)} chunks/s (end to end: submit, store text, queue, chunk, embed, store vectors, flip version)`);
  console.log(`ratio         : pipeline / bare embedder = ${(pipeRate / bareRate).toFixed(3)} (target ≥ 0.85)`);
  console.log(`peak RSS      : ${rssMiB().toFixed(0)} MiB`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
