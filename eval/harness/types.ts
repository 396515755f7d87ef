import type { SelectionMethod } from '../../src/core/retrieval/select.js';
import type { StrategyName } from '../../src/core/strategies/types.js';

/**
 * A way of answering to compare. `auto` is the router (POST /v1/query);
 * `rag`, `topk` and `budget` are retrieval with Adaptive-k, a fixed top-k and
 * a token budget (POST /v1/answer, strategy rag); `coa` and `full` read the
 * whole text.
 */
export type StrategyKey = 'auto' | 'rag' | 'topk' | 'budget' | 'coa' | 'full';

export const STRATEGY_KEYS: readonly StrategyKey[] = ['auto', 'rag', 'topk', 'budget', 'coa', 'full'];

export interface StrategySpec {
  key: StrategyKey;
  /** What is asked of the service: 'auto' or one reading strategy. */
  requested: 'auto' | StrategyName;
  /** Chunk selection for retrieval (auto uses it when it picks rag). */
  selection: SelectionMethod;
  /** Human-readable, e.g. "top-k (k=5)". */
  label: string;
}

/** One question as the harness runs it. */
export interface EvalQuestion {
  /** `${queryFile}:${line}`. */
  id: string;
  length: string;
  type: string;
  task: string;
  file: string;
  documentId: string;
  question: string;
  answer: string;
  queryFile: string;
  line: number;
  /** Position in the seeded order (0-based): rows are sorted by it in every output. */
  order: number;
}

/** A judge's word on one answer. */
export interface Verdict {
  correct: boolean;
  /** 0–1 where the judge has a graded score (lexical overlap); 1/0 otherwise. */
  score: number;
  /** 'lexical-approximate' or 'llm:<model>'. */
  method: string;
  /** Which rule decided (lexical), or the judge's raw reply (LLM), for reading its mistakes. */
  detail?: string;
}

/** Latency of the stages of one answer, in ms (wall clock: excluded from the deterministic numbers). */
export interface StageLatency {
  totalMs: number;
  /** Query embedding + scoring + selection (retrieval strategies). */
  retrieveMs: number | null;
  /** Sum of LLM call latencies by role. */
  answerMs: number;
  coaWorkersMs: number;
  coaManagerMs: number;
  judgeMs: number;
}

/** One line of results.jsonl: one (question, strategy) pair that finished. */
export interface ResultRow {
  /** `${questionId}|${strategy}`: unique in a results file. */
  key: string;
  questionId: string;
  order: number;
  strategy: StrategyKey;
  length: string;
  type: string;
  task: string;
  file: string;
  documentId: string;
  question: string;
  groundTruth: string;
  /** The reading strategy that answered (auto: the router's choice, after any escalation). */
  chosen: StrategyName;
  /** Why (auto: the router's reasons; fixed strategies: the request). */
  reasons: string[];
  /** Chunks read when retrieval answered; null for whole-text strategies. */
  k: number | null;
  /** Adaptive-k's cut on the score curve (index into the sorted scores), when Adaptive-k selected. */
  cutIndex: number | null;
  /** Tokens of document text given to the reader (all segments for Chain-of-Agents). */
  tokensRead: number;
  documentTokens: number;
  /** tokensRead / documentTokens. */
  tokenRatio: number;
  promptTokens: number;
  completionTokens: number;
  llmCalls: number;
  latency: StageLatency;
  answer: string;
  /** 0–1: the segment rule of the dataset README (eval/lara/evidence.ts). */
  evidenceCoverage: number;
  /** Share of the ground truth's content words (those in the document) that the text read contains; null when none is in the document. */
  answerSupport: number | null;
  verdict: Verdict;
  /** Present for the sample questions the report plots: the score curve, best first, and the cut. */
  scoreCurve?: { scores: number[]; cutIndex: number | null; k: number };
}

/** A (question, strategy) pair that failed; kept in errors.jsonl and never counted as answered. */
export interface FailureRow {
  key: string;
  questionId: string;
  strategy: StrategyKey;
  code: string;
  message: string;
  at: string;
}

/** A dataset line the harness could not use. */
export interface BrokenInput {
  /** Path relative to the dataset root, e.g. queries/32k_book_comp.jsonl. */
  file: string;
  /** 1-based; 0 for the file as a whole. */
  line: number;
  message: string;
}
