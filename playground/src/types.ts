/**
 * The shapes of the API responses the playground reads. They mirror the
 * service's JSON (routes/*.ts); only the fields the page uses are listed, and
 * fields of routes still being built are optional so an older server still renders.
 */

export interface ErrorBody {
  error: { code: string; message: string };
  requestId?: string;
}

export interface DocumentView {
  id: string;
  title: string;
  status: 'pending' | 'indexing' | 'ready' | 'failed';
  chars: number;
  tokens: number;
  chunkCount: number;
  error: { code: string; message: string } | null;
}

export interface Submitted {
  document: DocumentView;
  jobId: string;
  unchanged: boolean;
}

export interface JobView {
  id: string;
  state: 'waiting' | 'active' | 'completed' | 'failed' | 'delayed';
  progress: number;
  error: { code: string; message: string } | null;
}

export interface CurvePoint {
  id: string;
  documentId: string;
  order: number;
  score: number;
}

export interface SelectedChunk extends CurvePoint {
  start: number;
  end: number;
  tokens: number;
  dense: number;
  bm25: number;
}

export interface AdaptiveKView {
  k: number;
  cutIndex: number;
  largestGap: number;
  relativeGap: number;
  topScore: number;
  aboveCut: number;
  window: [number, number];
  flat: boolean;
}

export interface ScopeDocument {
  id: string;
  title: string;
  tokens: number;
  chars: number;
  chunkCount: number;
}

export interface RetrieveResult {
  k: number;
  cutIndex: number | null;
  /** The selection used: `{kind: 'adaptive-k', a, b, buffer}`, `{kind: 'top-k', k}`… */
  method?: unknown;
  score?: string;
  curve?: CurvePoint[];
  selected: SelectedChunk[];
  adaptiveK: AdaptiveKView | null;
  tokens: { selected: number; documents: number };
  scope: { documents: ScopeDocument[] };
}

export interface Citation {
  documentId: string;
  chunkId?: string;
  start: number;
  end: number;
  text: string;
}

export interface LlmCall {
  role: string;
  index?: number;
  promptTokens: number;
  completionTokens: number;
  latencyMs: number;
}

/** The router's cost estimate of one strategy (src/core/routing/query-service.ts). */
export interface StrategyEstimate {
  feasible: boolean;
  reason?: string;
  promptTokens: number;
  calls: number;
  contextTokens: number;
  latencyMs: number;
  excludedBy: string | null;
  segments?: number;
}

export interface Decision {
  strategy: string;
  requested?: string;
  reasons: string[];
  signals?: Record<string, unknown>;
  cues?: Array<{ name: string; match: string }>;
  estimates?: Record<string, StrategyEstimate | unknown>;
  selfRoute?: { requested: boolean; active: boolean; note: string | null };
  probe?: {
    requested: boolean;
    active: boolean;
    note: string | null;
    maxAnswerTokens: number;
    fallback: string | null;
    verdict: null | { keep: boolean; why: 'declined' | 'short' | 'long' | 'empty'; answerTokens: number };
  };
  escalated?: null | { from: string; to: string; reason: string };
}

export interface AnswerResult {
  answer: string;
  strategy: string;
  extractive?: boolean;
  citations?: Citation[];
  calls?: LlmCall[];
  totals?: { promptTokens: number; completionTokens: number; calls: number; latencyMs: number };
  fullContextTokens?: number;
  contextTokens?: number;
  notes?: string[];
  truncated?: null | boolean | { keptTokens: number; droppedTokens: number; droppedShare: number };
  decision?: Decision;
}

export interface ProgressEvent {
  type?: 'progress';
  stage: 'retrieve' | 'read' | 'segment' | 'manager' | string;
  index?: number;
  total?: number;
  note?: string;
}
