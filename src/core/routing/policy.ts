import { AppError } from '../../errors.js';
import type { RetrievalSignals } from '../retrieval/service.js';
import type { StrategyName } from '../strategies/types.js';
import { findCues, type Cue, type CueName } from './cues.js';

/**
 * The auto policy: which reading strategy a question gets, from the shape of
 * its retrieval scores (Adaptive-k: Taguchi et al., EMNLP 2025), the size of
 * the documents against the model's window, cues in the question and the
 * caller's budgets. Pure: the same inputs always give the same decision, so
 * every branch is testable from constructed signals and replayable offline
 * (eval/replay/).
 */

/** Limits a caller puts on one answer. All optional; absent means unlimited. */
export interface Budgets {
  /** Most prompt tokens over all LLM calls. */
  maxPromptTokens?: number;
  /** Most LLM calls. */
  maxCalls?: number;
  /** Most wall-clock time, estimated from the calls and prompt tokens (see RouterThresholds). */
  maxLatencyMs?: number;
}

/** What one strategy is estimated to cost (AnswerService.estimateCosts). */
export interface StrategyEstimate {
  /** False when the window cannot hold the strategy at all. */
  feasible: boolean;
  reason?: string;
  promptTokens: number;
  calls: number;
  contextTokens: number;
}

export interface RoutingEstimates {
  rag: StrategyEstimate;
  coa: StrategyEstimate;
  /** `truncated`: the documents do not fit the window whole and would be middle-truncated. */
  full: StrategyEstimate & { truncated: boolean };
}

export interface RoutingContext {
  question: string;
  /** cl100k tokens of the documents in scope. */
  documentTokens: number;
  /** The reader's context window minus its answer reserve. */
  window: number;
  budgets: Budgets;
  estimates: RoutingEstimates;
  /**
   * The question's terms (as BM25 analyses them: lower-cased, stemmed, no
   * stopwords) that occur nowhere in the documents in scope. Absent when not
   * computed; the absent-terms rule then stays silent.
   */
  absentTerms?: readonly string[];
}

/** The knobs of the policy; defaults in config (ROUTER_*), chosen by measurement on LaRA dev. */
export interface RouterThresholds {
  /** Evidence is concentrated only when the largest score gap is at least this share of the score range. */
  minRelativeGap: number;
  /** ... and at most this many chunks stand above the cut. */
  maxAboveCut: number;
  /** A selection reading more than this share of the documents is no longer selective: read everything. */
  maxSelectedShare: number;
  /** Selected chunks spread over more than this share of their documents (0–1) count as diffuse evidence; 1 turns the rule off. */
  maxSpread: number;
  /** Cues that send a question to a whole-text strategy. */
  diffuseCues: readonly CueName[];
  /** A question of more than this many words (whitespace-separated) asks several things at once: diffuse evidence. 0 turns the rule off. */
  maxQuestionWords: number;
  /**
   * A question with at least this many terms the documents never use is read
   * by retrieval whatever the other signals say: its answer may not be in the
   * text. 0 turns the rule off.
   */
  minAbsentTerms: number;
  /** Latency model for maxLatencyMs: fixed milliseconds per (sequential) call... */
  latencyMsPerCall: number;
  /** ... plus milliseconds per 1000 prompt tokens. */
  latencyMsPerKiloToken: number;
}

export interface Decision {
  strategy: StrategyName;
  /** Why, in plain words, in the order the policy weighed them. */
  reasons: string[];
  signals: RetrievalSignals;
  cues: Cue[];
  /** Strategies the budgets and the window leave, cheapest first. */
  allowed: StrategyName[];
  /** What the evidence alone asked for, before budgets. */
  preferred: StrategyName;
  /** Estimated latency of each strategy under the thresholds' latency model, ms. */
  latencyMs: Record<StrategyName, number>;
  /**
   * True when retrieval was preferred because the question names things the
   * documents never mention: a reply that the passages do not answer it is
   * then plausibly right, not a reason to escalate (Self-Route).
   */
  answerMayBeAbsent: boolean;
}

const pct = (x: number): string => `${Math.round(x * 100)}%`;
const num = (x: number): string => Math.round(x).toLocaleString('en-US');

/** Estimated wall-clock time of a strategy: calls run one after another (Chain-of-Agents workers are sequential). */
export function estimateLatencyMs(
  e: Pick<StrategyEstimate, 'calls' | 'promptTokens'>,
  t: Pick<RouterThresholds, 'latencyMsPerCall' | 'latencyMsPerKiloToken'>,
): number {
  return e.calls * t.latencyMsPerCall + (e.promptTokens / 1000) * t.latencyMsPerKiloToken;
}

