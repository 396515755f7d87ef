import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../../src/config.js';
import { cl100k } from '../../src/core/tokenizer.js';
import { EXTRACTIVE_PREFIX } from '../../src/adapters/llm/extractive.js';
import type { SelectionMethod } from '../../src/core/retrieval/select.js';
import type { AnswerResult, StrategyName } from '../../src/core/strategies/types.js';
import { loadPredictions } from '../lara/dataset.js';
import { contentWords } from '../lara/evidence.js';
import type { Judge } from '../judges/llm.js';
import type { Backend, BackendDescription, RetrievalView } from './backend.js';
import { selectQuestions, type QuestionEvidence, type Selection, type SelectionFilters } from './dataset.js';
import { latencySummary, readingMetrics, spansRead, summarise } from './metrics.js';
import { silentProgress, type Progress } from './progress.js';
import { adaptiveKSettings, routerSettings } from '../../src/container.js';
import { answeredFor, judgePredictions } from '../replay/judged.js';
import { measureQuestions } from '../replay/records.js';
import { replayModel, type ModelReplay } from '../replay/summary.js';
import { manifestConflict, ResultStore, type RunManifest } from './store.js';
import type { BrokenInput, EvalQuestion, FailureRow, ResultRow, StrategySpec } from './types.js';
import { writeReports } from '../report/index.js';
import type { EvalSummary } from './eval-summary.js';

export interface EvalOptions {
  /** The LaRA-style folder. */
  dataset: string;
  /** Output directory: results.jsonl, errors.jsonl, run.json, summary.json, report.md, report.html. */
  out: string;
  strategies: readonly StrategySpec[];
  filters?: SelectionFilters;
  /** Questions to run, sampled evenly over the (length, type, task) groups. Default all. */
  limit?: number;
  /** Sampling and order. Default 1. */
  seed?: number;
  /** Questions answered at once. Default 1. */
  concurrency?: number;
  judge: Judge;
  /** Broken dataset lines and failed answers: skip them (counted apart) or stop the run. Default 'skip'. */
  onError?: 'skip' | 'stop';
  backend: Backend;
  /** Config of this process: router thresholds and Adaptive-k defaults for the replay. */
  config: Config;
  logger: Logger;
  progress?: Progress;
  /** Models in predictions/ to replay with the router. */
  replayModels?: readonly string[];
  /** Window the router assumes for the replay (LaRA's models: 128k). Default 128 000. */
  replayWindow?: number;
  /** Skip answering; only replay (and report what results.jsonl already holds). */
  replayOnly?: boolean;
  /** First N questions of the order keep their score curves for the report. Default 6. */
  sampleCurves?: number;
  /** Stops the run between answers (in-flight LLM work is cancelled); what finished is kept. */
  signal?: AbortSignal;
  /** Where skipped lines and failed answers are reported as they happen. Default: the logger at warn. */
  warn?: (message: string) => void;
}

export interface EvalOutcome {
  summary: EvalSummary;
  rows: ResultRow[];
  store: ResultStore;
}

/** The dataset has lines the run cannot use and the user asked to stop on them. */
export class EvalInputError extends Error {
  constructor(readonly broken: readonly BrokenInput[]) {
    super(
      `the dataset has ${broken.length} unusable line${broken.length === 1 ? '' : 's'}:\n${broken
        .slice(0, 20)
        .map((b) => `  ${b.file}:${b.line}: ${b.message}`)
        .join('\n')}${broken.length > 20 ? `\n  ... and ${broken.length - 20} more` : ''}`,
    );
    this.name = 'EvalInputError';
  }
}

/** An answer failed and the user asked to stop on failures. */
export class EvalStoppedError extends Error {
  constructor(readonly failure: FailureRow) {
    super(
      `stopped on the first failure: ${failure.questionId} (${failure.strategy}): ${failure.code}: ${failure.message}`,
    );
    this.name = 'EvalStoppedError';
  }
}

interface DocInfo {
  text: string;
  tokens: number;
  words: Set<string>;
}

function errorCode(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown };
  return typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : 'ERROR';
}

function stripPrefix(answer: string): string {
  return answer.startsWith(EXTRACTIVE_PREFIX) ? answer.slice(EXTRACTIVE_PREFIX.length) : answer;
}

function sumTimings(t: { embedMs: number; scoreMs: number; selectMs: number } | undefined | null): number | null {
  return t ? t.embedMs + t.scoreMs + t.selectMs : null;
}

/** What every phase of a run reads: the options, the selection, the documents' texts, cancellation, reporting. */
interface Run {
  o: EvalOptions;
  sel: Selection;
  docOf: (q: EvalQuestion) => DocInfo;
  signal: AbortSignal;
  progress: Progress;
  warn: (message: string) => void;
}

