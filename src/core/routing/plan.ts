import { AppError } from '../../errors.js';
import type { RetrievalSignals } from '../retrieval/service.js';
import type { StrategyName } from '../strategies/types.js';
import { findCues, type Cue } from './cues.js';
import { probeEscalation, selfRouteEscalation, type Escalation } from './escalation.js';
import {
  decide,
  estimateLatencyMs,
  overBudget,
  type Budgets,
  type RoutingEstimates,
  type StrategyEstimate,
} from './policy.js';
import { escalationOrder, type ProbeVerdict } from './probe.js';
import { probeLimit, type ProbeZones, type RouterSettings } from './settings.js';

export type RequestedStrategy = 'auto' | StrategyName;

/**
 * The plan of one query, before any LLM call: which strategy reads first,
 * which escalation (if any) may read the whole text after it, and why.
 * Pure: the service executes it (./query-service.ts) and the replay
 * (eval/replay/) weighs it against recorded answers, so the two cannot
 * disagree.
 */
export interface PlanInput {
  requested: RequestedStrategy;
  question: string;
  signals: RetrievalSignals;
  estimates: RoutingEstimates;
  /** cl100k tokens of the documents in scope. */
  documentTokens: number;
  /** The reader's window minus its answer reserve. */
  window: number;
  budgets: Budgets;
  /** Why the scope is what it is (whole-namespace questions: the documents retrieval picked), said first. */
  scopeReasons?: readonly string[];
  /** The question's terms no document in scope uses (./terms.ts); absent when not computed. */
  absentTerms?: readonly string[];
  /** Share of the question's terms (that the documents use) found in the best chunk (./terms.ts); absent when not computed. */
  topCoverage?: number;
  reader: 'generative' | 'extractive';
  /** Escalations asked for by the request; absent means the settings' default. */
  selfRoute?: boolean | undefined;
  probe?: boolean | undefined;
  /** 0 cheapest … 1 most accurate; absent means the settings' default. */
  preference?: number | undefined;
}

export interface EscalationView {
  requested: boolean;
  active: boolean;
  note: string | null;
}

export interface ProbeView extends EscalationView {
  /** A retrieval answer of at most this many tokens is kept. */
  maxAnswerTokens: number;
  /** The whole-text strategy read when the retrieval answer is not kept (the policy's choice when it was not retrieval). */
  fallback: StrategyName | null;
  /** Set once the retrieval answer is in. */
  verdict: ProbeVerdict | null;
  /** Where the probe was not needed: 'direct' (evidence clearly diffuse: read whole at once), 'trust' (clearly concentrated: retrieval kept), else null. */
  zone: 'direct' | 'trust' | null;
}

export interface Plan {
  /** What reads first. */
  strategy: StrategyName;
  /** What the policy chose (or the request asked for), before the probe. */
  policyStrategy: StrategyName;
  reasons: string[];
  cues: Cue[];
  latencyMs: Record<StrategyName, number>;
  /** Reads the retrieval answer and may send the question on to `order`; null: the first answer is the last. */
  escalation: Escalation | null;
  /** Whole-text strategies an escalation tries, in order, budgets permitting. */
  order: StrategyName[];
  selfRoute: EscalationView;
  probe: ProbeView;
  /** Retrieval was chosen because the question names things the documents never mention. */
  answerMayBeAbsent: boolean;
}

/** Throws INVALID_PARAMETER unless every budget given is a non-negative number (calls an integer). */
export function validateBudgets(b: Budgets): void {
  for (const [name, v] of Object.entries(b) as Array<[keyof Budgets, number | undefined]>) {
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (name === 'maxCalls' && !Number.isInteger(v))) {
      throw new AppError('INVALID_PARAMETER', [
        `budgets.${name} must be ${name === 'maxCalls' ? 'an integer' : 'a number'} ≥ 0, got ${JSON.stringify(v)}`,
      ]);
    }
  }
}

