import { planQuery, zoneOf, type Plan, type PlanInput } from '../../src/core/routing/plan.js';
import { keptAt } from '../../src/core/routing/probe.js';
import type { ProbeZones, RouterSettings } from '../../src/core/routing/settings.js';
import type { StrategyName } from '../../src/core/strategies/types.js';
import type { Answered } from './judged.js';
import type { QuestionRecord } from './records.js';

/**
 * Recorded-answer replay of one question: the service's own plan
 * (src/core/routing/plan.ts) decides, and the model's recorded answers stand
 * in for what the reader would say: the recorded RAG answer for every
 * retrieval read (the probe's first answer included), the recorded
 * whole-text answer for full context and Chain-of-Agents (LaRA recorded no
 * other). No budgets: an escalation reads the first feasible strategy of the
 * plan's order, as the service does without budgets.
 */
export interface Outcome {
  /** The answer that counts came from retrieval. */
  byRag: boolean;
  correct: boolean;
  /** Document tokens read: both reads when escalated. */
  tokens: number;
  escalated: boolean;
}

/** What a request to the replayed service asks beyond the question. */
export interface ReplayRequest {
  preference?: number;
  probe?: boolean;
  selfRoute?: boolean;
  reader?: 'generative' | 'extractive';
}

export function planInput(rec: QuestionRecord, req: ReplayRequest = {}): PlanInput {
  return {
    requested: 'auto',
    question: rec.question,
    signals: rec.signals,
    estimates: rec.estimates,
    documentTokens: rec.documentTokens,
    window: rec.window,
    budgets: {},
    absentTerms: rec.absentTerms,
    topCoverage: rec.topCoverage,
    reader: req.reader ?? 'generative',
    selfRoute: req.selfRoute,
    probe: req.probe,
    preference: req.preference,
  };
}

function wholeRead(rec: QuestionRecord, order: readonly StrategyName[]): StrategyName {
  return order.find((s) => rec.estimates[s].feasible) ?? order[0]!;
}

/** The outcome of a plan against one model's recorded answers. */
export function outcomeOf(plan: Plan, rec: QuestionRecord, a: Answered): Outcome {
  if (plan.escalation) {
    if (plan.escalation.keeps(a.verdict))
      return { byRag: true, correct: a.rag, tokens: rec.tokens.rag, escalated: false };
    return {
      byRag: false,
      correct: a.full,
      tokens: rec.tokens.rag + rec.tokens[wholeRead(rec, plan.order)],
      escalated: true,
    };
  }
  const s = plan.strategy;
  return { byRag: s === 'rag', correct: s === 'rag' ? a.rag : a.full, tokens: rec.tokens[s], escalated: false };
}

/** Plans and replays one question. */
export function replayQuestion(
  rec: QuestionRecord,
  a: Answered,
  settings: RouterSettings,
  req: ReplayRequest = {},
): Outcome {
  return outcomeOf(planQuery(planInput(rec, req), settings), rec, a);
}

/**
 * The same decision as replayQuestion, split so that a search over the
 * probe's zones and limit plans each question once: `base` is the plan with
 * the zones off, and the zones and the limit are applied here with the
 * plan's own zoneOf. A test checks both paths agree.
 */
export type Kind =
  | { kind: 'rag' }
  | { kind: 'whole'; read: StrategyName }
  | { kind: 'probe'; escalateTo: StrategyName };

export function prepare(
  rec: QuestionRecord,
  settings: RouterSettings,
  req: ReplayRequest = {},
): { base: Plan; input: PlanInput } {
  const off: RouterSettings = {
    ...settings,
    zones: { directCues: [], directMaxRelativeGap: 0, trustMinRelativeGap: 0, trustMinTopCoverage: 1 },
  };
  const input = planInput(rec, req);
  return { base: planQuery(input, off), input };
}

export function kindOf(p: { base: Plan; input: PlanInput }, rec: QuestionRecord, zones: ProbeZones): Kind {
  const { base, input } = p;
  if (!base.probe.active) {
    if (base.escalation) throw new Error('kindOf replays the probe only (Self-Route: use replayQuestion)');
    return base.strategy === 'rag' ? { kind: 'rag' } : { kind: 'whole', read: base.strategy };
  }
  const z = zoneOf(input, base.policyStrategy, base.answerMayBeAbsent, zones, base.cues);
  if (z?.zone === 'direct') return { kind: 'whole', read: base.policyStrategy };
  if (z?.zone === 'trust') return { kind: 'rag' };
  return { kind: 'probe', escalateTo: wholeRead(rec, base.order) };
}

export function outcomeOfKind(k: Kind, rec: QuestionRecord, a: Answered, maxAnswerTokens: number): Outcome {
  if (k.kind === 'rag') return { byRag: true, correct: a.rag, tokens: rec.tokens.rag, escalated: false };
  if (k.kind === 'whole') return { byRag: false, correct: a.full, tokens: rec.tokens[k.read], escalated: false };
  if (keptAt(a.verdict, maxAnswerTokens))
    return { byRag: true, correct: a.rag, tokens: rec.tokens.rag, escalated: false };
  return { byRag: false, correct: a.full, tokens: rec.tokens.rag + rec.tokens[k.escalateTo], escalated: true };
}