/**
 * Runs a LaRA-style evaluation: samples the questions, ingests their
 * documents, answers each (question, strategy) pair not already in
 * results.jsonl, judges and measures every answer, then writes summary.json,
 * report.md and report.html over all finished pairs of the selection.
 */
export async function runEval(o: EvalOptions): Promise<EvalOutcome> {
  const started = performance.now();
  const seed = o.seed ?? 1;
  const filters = o.filters ?? {};
  const warn = o.warn ?? ((m: string) => o.logger.warn(m));
  const sel = selectQuestions(o.dataset, filters, seed, o.limit ?? Infinity);
  const broken = [...sel.broken];
  if (broken.length > 0 && (o.onError ?? 'skip') === 'stop') throw new EvalInputError(broken);
  for (const b of broken) warn(`skipped ${b.file}:${b.line}: ${b.message}`);

  const desc = o.backend.describe();
  const store = await openStore(o, desc, warn);
  const stop = new AbortController();
  const run: Run = {
    o,
    sel,
    docOf: documentCache(o.dataset, sel),
    signal: o.signal ? AbortSignal.any([o.signal, stop.signal]) : stop.signal,
    progress: o.progress ?? silentProgress,
    warn,
  };

  const pending = o.replayOnly
    ? []
    : sel.questions
        .map((q) => ({ q, specs: o.strategies.filter((s) => !store.has(`${q.id}|${s.key}`)) }))
        .filter((x) => x.specs.length > 0);
  const replayModels = o.replayModels ?? [];
  const needed = new Map<string, EvalQuestion>();
  for (const { q } of pending) needed.set(q.documentId, q);
  if (replayModels.length > 0) for (const q of sel.questions) needed.set(q.documentId, q);
  if (needed.size > 0) {
    await o.backend.ensureDocuments(
      [...needed.values()].map((q) => ({ id: q.documentId, title: q.file, text: run.docOf(q).text })),
      run.progress,
    );
  }

  const answered = await answerPending(run, pending, store, stop);
  const replayed =
    replayModels.length > 0 && !run.signal.aborted
      ? await replayRecorded(run, replayModels)
      : { replay: [], predictionErrors: [] };

  const wanted = new Set(sel.questions.flatMap((q) => o.strategies.map((s) => `${q.id}|${s.key}`)));
  const rows = store.rows().filter((r) => wanted.has(r.key));
  const failures = store.failures().filter((f) => wanted.has(f.key));
  const wallMs = performance.now() - started;
  const summary: EvalSummary = {
    dataset: o.dataset,
    filters,
    seed,
    limit: o.limit ?? null,
    strategies: o.strategies.map((s) => ({ key: s.key, label: s.label, selection: s.selection })),
    judge: { name: o.judge.name, approximate: o.judge.approximate },
    backend: desc,
    questions: {
      available: sel.available,
      selected: sel.questions.length,
      answered: new Set(rows.map((r) => r.questionId)).size,
    },
    pairs: { expected: wanted.size, answered: rows.length, failed: failures.length },
    broken: { count: broken.length, items: broken.slice(0, 500) },
    predictionErrors: { count: replayed.predictionErrors.length, items: replayed.predictionErrors.slice(0, 500) },
    failures: { count: failures.length, items: failures.slice(0, 500) },
    results: summarise(rows, o.strategies),
    replay: replayed.replay,
    interrupted: run.signal.aborted && answered.stoppedBy === null,
    timing: {
      wallMs: Math.round(wallMs),
      pairsRun: answered.pairsRun,
      questionsRun: answered.questionsRun,
      msPerQuestion: answered.questionsRun > 0 ? Math.round(wallMs / answered.questionsRun) : null,
      msPerPair: answered.pairsRun > 0 ? Math.round(wallMs / answered.pairsRun) : null,
      latency: latencySummary(
        rows,
        o.strategies.map((s) => s.key),
      ),
    },
  };
  await writeFile(join(o.out, 'summary.json'), `${JSON.stringify(summary, null, 1)}\n`);
  await writeReports(o.out, summary, rows);
  if (answered.stoppedBy) throw new EvalStoppedError(answered.stoppedBy);
  return { summary, rows, store };
}

