import type { Citation } from '../../ports/llm.js';
import type { RetrievalResult } from '../retrieval/service.js';

/** How a question is read: retrieved passages, Chain-of-Agents over segments, or the whole text. */
export type StrategyName = 'rag' | 'coa' | 'full';

export const STRATEGIES: readonly StrategyName[] = ['rag', 'coa', 'full'];

export function isStrategyName(s: unknown): s is StrategyName {
  return typeof s === 'string' && (STRATEGIES as readonly string[]).includes(s);
}

/** One LLM call of an answer, as the caller pays for it. */
export interface LlmCallRecord {
  role: 'answer' | 'coa-worker' | 'coa-manager';
  /** Segment number (0-based) for Chain-of-Agents workers; null otherwise. */
  index: number | null;
  /** Counted with the provider's tokenizer (chat template included) before the call was sent. */
  promptTokens: number;
  /** From the provider's reported usage. */
  completionTokens: number;
  /** True when either count comes from an approximate tokenizer. */
  estimated: boolean;
  latencyMs: number;
  finishReason: string;
}

/** What an answer run reports while it works (streamed to SSE clients). */
export type AnswerEvent =
  | {
      type: 'progress';
      stage: 'retrieve' | 'read' | 'segment' | 'manager';
      index?: number;
      total?: number;
      note?: string;
    }
  | { type: 'token'; text: string }
  | { type: 'call'; call: LlmCallRecord };

/** What retrieval contributed to a RAG answer. */
export interface RagRetrievalView {
  method: RetrievalResult['method'];
  score: RetrievalResult['score'];
  signals: RetrievalResult['signals'];
  tokens: RetrievalResult['tokens'];
  adaptiveK: RetrievalResult['adaptiveK'];
  timings: RetrievalResult['timings'];
  /**
   * Chunks Adaptive-k selected but the prompt could not hold: the lowest-scored
   * ones are dropped until the prompt fits the window. Null when none were.
   */
  droppedForWindow: null | { chunkIds: string[]; tokens: number };
}

export interface AnswerResult {
  answer: string;
  strategy: StrategyName;
  /** True when the extractive reader answered: the answer quotes sentences, no model wrote it. */
  extractive: boolean;
  /**
   * Spans the answer rests on; `start`/`end` are character offsets into the
   * document text. Extractive reader: the sentences it quoted. Generative RAG:
   * the passages the answer cites by number (all passages read when it cites
   * none). Generative full context and Chain-of-Agents: empty (the model's
   * text cannot be traced to spans reliably).
   */
  citations: Citation[];
  calls: LlmCallRecord[];
  totals: { promptTokens: number; completionTokens: number; calls: number; latencyMs: number };
  /** Tokens the full-context prompt would take, untruncated, with the provider's tokenizer: the cost being saved. */
  fullContextTokens: number;
  /** Tokens of document text actually given to the LLM (all segments for Chain-of-Agents). */
  contextTokens: number;
  /** Full context only: what middle truncation cut (null when the text fit or for other strategies). */
  truncated: null | { keptTokens: number; droppedTokens: number; droppedShare: number };
  /** Chain-of-Agents only: the segments the workers read. */
  segments: null | { count: number; tokensPerSegment: number[] };
  /** Chain-of-Agents worker notes, in order. */
  notes: string[];
  retrieval: null | RagRetrievalView;
}
