/**
 * Replays a LaRA-style evaluation set against the service and reports which
 * way of reading pays off (Li et al., "LaRA", arXiv 2502.09977).
 *
 *   npm run eval -- --dataset ../shared/datasets/lara [options]
 *
 * Options: HELP below (`npm run eval -- --help`).
 *
 * An interrupted run (Ctrl-C, kill) resumes where it stopped when run again
 * with the same --out: finished (question, strategy) pairs are not redone.
 * Exit codes: 0 done, 1 failed (or stopped on a failure), 2 bad input, 130 interrupted.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Logger } from 'pino';
import { loadConfig, type Config } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import type { SelectionMethod } from '../src/core/retrieval/select.js';
import { adaptiveKSettings } from '../src/container.js';
import { HttpBackend, InProcessBackend, type Backend } from './harness/backend.js';
import { terminalProgress } from './harness/progress.js';
import { EvalInputError, EvalStoppedError, runEval } from './harness/runner.js';
import { strategySpecs, UsageError } from './harness/strategies.js';
import { lexicalJudge, llmJudge, type Judge } from './judges/llm.js';
import { calibrate, calibrationReportMarkdown } from './calibrate-judge.js';
import { markdownReport } from './report/markdown.js';
import { libraryMarkdown, runLibraryEval } from './library.js';

const HELP = `Usage: npm run eval -- --dataset DIR [options]   (or: npx adaptive-reader eval ...)

Replays a LaRA-style evaluation set against the service and reports which way of reading pays off.

Options (defaults in brackets):
  --dataset DIR                LaRA-style dataset directory [../shared/datasets/lara]
  --strategies auto,rag,full   what to compare: auto (router), rag (Adaptive-k), topk, budget, coa, full [auto,rag,full]
  --top-k N                    k of topk [5]
  --budget-tokens N            tokens of budget [3000]
  --length 32k,128k --type book,paper --task location,comp   filters
  --limit N                    questions, spread evenly over (length, type, task) groups [all]
  --seed N                     sampling and order [1]
  --concurrency N              questions at once [1 in process, 4 over HTTP]
  --judge lexical|llm          lexical (approximate, no model) or an LLM judge [lexical]
  --judge-url URL --judge-model NAME --judge-key KEY   the LLM judge's OpenAI-compatible endpoint
  --out DIR                    results.jsonl, summary.json, report.md, report.html [eval-out/run]
  --url URL --api-key KEY      replay against a running server over HTTP instead of in process
  --namespace NS               namespace the documents go to [lara-dev]
  --data-dir DIR               in process: data dir shared with the other LaRA measurements [data/eval-embed]
  --window N                   in process, extractive reader: its context window [the reader's own]
  --reader-sentences N         in process, extractive reader: most sentences embedded per call [160]
  --on-error skip|stop         broken dataset lines and failed answers [skip]
  --replay-predictions MODEL   recorded-answer replay of predictions/MODEL (repeatable): routed by the policy, and
                               the retrieval probe (ROUTER_PROBE_MAX_ANSWER_TOKENS) with the recorded RAG answer as its answer
  --replay-window N            window the router assumes in the replay [128000]
  --replay-only                only the replay (no answering)
  --calibrate                  also calibrate the judge on predictions/ (calibration.md, calibration.json)
  --library                    library mode (eval/library.ts): every document in one namespace, each question retrieved
                               without document ids; doc@1, evidence coverage, tokens read, latency per task (no judge)
  --library-queries N          library mode: also ask N of the questions through /v1/query (strategy auto) [20]
  -h, --help                   print this help

An interrupted run resumes where it stopped when run again with the same --out.
Exit codes: 0 done, 1 failed (or stopped on a failure), 2 bad input, 130 interrupted.
`;

const list = (s: string | undefined): string[] | undefined =>
  s
    ? s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
    : undefined;

function positiveInt(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`--${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

const OPTIONS = {
  dataset: { type: 'string', default: '../shared/datasets/lara' },
  strategies: { type: 'string', default: 'auto,rag,full' },
  'top-k': { type: 'string' },
  'budget-tokens': { type: 'string' },
  length: { type: 'string' },
  type: { type: 'string' },
  task: { type: 'string' },
  limit: { type: 'string' },
  seed: { type: 'string', default: '1' },
  concurrency: { type: 'string' },
  judge: { type: 'string', default: 'lexical' },
  'judge-url': { type: 'string' },
  'judge-model': { type: 'string' },
  'judge-key': { type: 'string' },
  out: { type: 'string', default: 'eval-out/run' },
  url: { type: 'string' },
  'api-key': { type: 'string' },
  namespace: { type: 'string', default: 'lara-dev' },
  'data-dir': { type: 'string', default: 'data/eval-embed' },
  window: { type: 'string' },
  'reader-sentences': { type: 'string' },
  'on-error': { type: 'string', default: 'skip' },
  'replay-predictions': { type: 'string', multiple: true },
  'replay-window': { type: 'string' },
  'replay-only': { type: 'boolean', default: false },
  calibrate: { type: 'boolean', default: false },
  library: { type: 'boolean', default: false },
  'library-queries': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options'];

const parseCli = (argv: string[]) => parseArgs({ args: argv, options: OPTIONS });
type CliValues = ReturnType<typeof parseCli>['values'];

/** The service the questions are put to: a running server (--url) or one built in this process. */
async function openBackend(a: CliValues, config: Config, logger: Logger): Promise<Backend> {
  if (a.url) return new HttpBackend({ url: a.url, apiKey: a['api-key'] ?? '', namespace: a.namespace! });
  const inProcess = new InProcessBackend({
    config,
    logger,
    namespace: a.namespace!,
    ...(a.window !== undefined ? { readerWindow: positiveInt('window', a.window, 0) } : {}),
    ...(a['reader-sentences'] !== undefined
      ? { readerSentences: positiveInt('reader-sentences', a['reader-sentences'], 160) }
      : {}),
  });
  await inProcess.start();
  return inProcess;
}

