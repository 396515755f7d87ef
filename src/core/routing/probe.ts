import type { StrategyName } from '../strategies/types.js';
import { cl100k } from '../tokenizer.js';
import { declines } from '../text/declines.js';

/**
 * The retrieval probe: with a generative reader, auto answers from the
 * retrieved passages first and reads the whole text only when that answer
 * suggests the passages were not enough.
 *
 * Self-Route (Li et al., "Retrieval Augmented Generation or Long-Context LLMs?
 * A Comprehensive Study and Hybrid Approach", EMNLP 2024) escalates a retrieval
 * answer that declines. On LaRA (Li et al., 2025, arXiv 2502.09977) that is
 * the wrong way round: most declines are right, because the question asks for
 * something the text does not hold, and the reader given everything invents an
 * answer more often (gpt-4o's recorded answers: a declining RAG answer is
 * right on 96% of such questions, the full-context answer to the same
 * questions on 73%). What does signal missing evidence is a long answer: a
 * reader that found the fact in the passages states it briefly; one that did
 * not explains, hedges or pieces together. So the probe keeps a retrieval
 * answer that declines or is short, and escalates the rest. Measured by
 * replaying LaRA's recorded answers (`npm run replay`, eval/replay/; numbers in
 * docs/calibration.md).
 */
export type ProbeVerdict =
  | { keep: true; why: 'declined' | 'short'; answerTokens: number }
  | { keep: false; why: 'long' | 'empty'; answerTokens: number };

/**
 * The whole-text strategies a retrieval answer that is not kept escalates to,
 * in the order tried (budgets permitting): the policy's own whole-text choice
 * first; when the policy chose retrieval, full context if the text fits the
 * window whole, else Chain-of-Agents. The service and both replays use it.
 */
export function escalationOrder(policyChoice: StrategyName, fullFits: boolean): StrategyName[] {
  const order: StrategyName[] = fullFits ? ['full', 'coa'] : ['coa', 'full'];
  return policyChoice === 'rag' ? order : [policyChoice, ...order.filter((s) => s !== policyChoice)];
}

/** Passage citations like [2] or [1, 3]: the service's prompt asks for them, and they say nothing about the answer's length. */
const CITATION = /\s*\[\d+(?:\s*[,;–-]\s*\d+)*\]/g;

/** cl100k tokens of an answer without its passage citations. */
export function answerTokens(answer: string): number {
  return cl100k.count(answer.replace(CITATION, '').trim());
}

/** Whether to keep a retrieval answer (see above). `maxAnswerTokens` 0 keeps only declines. */
export function judgeProbe(answer: string, maxAnswerTokens: number): ProbeVerdict {
  const n = answerTokens(answer);
  if (declines(answer)) return { keep: true, why: 'declined', answerTokens: n };
  if (n === 0) return { keep: false, why: 'empty', answerTokens: 0 };
  if (n <= maxAnswerTokens) return { keep: true, why: 'short', answerTokens: n };
  return { keep: false, why: 'long', answerTokens: n };
}

/**
 * Whether judgeProbe(answer, max) keeps the answer, from any verdict on the
 * same answer (a replay judges each answer once, with no limit, and weighs it
 * against many limits without counting its tokens again).
 */
export function keptAt(v: ProbeVerdict, max: number): boolean {
  return v.why === 'declined' || (v.why !== 'empty' && v.answerTokens <= max);
}
