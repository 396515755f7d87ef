/**
 * Dumps, per LaRA dev question, every routing feature the service can compute
 * at query time (retrieval curve shape for BM25 and dense scores, question
 * terms against the top chunk and the document, cues, sizes) together with
 * each recorded model's judged answers (full and RAG, approximate lexical
 * judge). eval/fit-router.ts fits and
 * checks learned preferences from this file.
 *
 *   npx tsx eval/router-features.ts [--dataset ../shared/datasets/lara] [--data-dir data/eval-embed] [--out eval-out/router-features.json]
 *
 * Documents are ingested with the default config, as eval/replay-router.ts does
 * (same data dir, so the two share the embedding cache).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { buildContainer } from '../src/container.js';
import { createLogger } from '../src/logger.js';
import { configuredAdaptiveK } from '../src/core/retrieval/defaults.js';
import { vocabulary } from '../src/core/routing/terms.js';
import { questionFeatures, type RouterFeatures } from './routing/features.js';
import { loadLara, loadPredictions } from './lara/dataset.js';
import { declines, judgeLexical } from './judges/lexical.js';
import { laraDocumentId, ingestLara } from './lara/ingest.js';

const { values: args } = parseArgs({
  options: {
    dataset: { type: 'string', default: '../shared/datasets/lara' },
    'data-dir': { type: 'string', default: 'data/eval-embed' },
    out: { type: 'string', default: 'eval-out/router-features.json' },
    limit: { type: 'string' },
  },
});

export interface FeatureRow {
  id: string;
  document: string;
  task: string;
  length: string;
  type: string;
  question: string;
  features: RouterFeatures;
  /** model → judged correctness of its recorded answers (absent when a mode is missing). */
  judged: Record<string, { rag: boolean; full: boolean; ragDeclines: boolean }>;
}

async function main(): Promise<void> {
  const root = resolve(args.dataset!);
  const ds = loadLara(root);
  const limit = args.limit === undefined ? Infinity : Number(args.limit);
  const queries = ds.groups.flatMap((g) => g.queries.slice(0, limit));
  const cfg = loadConfig(process.env, {
    dotenvPath: null,
    overrides: { DATA_DIR: resolve(args['data-dir']!), LLM_PROVIDER: 'extractive', LOG_LEVEL: 'warn' },
  });
  const c = buildContainer(cfg, createLogger('warn'), { role: 'local' });
  await c.runner?.start();
  try {
    await ingestLara(c, queries, (q) => ds.documentText(q));

    const judged = new Map<string, Record<string, { rag?: boolean; full?: boolean; ragDeclines?: boolean }>>();
    for (const p of loadPredictions(root).predictions) {
      const key = `${p.length}|${p.type}|${p.task}|${p.file ?? ''}|${p.question}`;
      const byModel = judged.get(key) ?? {};
      const e = (byModel[p.model] ??= {});
      e[p.mode] = judgeLexical({ question: p.question, answer: p.groundTruth, prediction: p.prediction, task: p.task }).correct;
      if (p.mode === 'rag') e.ragDeclines = declines(p.prediction);
      judged.set(key, byModel);
    }

    const method = configuredAdaptiveK(cfg);
    const vocabularies = new Map<string, Set<string>>();
    const rows: FeatureRow[] = [];
    for (const q of queries) {
      const id = laraDocumentId(q);
      let vocab = vocabularies.get(id);
      if (!vocab) vocabularies.set(id, (vocab = vocabulary(ds.documentText(q))));
      const r = await c.retrieval.retrieve({ namespace: 'lara-dev', question: q.question, documentIds: [id], method, score: 'bm25', hybridAlpha: 0.5 });
      const features = questionFeatures(q.question, r, [vocab], 128_000);
      const byModel = judged.get(`${q.length}|${q.type}|${q.task}|${q.file}|${q.question}`) ?? {};
      const complete: FeatureRow['judged'] = {};
      for (const [m, e] of Object.entries(byModel)) if (e.rag !== undefined && e.full !== undefined) complete[m] = { rag: e.rag, full: e.full, ragDeclines: e.ragDeclines ?? false };
      rows.push({ id: q.id, document: id, task: q.task, length: q.length, type: q.type, question: q.question, features, judged: complete });
      if (rows.length % 200 === 0) console.error(`features ${rows.length}/${queries.length}`);
    }
    mkdirSync(dirname(resolve(args.out!)), { recursive: true });
    writeFileSync(resolve(args.out!), JSON.stringify(rows));
    console.error(`wrote ${rows.length} rows to ${args.out}`);
  } finally {
    await c.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
