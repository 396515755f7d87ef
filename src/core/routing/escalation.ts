import type { StrategyName } from '../strategies/types.js';
import { isUnanswerable } from '../strategies/prompts.js';
import { judgeProbe, keptAt, type ProbeVerdict } from './probe.js';

/**
 * What happens after a retrieval answer when the router is not sure retrieval
 * was enough: keep the answer, or read the whole text. Two implementations:
 *
 * - the retrieval probe (./probe.ts): keeps an answer that declines or is
 *   short, escalates a long or empty one;
 * - Self-Route (Li et al., "Retrieval Augmented Generation or Long-Context
 *   LLMs? A Comprehensive Study and Hybrid Approach", EMNLP 2024 industry
 *   track): the reader may reply UNANSWERABLE, and such a reply is escalated.
 *
 * `check` reads a live answer (the service); `keeps` reads a verdict taken
 * once from a recorded answer (the replay weighs one answer against many
 * settings). Both decide the same way.
 */
export interface Escalation {
  readonly name: 'probe' | 'self-route';
  /** How the reasons name it. */
  readonly label: string;
  /** The retrieval read may reply UNANSWERABLE (Self-Route's instruction). */
  readonly allowUnanswerable: boolean;
  /** Said in the reasons when the plan is made; null says nothing. */
  announce(fallback: StrategyName | null): string | null;
  /** Whether a live retrieval answer stands, and why in words. */
  check(answer: string): EscalationCheck;
  /** Whether an answer with this verdict (judgeProbe with no limit) stands. */
  keeps(v: ProbeVerdict): boolean;
  /** What the reasons say when the answer should escalate but the budgets leave no room. */
  noRoom(insufficient: string): string;
}

export type EscalationCheck =
  | { keep: true; reason: string | null; verdict: ProbeVerdict | null }
  | { keep: false; insufficient: string; verdict: ProbeVerdict | null };

/** The retrieval probe with a limit on the length of a kept answer (tokens, citations not counted). */
export function probeEscalation(maxAnswerTokens: number): Escalation {
  return {
    name: 'probe',
    label: 'retrieval probe',
    allowUnanswerable: false,
    announce: (fallback) =>
      `retrieval probe: answering from the passages first; the answer is kept if it says the text does not hold the answer or is short (at most ${maxAnswerTokens} tokens)` +
      (fallback ? `, else the question is read with ${fallback}` : ''),
    check(answer) {
      const verdict = judgeProbe(answer, maxAnswerTokens);
      if (verdict.why === 'declined') {
        return {
          keep: true,
          verdict,
          reason:
            'retrieval probe: the answer says the passages do not hold what was asked; kept, since a reader given the whole text more often invents an answer to such questions (ask with strategy full to read it whole anyway)',
        };
      }
      if (verdict.why === 'short')
        return {
          keep: true,
          verdict,
          reason: `retrieval probe: a short answer (${verdict.answerTokens} tokens, at most ${maxAnswerTokens}) found in the passages; kept`,
        };
      return {
        keep: false,
        verdict,
        insufficient:
          verdict.why === 'empty'
            ? 'the retrieval answer is empty'
            : `the retrieval answer is long (${verdict.answerTokens} tokens, more than ${maxAnswerTokens}): the passages were likely not enough`,
      };
    },
    keeps: (v) => keptAt(v, maxAnswerTokens),
    noRoom: (insufficient) =>
      `retrieval probe: ${insufficient}, but the budgets leave no room to read more; the retrieval answer is kept`,
  };
}

/** Self-Route as published: escalate a retrieval answer that says the passages are not enough. */
export const selfRouteEscalation: Escalation = {
  name: 'self-route',
  label: 'Self-Route',
  allowUnanswerable: true,
  announce: () => null,
  check(answer) {
    if (!isUnanswerable(answer)) return { keep: true, reason: null, verdict: null };
    return {
      keep: false,
      verdict: null,
      insufficient: `the model found the retrieved passages insufficient (replied ${answer.trim().slice(0, 40)})`,
    };
  },
  // A recorded answer was not asked to reply UNANSWERABLE: its decline stands in for the reply.
  keeps: (v) => v.why !== 'declined',
  noRoom: () => 'the model found the passages insufficient (UNANSWERABLE), but the budgets leave no room to read more',
};
