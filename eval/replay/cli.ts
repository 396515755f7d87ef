/**
 * The router's recorded-answer replay on a LaRA-style set (Li et al., 2025,
 * arXiv 2502.09977): measure every question once with the service's own code,
 * judge each model's recorded answers, cross-validate the router's rules by
 * document (and leave-one-model-out), sweep the cost–accuracy frontier.
 *
 *   npm run replay -- --dataset DIR --model M [--model …|--model all] --out DIR
 *     [--data-dir data/eval-embed] [--window 128000] [--folds 5] [--seed 1] [--limit N] [--records FILE]
 *
 * Writes OUT/summary.json (per model at the default operating point: n,
 * alwaysRag, alwaysFull, routed, oracle, ragShare, tokensRead, tokensFull, and
 * the frontier), OUT/report.md, OUT/report.html (frontier charts) and
 * OUT/records.json (the measured questions; --records reuses such a file
 * instead of retrieving again). Prints the tables.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { cliHelp, exitOnHelp, type CliOptions } from '../../src/cli/help.js';
import { loadConfig, type Config } from '../../src/config.js';
import { adaptiveKSettings, routerSettings } from '../../src/container.js';
import { createLogger } from '../../src/logger.js';
import { InProcessBackend } from '../harness/backend.js';
import { selectQuestions } from '../harness/dataset.js';
import type { EvalQuestion } from '../harness/types.js';
import { silentProgress } from '../harness/progress.js';
import { loadPredictions } from '../lara/dataset.js';
import { lexicalJudge, type Judge } from '../judges/llm.js';
import { crossValidate, crossValidatePolicy, fitAll, fitPolicy, VARIANTS, type ModelAnswers } from './cv.js';
import { answeredFor, judgePredictions } from './judged.js';
import { measureQuestions, noDenseEmbedder, type QuestionRecord } from './records.js';
import { frontierChart, htmlReport, markdownReport, standaloneSvg, type ReplaySummary } from './report.js';
import { summarise } from './summary.js';
import { primaryVariant } from './variant.js';

const OPTIONS = {
  dataset: { type: 'string', default: '../shared/datasets/lara' },
  model: { type: 'string', multiple: true },
  out: { type: 'string', default: 'eval-out/replay' },
  'data-dir': { type: 'string', default: 'data/eval-embed' },
  window: { type: 'string', default: '128000' },
  folds: { type: 'string', default: '5' },
  seed: { type: 'string', default: '1' },
  limit: { type: 'string' },
  records: { type: 'string' },
  /**
   * Ingest without embedding (a constant vector stands in): with RETRIEVAL_SCORE=bm25 (the default) no routing
   * signal reads an embedding, so the replay's numbers do not change; only the dense-agreement signal
   * (tried in the replay only) goes unmeasured. For machines where embedding the corpus takes too long.
   */
  'lexical-only': { type: 'boolean', default: false },
} satisfies CliOptions;

/**
 * The measured questions: read from --records when it exists, else measured here with the service's own code
 * (ingesting the documents first; with --lexical-only without embedding them).
 */
async function questionRecords(
  questions: readonly EvalQuestion[],
  a: { records?: string | undefined; 'lexical-only'?: boolean | undefined },
  o: { config: Config; logger: Logger; window: number; text: (q: EvalQuestion) => string },
): Promise<QuestionRecord[]> {
  const { config, logger, window, text } = o;
  if (a.records && existsSync(a.records)) {
    const byId = new Map((JSON.parse(readFileSync(a.records, 'utf8')) as QuestionRecord[]).map((r) => [r.id, r]));
    const records = questions.map((q) => byId.get(q.id)).filter((r): r is QuestionRecord => r !== undefined);
    console.error(`read ${records.length} measured questions from ${a.records}`);
    return records;
  }
  const lexicalOnly = a['lexical-only']!;
  if (lexicalOnly && config.RETRIEVAL_SCORE !== 'bm25')
    throw new Error(
      `--lexical-only needs RETRIEVAL_SCORE=bm25 (the routing signals read ${config.RETRIEVAL_SCORE} scores)`,
    );
  const backend = new InProcessBackend({
    config,
    logger,
    namespace: 'lara-dev',
    ...(lexicalOnly ? { overrides: { embedder: noDenseEmbedder() } } : {}),
  });
  await backend.start();
  try {
    const docs = new Map(questions.map((q) => [q.documentId, { id: q.documentId, title: q.file, text: text(q) }]));
    await backend.ensureDocuments([...docs.values()], silentProgress);
    let done = 0;
    return await measureQuestions(backend, questions, {
      config,
      logger,
      window,
      selection: adaptiveKSettings(config),
      documentText: text,
      dense: !lexicalOnly,
      onDone: () => ++done % 200 === 0 && console.error(`measured ${done}/${questions.length}`),
    });
  } finally {
    await backend.close();
  }
}

