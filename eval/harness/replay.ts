import type { Logger } from 'pino';
import type { Config } from '../../src/config.js';
import { cl100k } from '../../src/core/tokenizer.js';
import { AnswerService } from '../../src/core/strategies/answer-service.js';
import { decide } from '../../src/core/routing/policy.js';
import { escalationOrder, judgeProbe, keptAt, type ProbeVerdict } from '../../src/core/routing/probe.js';
import { thresholdsFromConfig } from '../../src/core/routing/query-service.js';
import { absentTerms, vocabulary } from '../../src/core/routing/terms.js';
import type { SelectionMethod } from '../../src/core/retrieval/select.js';
import type { RetrievalService } from '../../src/core/retrieval/service.js';
import type { StrategyName } from '../../src/core/strategies/types.js';
import type { LlmProvider } from '../../src/ports/llm.js';
import type { LaraPrediction } from '../lara/dataset.js';
import type { Judge } from '../judges/llm.js';
import type { Backend } from './backend.js';
import { sortTasks } from './metrics.js';
import type { EvalQuestion, Verdict } from './types.js';

/**
 * Recorded-answer replay (LaRA ships each model's answers read with the whole
 * text and with RAG): per question our router decides, as it would for a
 * reader with `window` tokens; the recorded answer of the chosen route is
 * judged. Chain-of-Agents counts as the whole-text route, the only other
 * recording there is.
 *
 * The retrieval probe (src/core/routing/probe.ts, the service's default for a
 * generative reader with strategy auto) is replayed beside it with the
 * recorded RAG answer as the probe's answer: kept when it declines or is at
 * most ROUTER_PROBE_MAX_ANSWER_TOKENS long, else the recorded whole-text
 * answer, as eval/replay-router.ts replays it.
 */

/** How the router routed one question, from the retrieval signals and cost estimates. */
export interface RouteDecision {
  questionId: string;
  strategy: StrategyName;
  reasons: string[];
  /** Document tokens each route reads (our estimates: rag = the Adaptive-k selection, full = the window-limited text). */
  tokens: { rag: number; full: number; coa: number };
  /** Retrieval fits the window: without it the service does not run the probe and answers with `strategy`. */
  ragFits: boolean;
  /** The whole text fits the window untruncated: an escalated probe reads it with full, else with Chain-of-Agents. */
  fullFits: boolean;
}

/** A reader with a stated window, for estimates only: the replay never calls it. */
export function estimatingReader(window: number): LlmProvider {
  return {
    id: 'replay',
    model: `window-${window}`,
    kind: 'generative',
    contextWindow: window,
    tokenCountIsEstimate: false,
    countTokens: (t) => cl100k.count(t),
    countMessageTokens: (ms) => ms.reduce((n, m) => n + 4 + cl100k.count(m.content), 3),
    complete: () => Promise.reject(new Error('the replay never calls the reader')),
    health: async () => {},
    close: async () => {},
  };
}

/** Routes each question with the configured thresholds, for a reader of `window` tokens. */
export async function routeQuestions(
  backend: Backend,
  questions: readonly EvalQuestion[],
  opts: {
    config: Config;
    logger: Logger;
    window: number;
    selection: SelectionMethod;
    /** The question's document, for the absent-terms rule (ROUTER_MIN_ABSENT_TERMS) as the service applies it; without it the rule is off. */
    documentText?: (q: EvalQuestion) => string;
    onDone?: (q: EvalQuestion) => void;
  },
): Promise<Map<string, RouteDecision>> {
  const reader = estimatingReader(opts.window);
  // estimateCosts reads only the config and the reader; it never retrieves.
  const estimator = new AnswerService({ retrieval: undefined as unknown as RetrievalService, llm: reader, config: opts.config, logger: opts.logger });
  const thresholds = thresholdsFromConfig(opts.config);
  const out = new Map<string, RouteDecision>();
  const vocabularies = new Map<string, Set<string>>();
  const absent = (q: EvalQuestion): string[] | undefined => {
    if (!opts.documentText || thresholds.minAbsentTerms <= 0) return undefined;
    let v = vocabularies.get(q.documentId);
    if (!v) vocabularies.set(q.documentId, (v = vocabulary(opts.documentText(q))));
    return absentTerms(q.question, [v]);
  };
  for (const q of questions) {
    const r = await backend.retrieve(q.documentId, q.question, opts.selection);
    const docs = r.scope.documents.map((d) => ({ title: d.title, tokens: d.tokens, chars: d.chars }));
    const e = estimator.estimateCosts(docs, r.tokens.selected, reader, q.question);
    const window = reader.contextWindow - e.reserves.answer;
    const terms = absent(q);
    const d = decide(r.signals, { question: q.question, documentTokens: r.tokens.documents, window, budgets: {}, estimates: e, ...(terms ? { absentTerms: terms } : {}) }, thresholds);
    out.set(q.id, {
      questionId: q.id,
      strategy: d.strategy,
      reasons: d.reasons,
      tokens: { rag: e.rag.contextTokens, full: e.full.contextTokens, coa: e.coa.contextTokens },
      ragFits: e.rag.feasible,
      fullFits: e.full.feasible && !e.full.truncated,
    });
    opts.onDone?.(q);
  }
  return out;
}