/** Why a strategy is out under the budgets, or null when it fits them. */
export function overBudget(
  name: StrategyName,
  e: StrategyEstimate,
  budgets: Budgets,
  latencyMs: number,
): string | null {
  if (!e.feasible) return `${name} does not fit the model's window${e.reason ? `: ${e.reason}` : ''}`;
  if (budgets.maxPromptTokens !== undefined && e.promptTokens > budgets.maxPromptTokens) {
    return `${name} needs about ${num(e.promptTokens)} prompt tokens, more than the budget of ${num(budgets.maxPromptTokens)}`;
  }
  if (budgets.maxCalls !== undefined && e.calls > budgets.maxCalls)
    return `${name} needs ${e.calls} LLM calls, more than the budget of ${budgets.maxCalls}`;
  if (budgets.maxLatencyMs !== undefined && latencyMs > budgets.maxLatencyMs) {
    return `${name} is estimated to take about ${num(latencyMs)} ms, more than the budget of ${num(budgets.maxLatencyMs)} ms`;
  }
  return null;
}

/** Words of a question, separated by whitespace. */
export function questionWords(question: string): number {
  const q = question.trim();
  return q === '' ? 0 : q.split(/\s+/).length;
}

const ORDER: readonly StrategyName[] = ['rag', 'full', 'coa'];

/**
 * Throws BUDGET_TOO_SMALL saying what the cheapest feasible strategy needs,
 * when no strategy fits the budgets.
 */
function budgetTooSmall(ctx: RoutingContext, latency: Record<StrategyName, number>, why: string[]): never {
  const feasible = ORDER.filter((s) => ctx.estimates[s].feasible);
  if (feasible.length === 0) {
    throw new AppError('BUDGET_TOO_SMALL', [`No reading strategy fits the model's window: ${why.join('; ')}`], {
      details: { reasons: why },
    });
  }
  const minPrompt = Math.min(...feasible.map((s) => ctx.estimates[s].promptTokens));
  const minCalls = Math.min(...feasible.map((s) => ctx.estimates[s].calls));
  const minLatency = Math.min(...feasible.map((s) => latency[s]));
  const parts: string[] = [];
  const b = ctx.budgets;
  if (b.maxPromptTokens !== undefined && b.maxPromptTokens < minPrompt)
    parts.push(`maxPromptTokens is ${num(b.maxPromptTokens)} but the minimum is ${num(minPrompt)} prompt tokens`);
  if (b.maxCalls !== undefined && b.maxCalls < minCalls)
    parts.push(`maxCalls is ${b.maxCalls} but the minimum is ${minCalls} LLM call${minCalls === 1 ? '' : 's'}`);
  if (b.maxLatencyMs !== undefined && b.maxLatencyMs < minLatency)
    parts.push(`maxLatencyMs is ${num(b.maxLatencyMs)} but the minimum is about ${num(minLatency)} ms`);
  // Each budget alone may be satisfiable while no single strategy meets them all.
  if (parts.length === 0) parts.push(`no strategy meets all the budgets together (${why.join('; ')})`);
  throw new AppError('BUDGET_TOO_SMALL', [`The budget is too small for this question: ${parts.join('; ')}.`], {
    details: {
      minimum: { promptTokens: minPrompt, calls: minCalls, latencyMs: Math.round(minLatency) },
      estimates: Object.fromEntries(
        ORDER.map((s) => [
          s,
          {
            feasible: ctx.estimates[s].feasible,
            promptTokens: ctx.estimates[s].promptTokens,
            calls: ctx.estimates[s].calls,
          },
        ]),
      ),
      reasons: why,
    },
  });
}

/**
 * What the evidence asks for: `rag` when it is concentrated, a whole-text
 * strategy when it is diffuse. Returns the reasons in words.
 */
export function readEvidence(
  signals: RetrievalSignals,
  cues: readonly Cue[],
  t: RouterThresholds,
  question = '',
): { concentrated: boolean; reasons: string[] } {
  const reasons: string[] = [];
  const diffuse: string[] = [];

  const cueHits = cues.filter((c) => t.diffuseCues.includes(c.name));
  for (const c of cueHits)
    diffuse.push(
      `the question asks for a ${c.name} ("${c.match}"), which usually needs more than one place in the text`,
    );
  const words = questionWords(question);
  if (t.maxQuestionWords > 0 && words > t.maxQuestionWords) {
    diffuse.push(
      `the question is long (${words} words, more than ${t.maxQuestionWords}): it usually asks several things or for reasoning across the text`,
    );
  }

  if (signals.relativeGap === null || signals.aboveCut === null) {
    // No Adaptive-k curve (top-k or token-budget selection): only share and cues can speak.
    reasons.push(`the selection method gives no score gap to judge concentration by (${signals.k} chunks selected)`);
  } else if (signals.flat || signals.relativeGap < t.minRelativeGap) {
    diffuse.push(
      `no passage stands out: the largest score gap is ${pct(signals.relativeGap)} of the score range, below ${pct(t.minRelativeGap)}`,
    );
  } else if (signals.aboveCut > t.maxAboveCut) {
    diffuse.push(
      `many passages are needed: ${signals.aboveCut} chunks stand above the largest score gap, more than ${t.maxAboveCut}`,
    );
  } else {
    reasons.push(
      `${signals.aboveCut === 1 ? 'one passage stands' : `${signals.aboveCut} passages stand`} out: the largest score gap is ${pct(signals.relativeGap)} of the score range ` +
        `(at least ${pct(t.minRelativeGap)}), ${signals.aboveCut} chunk${signals.aboveCut === 1 ? '' : 's'} above the cut, ${signals.k} read with the buffer`,
    );
  }
  if (signals.selectedShare > t.maxSelectedShare) {
    diffuse.push(
      `the selection would read ${pct(signals.selectedShare)} of the text, more than ${pct(t.maxSelectedShare)}: retrieval saves little`,
    );
  }
  if (t.maxSpread < 1 && signals.k > 1 && signals.spread > t.maxSpread) {
    diffuse.push(
      `the selected chunks are spread over ${pct(signals.spread)} of the text, more than ${pct(t.maxSpread)}`,
    );
  }
  const concentrated = diffuse.length === 0 && signals.relativeGap !== null;
  return { concentrated, reasons: [...reasons, ...diffuse] };
}