/** Throws INVALID_PARAMETER when a request asks for both escalations: Self-Route escalates a declined retrieval answer, the probe keeps it. */
export function validateEscalation(o: { selfRoute?: boolean | undefined; probe?: boolean | undefined }): void {
  if (o.selfRoute === true && o.probe === true) {
    throw new AppError('INVALID_PARAMETER', [
      'selfRoute and probe are two different escalations (Self-Route escalates a declined retrieval answer, the probe keeps it): ask for one',
    ]);
  }
}

/** Throws INVALID_PARAMETER unless the preference is a number in [0, 1]. */
export function validatePreference(p: number | undefined): void {
  if (p !== undefined && (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p > 1)) {
    throw new AppError('INVALID_PARAMETER', [
      `preference must be a number from 0 (cheapest) to 1 (most accurate), got ${JSON.stringify(p)}`,
    ]);
  }
}

/** The cost of two strategies run one after the other. */
export function sumEstimates(a: StrategyEstimate, b: StrategyEstimate): StrategyEstimate {
  return {
    feasible: a.feasible && b.feasible,
    promptTokens: a.promptTokens + b.promptTokens,
    calls: a.calls + b.calls,
    contextTokens: a.contextTokens + b.contextTokens,
  };
}

const pct = (x: number): string => `${Math.round(x * 100)}%`;

/**
 * Why the probe is not needed for a question the policy sent to `policy`, or
 * null: the evidence is clearly diffuse ('direct': read whole at once) or
 * clearly concentrated ('trust': keep the retrieval answer).
 */
export function zoneOf(
  input: Pick<PlanInput, 'signals' | 'topCoverage'>,
  policy: StrategyName,
  answerMayBeAbsent: boolean,
  z: ProbeZones,
  cues: readonly Cue[],
): { zone: 'direct' | 'trust'; why: string } | null {
  const gap = input.signals.relativeGap;
  if (policy !== 'rag') {
    const cue = cues.find((c) => z.directCues.includes(c.name));
    if (cue)
      return {
        zone: 'direct',
        why: `the question asks for a ${cue.name} ("${cue.match}"): the evidence is clearly spread out, so the whole text is read at once, without a retrieval answer first`,
      };
    if (z.directMaxRelativeGap > 0 && gap !== null && gap < z.directMaxRelativeGap) {
      return {
        zone: 'direct',
        why: `no passage stands out at all (largest score gap ${pct(gap)} of the range, below ${pct(z.directMaxRelativeGap)}): the whole text is read at once, without a retrieval answer first`,
      };
    }
    return null;
  }
  if (answerMayBeAbsent || z.trustMinRelativeGap <= 0 || gap === null || input.topCoverage === undefined) return null;
  if (gap >= z.trustMinRelativeGap && input.topCoverage >= z.trustMinTopCoverage) {
    return {
      zone: 'trust',
      why: `one place clearly holds the evidence (largest score gap ${pct(gap)} of the range, at least ${pct(z.trustMinRelativeGap)}; the best passage has ${pct(input.topCoverage)} of the question's terms): the retrieval answer is kept without the length test`,
    };
  }
  return null;
}

/**
 * Plans one query: the policy's choice (./policy.ts) or the requested
 * strategy, then the escalation after a retrieval answer.
 *
 * With strategy auto and a generative reader, the retrieval probe (default)
 * answers from retrieval first and escalates a long answer to the policy's
 * whole-text strategy; it is skipped where the settings' zones say the
 * evidence is clearly diffuse (read whole at once) or clearly concentrated
 * (retrieval kept). Self-Route instead, when asked for, escalates a retrieval
 * answer the reader declines. Neither runs with the extractive reader, which
 * cannot decline honestly; the plan says so.
 */