/** Key that ties a prediction to its question. */
export function predictionKey(p: { length: string; type: string; task: string; file?: string | undefined; question: string }): string {
  return `${p.length}|${p.type}|${p.task}|${p.file ?? ''}|${p.question}`;
}

export interface JudgedPair {
  rag?: Verdict;
  full?: Verdict;
  /** The probe's verdict on the recorded RAG answer with no length limit (whether it declines or is empty, and its length); see keptAt. */
  probe?: ProbeVerdict;
}


/** Judges every recorded answer of `model`; keyed by predictionKey (and, as a fallback, without the file). */
export async function judgePredictions(predictions: readonly LaraPrediction[], model: string, judge: Judge, concurrency = 4): Promise<Map<string, JudgedPair>> {
  const mine = predictions.filter((p) => p.model === model);
  const out = new Map<string, JudgedPair>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < mine.length) {
      const p = mine[next++]!;
      const v = await judge.judge({ question: p.question, answer: p.groundTruth, prediction: p.prediction, task: p.task });
      const probe = p.mode === 'rag' ? judgeProbe(p.prediction, Infinity) : undefined;
      for (const key of [predictionKey(p), predictionKey({ ...p, file: undefined })]) {
        const e = out.get(key) ?? {};
        e[p.mode] = v;
        if (p.mode === 'rag') e.probe = probe;
        out.set(key, e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  return out;
}

export interface ReplayRow {
  /** 'all', a task, or a length. */
  group: string;
  n: number;
  alwaysRag: number;
  alwaysFull: number;
  routed: number;
  /** Best of the two recorded answers per question: the ceiling of any router. */
  oracle: number;
  /** Share of questions per route. */
  share: Record<StrategyName, number>;
  /** Mean document tokens read: always full, routed. */
  tokensFull: number;
  tokensRouted: number;
  /** 1 − routed / always-full tokens. */
  tokensSaved: number;
  /** The retrieval probe: the recorded RAG answer when the probe keeps it, else the recorded whole-text answer. */
  probe: number;
  /** Share of questions the probe answers from retrieval alone. */
  probeShare: number;
  /** Mean document tokens read with the probe: the retrieval read, plus the whole-text read when escalated. */
  tokensProbe: number;
}

/** The probe as replayed: its answer-length limit, and whether this config runs it in the service. */
export interface ProbeSettings {
  /** ROUTER_PROBE_MAX_ANSWER_TOKENS. */
  maxAnswerTokens: number;
  /** ROUTER_PROBE on and ROUTER_SELF_ROUTE off: the service's strategy auto probes by default. The columns are computed either way. */
  inService: boolean;
}

export function probeSettings(config: Pick<Config, 'ROUTER_PROBE' | 'ROUTER_PROBE_MAX_ANSWER_TOKENS' | 'ROUTER_SELF_ROUTE'>): ProbeSettings {
  return { maxAnswerTokens: config.ROUTER_PROBE_MAX_ANSWER_TOKENS, inService: config.ROUTER_PROBE && !config.ROUTER_SELF_ROUTE };
}

export interface ModelReplay {
  model: string;
  judge: string;
  questions: number;
  /** Questions without both recorded answers (not in the tables). */
  missing: number;
  probe: ProbeSettings;
  rows: ReplayRow[];
}

interface Joined {
  q: EvalQuestion;
  d: RouteDecision;
  rag: boolean;
  full: boolean;
  probe: ProbeVerdict;
}

const mean = (xs: readonly number[]): number => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

/** What the service does with the probe on: the answer it keeps (retrieval's or the whole text's) and the document tokens it reads. */
function probed(j: Joined, maxAnswerTokens: number): { byRag: boolean; correct: boolean; tokens: number } {
  // Retrieval does not fit the window: no probe, the policy's route answers.
  if (!j.d.ragFits) return { byRag: j.d.strategy === 'rag', correct: j.d.strategy === 'rag' ? j.rag : j.full, tokens: j.d.tokens[j.d.strategy] };
  if (keptAt(j.probe, maxAnswerTokens)) return { byRag: true, correct: j.rag, tokens: j.d.tokens.rag };
  // Escalated: what the service reads (no budgets here: the first of the order).
  const whole = escalationOrder(j.d.strategy, j.d.fullFits)[0]!;
  return { byRag: false, correct: j.full, tokens: j.d.tokens.rag + j.d.tokens[whole] };
}

function replayRow(group: string, js: readonly Joined[], maxAnswerTokens: number): ReplayRow {
  const toFull = (j: Joined) => j.d.strategy !== 'rag';
  const tokensFull = mean(js.map((j) => j.d.tokens.full));
  const tokensRouted = mean(js.map((j) => j.d.tokens[j.d.strategy]));
  const ps = js.map((j) => probed(j, maxAnswerTokens));
  return {
    group,
    n: js.length,
    alwaysRag: mean(js.map((j) => +j.rag)),
    alwaysFull: mean(js.map((j) => +j.full)),
    routed: mean(js.map((j) => +(toFull(j) ? j.full : j.rag))),
    oracle: mean(js.map((j) => +(j.rag || j.full))),
    share: {
      rag: mean(js.map((j) => +(j.d.strategy === 'rag'))),
      full: mean(js.map((j) => +(j.d.strategy === 'full'))),
      coa: mean(js.map((j) => +(j.d.strategy === 'coa'))),
    },
    tokensFull,
    tokensRouted,
    tokensSaved: tokensFull > 0 ? 1 - tokensRouted / tokensFull : Number.NaN,
    probe: mean(ps.map((p) => +p.correct)),
    probeShare: mean(ps.map((p) => +p.byRag)),
    tokensProbe: mean(ps.map((p) => p.tokens)),
  };
}

/** The replay tables of one model: per task, per length and overall. */
export function replayModel(
  model: string,
  judgeName: string,
  questions: readonly EvalQuestion[],
  decisions: Map<string, RouteDecision>,
  judged: Map<string, JudgedPair>,
  probe: ProbeSettings,
): ModelReplay {
  const joined: Joined[] = [];
  let missing = 0;
  for (const q of questions) {
    const d = decisions.get(q.id);
    const e = judged.get(predictionKey(q)) ?? judged.get(predictionKey({ ...q, file: undefined }));
    if (!d || !e?.rag || !e.full || !e.probe) {
      missing++;
      continue;
    }
    joined.push({ q, d, rag: e.rag.correct, full: e.full.correct, probe: e.probe });
  }
  const rows: ReplayRow[] = [];
  for (const t of sortTasks(joined.map((j) => j.q.task))) rows.push(replayRow(t, joined.filter((j) => j.q.task === t), probe.maxAnswerTokens));
  for (const l of [...new Set(joined.map((j) => j.q.length))].sort((a, b) => parseFloat(a) - parseFloat(b))) rows.push(replayRow(l, joined.filter((j) => j.q.length === l), probe.maxAnswerTokens));
  rows.push(replayRow('all', joined, probe.maxAnswerTokens));
  return { model, judge: judgeName, questions: joined.length, missing, probe, rows };
}
