/**
 * The shapes of the API responses the playground reads, derived from the
 * service's own response schemas (src/http/views.ts, the ones the OpenAPI
 * document shows and a test checks real responses against), so the page and
 * the API cannot drift apart. Only the server-sent events' own shapes are
 * written here.
 */
import type * as V from '../../src/http/views.js';

export interface ErrorBody {
  error: { code: string; message: string };
  requestId?: string;
}

export type DocumentView = V.DocumentView;
export type Submitted = V.Submitted;
export type JobView = V.JobView;
export type CurvePoint = V.CurvePoint;
export type SelectedChunk = V.SelectedChunk;
export type AdaptiveKView = V.AdaptiveKView;
export type ScopeDocument = V.ScopeDocument;
export type LibraryView = V.LibraryView;
export type RetrieveResult = V.RetrieveResult;
export type Citation = V.Citation;
export type LlmCall = V.LlmCall;
/** The router's cost estimate of one strategy (`segments` for Chain-of-Agents). */
export type StrategyEstimate = V.StrategyEstimate & { segments?: number };
export type Decision = V.QueryDecision;
/** POST /v1/answer's result; POST /v1/query's adds the decision. */
export type AnswerResult = V.AnswerResult & { decision?: V.QueryDecision };

/** A `progress` event of the answer streams (src/core/strategies/types.ts AnswerEvent). */
export interface ProgressEvent {
  type?: 'progress';
  stage: 'retrieve' | 'read' | 'segment' | 'manager' | string;
  index?: number;
  total?: number;
  note?: string;
}
