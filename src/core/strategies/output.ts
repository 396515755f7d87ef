import type { AnswerResult } from './types.js';

/** The part of an AnswerResult a strategy fills; the AnswerService adds calls, totals and costs. */
export type StrategyOutput = Pick<
  AnswerResult,
  'answer' | 'citations' | 'contextTokens' | 'truncated' | 'segments' | 'notes' | 'retrieval'
>;

/** What a strategy returns: its part of the result, and the untruncated full-context prompt size when it measured it exactly. */
export type StrategyRun = StrategyOutput & { fullContextTokens?: number };