/** Opens the results of `o.out`, refusing a folder whose results were made with other settings. */
async function openStore(
  o: EvalOptions,
  desc: BackendDescription,
  warn: (message: string) => void,
): Promise<ResultStore> {
  const store = await ResultStore.open(o.out);
  if (store.repaired > 0)
    warn(`results.jsonl: ${store.repaired} torn or unreadable line(s) dropped; those pairs run again`);
  const manifest: RunManifest = {
    dataset: o.dataset,
    judge: o.judge.name,
    reader: desc.reader,
    embedder: desc.embedder,
    settings: desc.settings,
  };
  const previous = await store.readManifest();
  if (previous) {
    const conflict = manifestConflict(previous, manifest);
    if (conflict) throw new Error(`${o.out} holds results made with other settings (${conflict}); use another --out`);
  } else {
    await store.writeManifest(manifest);
  }
  return store;
}

/** Each document's text, token count and content words, read and counted once. */
function documentCache(dataset: string, sel: Selection): (q: EvalQuestion) => DocInfo {
  const docs = new Map<string, DocInfo>();
  return (q) => {
    let d = docs.get(q.documentId);
    if (!d) {
      const text = sel.dataset.documentText({ docPath: join(dataset, 'documents', q.length, q.type, q.file) });
      d = { text, tokens: cl100k.count(text), words: contentWords(text) };
      docs.set(q.documentId, d);
    }
    return d;
  };
}

/**
 * Answers the pending pairs: one question at a time per worker, its
 * strategies in turn, sharing its retrievals. A failure is recorded and
 * skipped, or (onError 'stop') aborts the run through `stop`.
 */