export function planQuery(input: PlanInput, s: RouterSettings): Plan {
  const t = s.thresholds;
  const latencyMs = {
    rag: estimateLatencyMs(input.estimates.rag, t),
    full: estimateLatencyMs(input.estimates.full, t),
    coa: estimateLatencyMs(input.estimates.coa, t),
  };
  const first = firstChoice(input, s, latencyMs);
  const { cues, answerMayBeAbsent } = first;
  let { strategy, reasons } = first;

  validateEscalation(input);
  validatePreference(input.preference);
  const selfRoute = selfRoutePlan(input, s, strategy, answerMayBeAbsent);
  // Said in the reasons only when asked for explicitly; the note field always carries it.
  if (input.selfRoute === true && selfRoute.note) reasons = [...reasons, selfRoute.note];

  const p = probePlan(input, s, { strategy, cues, answerMayBeAbsent, latencyMs }, selfRoute.requested);
  if (p.zone) reasons = [...reasons, `retrieval probe skipped: ${p.zone.why}`];
  const probe = p.requested && p.note === null;
  let escalation: Escalation | null = null;
  if (probe) {
    escalation = probeEscalation(p.maxAnswerTokens);
    const said = escalation.announce(p.fallback);
    if (said) reasons = [...reasons, said];
    strategy = 'rag';
  } else {
    if (input.probe === true && p.note && p.zone === null) reasons = [...reasons, p.note];
    if (selfRoute.active) escalation = selfRouteEscalation;
  }
  return {
    strategy,
    policyStrategy: first.strategy,
    reasons,
    cues,
    latencyMs,
    escalation,
    order: p.order,
    selfRoute,
    probe: {
      requested: p.requested,
      active: probe,
      note: p.note,
      maxAnswerTokens: p.maxAnswerTokens,
      fallback: probe ? p.fallback : null,
      verdict: null,
      zone: p.zone?.zone ?? null,
    },
    answerMayBeAbsent,
  };
}

/** What reads first before any escalation: the policy's choice with strategy auto, else the requested strategy if the budgets allow it. */
function firstChoice(
  input: PlanInput,
  s: RouterSettings,
  latencyMs: Record<StrategyName, number>,
): { strategy: StrategyName; reasons: string[]; cues: Cue[]; answerMayBeAbsent: boolean } {
  const { requested, estimates, budgets } = input;
  const ctx = {
    question: input.question,
    documentTokens: input.documentTokens,
    window: input.window,
    budgets,
    estimates,
    ...(input.absentTerms ? { absentTerms: input.absentTerms } : {}),
  };
  if (requested === 'auto') {
    const routed = decide(input.signals, ctx, s.thresholds);
    return {
      strategy: routed.strategy,
      reasons: [...(input.scopeReasons ?? []), ...routed.reasons],
      cues: routed.cues,
      answerMayBeAbsent: routed.answerMayBeAbsent,
    };
  }
  const why = overBudget(requested, estimates[requested], budgets, latencyMs[requested]);
  if (why) {
    const e = estimates[requested];
    throw new AppError(
      'BUDGET_TOO_SMALL',
      [
        `The budget is too small for strategy ${requested}: ${why}. The minimum for it is ${e.promptTokens} prompt tokens and ${e.calls} LLM call${e.calls === 1 ? '' : 's'}.`,
      ],
      {
        details: {
          strategy: requested,
          minimum: { promptTokens: e.promptTokens, calls: e.calls, latencyMs: Math.round(latencyMs[requested]) },
        },
      },
    );
  }
  const reasons = [`strategy ${requested} was requested`, ...(input.scopeReasons ?? [])];
  // What auto would have done, for comparison; within these budgets it may have had no option at all.
  try {
    const routed = decide(input.signals, ctx, s.thresholds);
    if (routed.strategy !== requested)
      reasons.push(`auto would have chosen ${routed.strategy}: ${routed.reasons.join('; ')}`);
  } catch (err) {
    if (!(err instanceof AppError && err.code === 'BUDGET_TOO_SMALL')) throw err;
  }
  return { strategy: requested, reasons, cues: findCues(input.question), answerMayBeAbsent: false };
}

