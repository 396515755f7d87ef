import { analyze } from '../../src/core/text/analyse.js';
import { declines, saysMissing } from '../../src/core/text/declines.js';

export { declines, saysMissing };

/**
 * An APPROXIMATE judge that needs no model: it scores a prediction by how many
 * of the ground truth's content words and numbers it contains. LaRA (Li et al.,
 * 2025, arXiv 2502.09977) scored answers with an LLM judge; this one only
 * stands in for it where no model is available, so results carry
 * `method: 'lexical-approximate'` and must be reported as such. It rewards a
 * prediction that restates the right facts and cannot see paraphrase, so its
 * absolute accuracy differs from an LLM judge's; differences between reading
 * strategies over the same questions are what it is for.
 *
 * The API is stable: calibration may change the constants, not the shape.
 */
export interface LexicalJudgeInput {
  question: string;
  /** The ground-truth answer. */
  answer: string;
  prediction: string;
  /** LaRA task: 'location', 'reasoning', 'comp', 'hallu' (any other value is judged like location). */
  task: string;
}

export interface LexicalVerdict {
  correct: boolean;
  /** 0–1: the share of the ground truth's facts found in the prediction (1 or 0 for refusal decisions). */
  score: number;
  method: 'lexical-approximate';
  /** Which rule decided, for reading the judge's mistakes. */
  rule: 'refusal-expected' | 'refusal-unexpected' | 'overlap';
}

/** Score at or above which a prediction counts as right. */
export const LEXICAL_THRESHOLD = 0.5;
/** A prediction that declines when the ground truth has an answer must still carry this much of it. */
export const REFUSAL_OVERRIDE = 0.75;

// Words that name the source or hedge, common in answers whatever the question.
const GENERIC = new Set(
  (
    'text document paper passage chunk chunks provided mention mentioned also about more most such other both between during ' +
    'however therefore thus while whereas which including include includes specifically specific particular overall ' +
    'according based given state states stated describe described highlight highlights highlighted indicate indicates'
  )
    .split(' ')
    .map((w) => analyze(w)[0] ?? w),
);

const NUMBER = /\d+(?:[.,]\d+)*/g;

/** Numbers of a text as written ("1,234.50" → "1234.50"): the decimals written set the precision compared. */
export function numbersOf(text: string): string[] {
  return [...text.matchAll(NUMBER)].map((m) => m[0].replace(/,(?=\d{3}\b)/g, '').replace(/,/g, '.'));
}

function decimals(n: string): number {
  const i = n.indexOf('.');
  return i < 0 ? 0 : n.length - i - 1;
}

/** Same number up to the coarser of the two precisions: "34" matches "33.972", "2022" never "2023". */
function sameNumber(a: string, b: string): boolean {
  const x = Number(a);
  const y = Number(b);
  if (!Number.isFinite(x) || !Number.isFinite(y)) return a === b;
  const d = Math.min(decimals(a), decimals(b));
  return x.toFixed(d) === y.toFixed(d);
}

function contentWords(text: string): Set<string> {
  const out = new Set<string>();
  for (const w of analyze(text)) if (!/^\d/.test(w) && !GENERIC.has(w) && w.length > 1) out.add(w);
  return out;
}

/**
 * Overlap of the ground truth's facts with the prediction: recall of its
 * content words that the question does not already hold (an answer that
 * restates the question earns nothing for it), and of its numbers; with
 * numbers present both count half.
 */
export function overlapScore(question: string, answer: string, prediction: string): number {
  const asked = contentWords(question);
  const all = contentWords(answer);
  const novel = [...all].filter((w) => !asked.has(w));
  const words = novel.length > 0 ? novel : [...all];
  const predWords = contentWords(prediction);
  const wordRecall = words.length === 0 ? null : words.filter((w) => predWords.has(w)).length / words.length;

  const askedNums = new Set(numbersOf(question));
  const nums = [...new Set(numbersOf(answer))].filter((n) => !askedNums.has(n));
  const predNums = numbersOf(prediction);
  const numRecall =
    nums.length === 0 ? null : nums.filter((n) => predNums.some((p) => sameNumber(n, p))).length / nums.length;

  if (wordRecall === null && numRecall === null) return 0;
  if (numRecall === null) return wordRecall!;
  if (wordRecall === null) return numRecall;
  return (wordRecall + numRecall) / 2;
}

/**
 * Judges one prediction. Hallucination questions (task 'hallu') whose ground
 * truth says the information is missing are right exactly when the prediction
 * says so too; a prediction that declines (in its first sentence) a question
 * the ground truth answers is wrong unless it still carries most of the answer.
 */
export function judgeLexical(input: LexicalJudgeInput): LexicalVerdict {
  const expectMissing = saysMissing(input.answer);
  const declined = declines(input.prediction);
  if (
    expectMissing &&
    (input.task === 'hallu' || overlapScore(input.question, input.answer, input.prediction) < LEXICAL_THRESHOLD)
  ) {
    // Either wording of "not there" is right; an answer with content is a hallucination.
    const right = saysMissing(input.prediction);
    return { correct: right, score: right ? 1 : 0, method: 'lexical-approximate', rule: 'refusal-expected' };
  }
  const score = overlapScore(input.question, input.answer, input.prediction);
  if (declined)
    return { correct: score >= REFUSAL_OVERRIDE, score, method: 'lexical-approximate', rule: 'refusal-unexpected' };
  return { correct: score >= LEXICAL_THRESHOLD, score, method: 'lexical-approximate', rule: 'overlap' };
}