async function answerPending(
  run: Run,
  pending: ReadonlyArray<{ q: EvalQuestion; specs: StrategySpec[] }>,
  store: ResultStore,
  stop: AbortController,
): Promise<{ pairsRun: number; questionsRun: number; stoppedBy: FailureRow | null }> {
  const { o, signal, progress } = run;
  let stoppedBy: FailureRow | null = null;
  let pairsRun = 0;
  const questionsRun = new Set<string>();
  progress.start(
    'answer',
    pending.reduce((n, p) => n + p.specs.length, 0),
  );
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < pending.length && !signal.aborted) {
      const { q, specs } = pending[next++]!;
      const retrieve = memoisedRetrieval(o.backend, q);
      for (const spec of specs) {
        if (signal.aborted) break;
        questionsRun.add(q.id);
        try {
          await store.append(await evaluate(run, q, spec, retrieve));
          pairsRun++;
        } catch (err) {
          if (signal.aborted) break;
          const failure: FailureRow = {
            key: `${q.id}|${spec.key}`,
            questionId: q.id,
            strategy: spec.key,
            code: errorCode(err),
            message: (err as Error).message ?? String(err),
            at: new Date().toISOString(),
          };
          await store.fail(failure);
          run.warn(`failed ${q.id} (${spec.key}): ${failure.code}: ${failure.message}`);
          if ((o.onError ?? 'skip') === 'stop') {
            stoppedBy ??= failure;
            stop.abort();
            break;
          }
        }
        progress.tick(`${q.task} ${spec.key}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.concurrency ?? 1) }, worker));
  progress.stop();
  await store.flush();
  return { pairsRun, questionsRun: questionsRun.size, stoppedBy };
}

/** The retrievals of one question, each selection run once (retrieval is deterministic). */
function memoisedRetrieval(backend: Backend, q: EvalQuestion): (s: SelectionMethod) => Promise<RetrievalView> {
  const cache = new Map<string, Promise<RetrievalView>>();
  return (s) => {
    const key = JSON.stringify(s);
    let p = cache.get(key);
    if (!p) {
      p = backend.retrieve(q.documentId, q.question, s);
      cache.set(key, p);
    }
    return p;
  };
}

/** Answers one (question, strategy) pair, then measures what it read and judges it. */
async function evaluate(
  run: Run,
  q: EvalQuestion,
  spec: StrategySpec,
  retrieve: (s: SelectionMethod) => Promise<RetrievalView>,
): Promise<ResultRow> {
  const { o, signal } = run;
  const ev: QuestionEvidence = run.sel.evidence.get(q.id)!;
  const doc = run.docOf(q);
  const t0 = performance.now();
  const { result, chosen, reasons } = await answerPair(o.backend, q, spec, signal);
  const answerMs = performance.now() - t0;

  let selectedSpans: Array<{ start: number; end: number }> | null = null;
  let k: number | null = null;
  let cutIndex: number | null = null;
  if (chosen === 'rag') {
    // The same retrieval the answer read (deterministic), for the spans; chunks dropped to fit the window were not read.
    const r = await retrieve(spec.selection);
    const dropped = new Set(result.retrieval?.droppedForWindow?.chunkIds ?? []);
    const read = r.selected.filter((c) => !dropped.has(c.id));
    selectedSpans = read.map((c) => ({ start: c.start, end: c.end }));
    k = read.length;
    cutIndex = r.adaptiveK?.cutIndex ?? null;
  }
  const spans = spansRead(chosen, doc.text, selectedSpans, result.truncated, doc.tokens);
  const m = readingMetrics(spans, doc.text, q.answer, ev, doc.words);
  const tj = performance.now();
  const verdict = await o.judge.judge(
    {
      question: q.question,
      answer: q.answer,
      prediction: result.extractive ? stripPrefix(result.answer) : result.answer,
      task: q.task,
    },
    signal,
  );
  const judgeMs = performance.now() - tj;

  const byRole = (role: string) => result.calls.filter((c) => c.role === role).reduce((n, c) => n + c.latencyMs, 0);
  const row: ResultRow = {
    key: `${q.id}|${spec.key}`,
    questionId: q.id,
    order: q.order,
    strategy: spec.key,
    length: q.length,
    type: q.type,
    task: q.task,
    file: q.file,
    documentId: q.documentId,
    question: q.question,
    groundTruth: q.answer,
    chosen,
    reasons,
    k,
    cutIndex,
    tokensRead: result.contextTokens,
    documentTokens: doc.tokens,
    tokenRatio: doc.tokens > 0 ? result.contextTokens / doc.tokens : 0,
    promptTokens: result.totals.promptTokens,
    completionTokens: result.totals.completionTokens,
    llmCalls: result.totals.calls,
    latency: {
      totalMs: Math.round(answerMs + judgeMs),
      retrieveMs: chosen === 'rag' ? sumTimings(result.retrieval?.timings) : null,
      answerMs: Math.round(byRole('answer')),
      coaWorkersMs: Math.round(byRole('coa-worker')),
      coaManagerMs: Math.round(byRole('coa-manager')),
      judgeMs: Math.round(judgeMs),
    },
    answer: result.answer,
    evidenceCoverage: m.evidenceCoverage,
    answerSupport: m.answerSupport,
    verdict,
  };
  if (q.order < (o.sampleCurves ?? 6) && (spec.key === 'rag' || spec.key === 'auto')) {
    const r = await retrieve(spec.selection);
    row.scoreCurve = { scores: r.curve.map((c) => c.score), cutIndex: r.adaptiveK?.cutIndex ?? null, k: r.signals.k };
  }
  return row;
}

/** The answer of one pair: routed (strategy auto) or by the requested strategy, with the strategy run and why. */
async function answerPair(
  backend: Backend,
  q: EvalQuestion,
  spec: StrategySpec,
  signal: AbortSignal,
): Promise<{ result: AnswerResult; chosen: StrategyName; reasons: string[] }> {
  if (spec.requested === 'auto') {
    const r = await backend.query(q.documentId, q.question, spec.selection, signal);
    return { result: r, chosen: r.decision.strategy, reasons: r.decision.reasons };
  }
  const result = await backend.answer(q.documentId, q.question, spec.requested, spec.selection, signal);
  return { result, chosen: spec.requested, reasons: [`strategy ${spec.label} requested`] };
}

/** Replay of recorded answers: routes every selected question, judges the recorded answer of the route. */
async function replayRecorded(
  run: Run,
  replayModels: readonly string[],
): Promise<{ replay: ModelReplay[]; predictionErrors: BrokenInput[] }> {
  const { o, sel, progress } = run;
  const selection: SelectionMethod = adaptiveKSettings(o.config);
  progress.start('route', sel.questions.length);
  const records = await measureQuestions(o.backend, sel.questions, {
    config: o.config,
    logger: o.logger,
    window: o.replayWindow ?? 128_000,
    selection,
    documentText: (q) => run.docOf(q).text,
    onDone: (q) => progress.tick(q.task),
  });
  progress.stop();
  const { predictions, errors } = loadPredictions(o.dataset);
  const predictionErrors: BrokenInput[] = [];
  for (const e of errors) {
    if (replayModels.some((m) => e.file.startsWith(`${m}/`)))
      predictionErrors.push({ file: `predictions/${e.file}`, line: e.line, message: e.message });
  }
  const known = new Set(predictions.map((p) => p.model));
  const settings = routerSettings(o.config);
  const replay: ModelReplay[] = [];
  for (const model of replayModels) {
    if (!known.has(model))
      throw new Error(
        `no predictions for model ${JSON.stringify(model)} in ${join(o.dataset, 'predictions')} (found: ${[...known].sort().join(', ') || 'none'})`,
      );
    const judged = await judgePredictions(predictions, model, o.judge);
    replay.push(
      replayModel(
        model,
        o.judge.name,
        records,
        records.map((r) => answeredFor(judged, r)),
        settings,
      ),
    );
  }
  return { replay, predictionErrors };
}