/**
 * Chooses a strategy for one question.
 *
 * - The question uses at least minAbsentTerms terms the documents never use
 *   → `rag`: its answer may not be there, and a few passages make declining easier.
 * - Evidence concentrated (a clear gap: relative gap ≥ minRelativeGap, at most
 *   maxAboveCut chunks above the cut, selection ≤ maxSelectedShare of the text,
 *   spread ≤ maxSpread, no diffuse cue, at most maxQuestionWords words) → `rag`
 *   with the adaptive k.
 * - Otherwise → `full` when the documents fit the window whole, else `coa`
 *   (Chain-of-Agents: Zhang et al., NeurIPS 2024).
 * - Budgets and the window remove strategies; the preferred one is replaced by
 *   the nearest allowed one (a whole-text strategy by the other whole-text
 *   strategy first), saying why. When none is left: BUDGET_TOO_SMALL with the
 *   minimum the question needs.
 */
export function decide(signals: RetrievalSignals, ctx: RoutingContext, t: RouterThresholds): Decision {
  const cues = findCues(ctx.question);
  const latencyMs = {
    rag: estimateLatencyMs(ctx.estimates.rag, t),
    full: estimateLatencyMs(ctx.estimates.full, t),
    coa: estimateLatencyMs(ctx.estimates.coa, t),
  };
  const excluded = new Map<StrategyName, string>();
  for (const s of ORDER) {
    const why = overBudget(s, ctx.estimates[s], ctx.budgets, latencyMs[s]);
    if (why) excluded.set(s, why);
  }
  const allowed = ORDER.filter((s) => !excluded.has(s)).sort(
    (x, y) => ctx.estimates[x].promptTokens - ctx.estimates[y].promptTokens,
  );
  if (allowed.length === 0) budgetTooSmall(ctx, latencyMs, [...excluded.values()]);

  const fits = !ctx.estimates.full.truncated && ctx.estimates.full.feasible;
  const absent = ctx.absentTerms ?? [];
  const absentRule = t.minAbsentTerms > 0 && absent.length >= t.minAbsentTerms;
  const evidence = readEvidence(signals, cues, t, ctx.question);
  const reasons = [...evidence.reasons];
  let preferred: StrategyName;
  if (absentRule) {
    // LaRA (Li et al., 2025): on questions whose answer is not in the text, readers given retrieved passages
    // say so more often than readers given everything (gpt-4o 71.0% against 57.9%).
    preferred = 'rag';
    reasons.push(
      `the question uses ${absent.length} term${absent.length === 1 ? '' : 's'} the documents never do (${absent
        .slice(0, 5)
        .map((w) => `"${w}"`)
        .join(', ')}), ` +
        `at least ${t.minAbsentTerms}: its answer may not be in the text, and a reader given a few passages says so more readily than one given everything`,
    );
  } else preferred = evidence.concentrated ? 'rag' : fits ? 'full' : 'coa';
  if (preferred === 'rag')
    reasons.push(`retrieval reads ${num(ctx.estimates.rag.contextTokens)} of ${num(ctx.documentTokens)} tokens`);
  else if (preferred === 'full')
    reasons.push(
      `the documents (${num(ctx.documentTokens)} tokens) fit the window (${num(ctx.window)} tokens after the answer reserve): reading them whole`,
    );
  else {
    reasons.push(
      `the documents (${num(ctx.documentTokens)} tokens) exceed the window (${num(ctx.window)} tokens after the answer reserve): ` +
        `Chain-of-Agents reads them in ${ctx.estimates.coa.calls > 0 ? ctx.estimates.coa.calls - 1 : 0} segments`,
    );
  }

  let strategy = preferred;
  if (excluded.has(preferred)) {
    const fallbacks: Record<StrategyName, StrategyName[]> = {
      rag: ['full', 'coa'],
      full: ['coa', 'rag'],
      coa: ['full', 'rag'],
    };
    strategy = fallbacks[preferred].find((s) => !excluded.has(s))!;
    reasons.push(`${excluded.get(preferred)}; using ${strategy} instead`);
    if (strategy === 'full' && ctx.estimates.full.truncated)
      reasons.push('full context will be middle-truncated to fit the window');
  }
  return {
    strategy,
    reasons,
    signals,
    cues,
    allowed,
    preferred,
    latencyMs,
    answerMayBeAbsent: absentRule && strategy === 'rag',
  };
}