/** Whether Self-Route was asked for (by the request or the settings), whether it runs, and why not. */
function selfRoutePlan(
  input: PlanInput,
  s: RouterSettings,
  strategy: StrategyName,
  answerMayBeAbsent: boolean,
): EscalationView {
  const requested = input.selfRoute ?? (input.probe === true ? false : s.escalation === 'self-route');
  let note: string | null = null;
  if (requested && input.reader === 'extractive') {
    note = 'Self-Route escalation is off: the extractive reader quotes sentences and cannot decline honestly';
  } else if (requested && input.requested !== 'auto') {
    note = 'Self-Route escalation applies only to strategy auto';
  }
  if (requested && note === null && answerMayBeAbsent) {
    // Escalating would hand the question to the reader least likely to say the answer is not there.
    note =
      'Self-Route escalation is off for this question: its answer may not be in the text, so a reply that the passages do not answer it is kept';
  }
  const active =
    requested &&
    input.reader === 'generative' &&
    input.requested === 'auto' &&
    strategy === 'rag' &&
    !answerMayBeAbsent;
  return { requested, active, note };
}

/**
 * Whether the retrieval probe was asked for, its answer-length limit, where a
 * retrieval answer it does not keep goes, and why it does not run (`note`,
 * null when it runs; `zone` when the evidence makes it unnecessary).
 */
function probePlan(
  input: PlanInput,
  s: RouterSettings,
  first: {
    strategy: StrategyName;
    cues: readonly Cue[];
    answerMayBeAbsent: boolean;
    latencyMs: Record<StrategyName, number>;
  },
  selfRouteRequested: boolean,
): {
  requested: boolean;
  maxAnswerTokens: number;
  order: StrategyName[];
  fallback: StrategyName | null;
  note: string | null;
  zone: { zone: 'direct' | 'trust'; why: string } | null;
} {
  const { estimates, budgets } = input;
  const { strategy, latencyMs } = first;
  const requested = input.probe ?? (selfRouteRequested ? false : s.escalation === 'probe');
  const maxAnswerTokens = probeLimit(input.preference ?? s.preference, s.probeMaxAnswerTokens);
  const fits = estimates.full.feasible && !estimates.full.truncated;
  // Where a retrieval answer that is not kept goes, first the strategy read if the budgets allow.
  const order = escalationOrder(strategy, fits);
  const fallback =
    strategy !== 'rag'
      ? strategy
      : (order.find((x) => overBudget(x, estimates[x], budgets, latencyMs[x]) === null) ?? null);
  const plan = { requested, maxAnswerTokens, order, fallback, note: null as string | null, zone: null };
  if (!requested) return plan;
  if (input.reader === 'extractive')
    return {
      ...plan,
      note: 'The retrieval probe is off: the extractive reader quotes sentences, so neither a decline nor the length of its answer says anything',
    };
  if (input.requested !== 'auto') return { ...plan, note: 'The retrieval probe applies only to strategy auto' };
  if (overBudget('rag', estimates.rag, budgets, latencyMs.rag) !== null)
    return {
      ...plan,
      note: 'The retrieval probe is off for this question: retrieval does not fit the budgets or the window',
    };
  if (
    strategy !== 'rag' &&
    overBudget(
      strategy,
      sumEstimates(estimates.rag, estimates[strategy]),
      budgets,
      latencyMs.rag + latencyMs[strategy],
    ) !== null
  ) {
    return {
      ...plan,
      note: `The retrieval probe is off for this question: the budgets leave no room for a retrieval answer before ${strategy}`,
    };
  }
  const z = zoneOf(input, strategy, first.answerMayBeAbsent, s.zones, first.cues);
  return z ? { ...plan, note: `The retrieval probe is not needed for this question: ${z.why}`, zone: z } : plan;
}

/** Budgets left after a first attempt that used `used`. */
export function budgetsLeft(
  budgets: Budgets,
  used: { promptTokens: number; calls: number; latencyMs: number },
): Budgets {
  return {
    ...(budgets.maxPromptTokens !== undefined ? { maxPromptTokens: budgets.maxPromptTokens - used.promptTokens } : {}),
    ...(budgets.maxCalls !== undefined ? { maxCalls: budgets.maxCalls - used.calls } : {}),
    ...(budgets.maxLatencyMs !== undefined ? { maxLatencyMs: budgets.maxLatencyMs - used.latencyMs } : {}),
  };
}