/** Each named model's recorded answers (all: every model in predictions/), judged, one per measured question. */
async function judgedModels(
  dataset: string,
  records: readonly QuestionRecord[],
  wanted: readonly string[] | undefined,
  judge: Judge,
): Promise<ModelAnswers[]> {
  const { predictions, errors } = loadPredictions(dataset);
  for (const e of errors) console.error(`unreadable prediction ${e.file}:${e.line}: ${e.message}`);
  const known = [...new Set(predictions.map((p) => p.model))].sort();
  const names = !wanted || wanted.includes('all') ? known : wanted;
  for (const m of names)
    if (!known.includes(m))
      throw new Error(`no predictions for model ${JSON.stringify(m)} (found: ${known.join(', ') || 'none'})`);
  const models: ModelAnswers[] = [];
  for (const m of names) {
    const judged = await judgePredictions(predictions, m, judge);
    models.push({ model: m, answers: records.map((r) => answeredFor(judged, r)) });
  }
  return models;
}

async function main(argv: string[]): Promise<number> {
  exitOnHelp(
    () =>
      cliHelp({
        usage: 'npm run replay -- --dataset DIR --model M [options]',
        about:
          "The router's recorded-answer replay on a LaRA-style set: every question measured once with the service's own code, each model's recorded answers judged, the rules cross-validated by document and leave-one-model-out, the cost-accuracy frontier swept.",
        options: OPTIONS,
        describe: {
          dataset: 'LaRA-style dataset directory',
          model: 'recorded answers to replay (predictions/M), or all',
          out: 'summary.json, report.md, report.html, records.json, frontier-*.svg',
          'data-dir': 'data dir (shared embedding cache)',
          window: 'context window the router assumes',
          folds: 'folds by document',
          seed: 'random seed',
          limit: 'questions',
          records: 'reuse a records.json instead of retrieving again',
          'lexical-only': 'ingest without embedding (BM25 routing signals only; dense agreement unmeasured)',
        },
      }),
    argv,
  );
  const { values: a } = parseArgs({ args: argv, options: OPTIONS });
  const dataset = resolve(a.dataset!);
  const out = resolve(a.out!);
  const window = Number(a.window);
  const folds = Number(a.folds);
  const seed = Number(a.seed);
  if (!Number.isInteger(window) || window < 256) throw new Error(`--window must be an integer ≥ 256, got ${a.window}`);
  if (!Number.isInteger(folds) || folds < 2) throw new Error(`--folds must be an integer ≥ 2, got ${a.folds}`);
  const config = loadConfig(process.env, {
    dotenvPath: null,
    overrides: { DATA_DIR: resolve(a['data-dir']!), LLM_PROVIDER: 'extractive', LOG_LEVEL: 'warn' },
  });
  const logger = createLogger('warn');
  const sel = selectQuestions(dataset, {}, seed, a.limit === undefined ? Infinity : Number(a.limit));
  for (const b of sel.broken) console.error(`skipped ${b.file}:${b.line}: ${b.message}`);
  const questions = sel.questions;
  const text = (q: { length: string; type: string; file: string }) =>
    sel.dataset.documentText({ docPath: join(dataset, 'documents', q.length, q.type, q.file) });

  const records = await questionRecords(questions, a, { config, logger, window, text });
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'records.json'), JSON.stringify(records));

  const judge = lexicalJudge();
  const models = await judgedModels(dataset, records, a.model, judge);

  const settings = routerSettings(config);
  const primary = primaryVariant(settings.zones);
  const cv = crossValidate(records, models, settings, { folds, seed });
  const summary: ReplaySummary = {
    dataset,
    judge: { name: judge.name, approximate: judge.approximate },
    window,
    folds,
    questions: records.length,
    primary,
    fittedOnAll: Object.fromEntries(
      VARIANTS.filter((v) => !v.extra).map((v) => [v.name, fitAll(records, models, settings, v)]),
    ),
    policyFittedOnAll: fitPolicy(records, models, settings),
    models: summarise(records, models, cv, primary, {
      cv: crossValidatePolicy(records, models, settings, { folds, seed }),
      settings,
    }),
  };
  writeFileSync(join(out, 'summary.json'), `${JSON.stringify(summary, null, 1)}\n`);
  const md = markdownReport(summary);
  writeFileSync(join(out, 'report.md'), md);
  writeFileSync(join(out, 'report.html'), htmlReport(summary));
  for (const [m, x] of Object.entries(summary.models))
    writeFileSync(join(out, `frontier-${m}.svg`), standaloneSvg(frontierChart(m, x)));
  console.log(md);
  console.error(`written ${out}/{summary.json,report.md,report.html,records.json,frontier-*.svg}`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  },
);