/** Aborts on the first SIGINT or SIGTERM (the run finishes what is in flight and reports); quits at once on the second. */
function abortOnSignals(): AbortSignal {
  const abort = new AbortController();
  let interrupts = 0;
  const onSignal = (sig: string): void => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    console.error(`\n${sig}: finishing the answers in flight and writing the report (again to quit at once)`);
    abort.abort();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  return abort.signal;
}

async function main(argv: string[]): Promise<number> {
  const { values: a } = parseCli(argv);
  if (a.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const onError = a['on-error'];
  if (onError !== 'skip' && onError !== 'stop')
    throw new UsageError(`--on-error must be skip or stop, got ${JSON.stringify(onError)}`);
  if (a.judge !== 'lexical' && a.judge !== 'llm')
    throw new UsageError(`--judge must be lexical or llm, got ${JSON.stringify(a.judge)}`);
  if (a.judge === 'llm' && (!a['judge-url'] || !a['judge-model']))
    throw new UsageError('--judge llm needs --judge-url and --judge-model');
  const dataset = resolve(a.dataset!);
  if (!existsSync(dataset)) throw new UsageError(`dataset folder not found: ${dataset}`);
  const seed = Number(a.seed);
  if (!Number.isInteger(seed)) throw new UsageError(`--seed must be an integer, got ${JSON.stringify(a.seed)}`);

  const logger = createLogger('warn');
  const config = loadConfig(process.env, {
    dotenvPath: null,
    overrides: { DATA_DIR: resolve(a['data-dir']!), LOG_LEVEL: 'warn' },
  });
  const adaptiveK: SelectionMethod = adaptiveKSettings(config);
  const strategies = strategySpecs(list(a.strategies) ?? [], {
    adaptiveK,
    topK: positiveInt('top-k', a['top-k'], 5),
    budgetTokens: positiveInt('budget-tokens', a['budget-tokens'], 3000),
  });
  const judge: Judge =
    a.judge === 'llm'
      ? llmJudge({ url: a['judge-url']!, model: a['judge-model']!, apiKey: a['judge-key'] ?? '' })
      : lexicalJudge();

  const backend = await openBackend(a, config, logger);
  const signal = abortOnSignals();

  const out = resolve(a.out!);
  const filters = {
    ...(list(a.length) ? { lengths: list(a.length)! } : {}),
    ...(list(a.type) ? { types: list(a.type)! } : {}),
    ...(list(a.task) ? { tasks: list(a.task)! } : {}),
  };
  const started = Date.now();
  if (a.library) {
    try {
      const summary = await runLibraryEval({
        dataset,
        filters,
        ...(a.limit !== undefined ? { limit: positiveInt('limit', a.limit, 1) } : {}),
        seed,
        backend,
        selection: adaptiveK,
        queries: a['library-queries'] === '0' ? 0 : positiveInt('library-queries', a['library-queries'], 20),
        out,
        progress: terminalProgress(),
        signal,
      });
      console.log(libraryMarkdown(summary));
      console.log(
        `wall time ${((Date.now() - started) / 1000).toFixed(1)} s; written ${out}/{results.jsonl,summary.json,report.md}`,
      );
      return signal.aborted ? 130 : 0;
    } finally {
      await judge.close();
      await backend.close();
    }
  }
  try {
    const { summary } = await runEval({
      dataset,
      out,
      strategies,
      filters,
      ...(a.limit !== undefined ? { limit: positiveInt('limit', a.limit, 1) } : {}),
      seed,
      concurrency: positiveInt('concurrency', a.concurrency, a.url ? 4 : 1),
      judge,
      onError,
      backend,
      config,
      logger,
      progress: terminalProgress(),
      replayModels: a['replay-predictions'] ?? [],
      replayWindow: positiveInt('replay-window', a['replay-window'], 128_000),
      replayOnly: a['replay-only'],
      signal,
      warn: (m) => console.error(m),
    });
    if (a.calibrate) {
      const report = await calibrate(dataset, judge);
      const md = calibrationReportMarkdown(report);
      writeFileSync(join(out, 'calibration.json'), `${JSON.stringify(report, null, 1)}\n`);
      writeFileSync(join(out, 'calibration.md'), `${md}\n`);
      console.log(`${md}\n`);
    }
    console.log(markdownReport(summary));
    console.log(
      `wall time ${((Date.now() - started) / 1000).toFixed(1)} s; ${summary.timing.questionsRun} questions answered in this run, ${summary.timing.msPerQuestion ?? '–'} ms per question`,
    );
    console.log(`written ${out}/{results.jsonl,summary.json,report.md,report.html}`);
    return summary.interrupted ? 130 : 0;
  } catch (err) {
    if (err instanceof EvalInputError) {
      console.error(err.message);
      return 2;
    }
    if (err instanceof EvalStoppedError) {
      console.error(err.message);
      return 1;
    }
    throw err;
  } finally {
    await judge.close();
    await backend.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`eval: ${(err as Error).message}`);
      process.exitCode = 2;
      return;
    }
    console.error(err);
    process.exitCode = 1;
  },
);
