import { randomUUID } from 'node:crypto';
import { AppError, isAppError } from '../../errors.js';
import type { JobContext } from '../../ports/job-queue.js';
import type { ScoreKind } from '../retrieval/defaults.js';
import type { SelectionMethod } from '../retrieval/select.js';
import type { Budgets } from './policy.js';
import type { LlmChoice, QueryResult, QueryService, RequestedStrategy } from './query-service.js';

/** Name of the job that answers a large batch of questions in the background. */
export const QUERY_BATCH_JOB = 'query-batch';

export interface BatchQuestion {
  id: string;
  question: string;
}

/** Everything a batch needs, JSON only: it travels through Redis. */
export interface QueryBatchJobData {
  /** GET /v1/jobs/:id shows the job only to this namespace. */
  namespace: string;
  documentIds: string[] | null;
  questions: BatchQuestion[];
  strategy: RequestedStrategy;
  budgets: Budgets;
  selection: SelectionMethod;
  score: ScoreKind;
  hybridAlpha: number;
  llm: LlmChoice | null;
  selfRoute: boolean | null;
  /** Absent in jobs queued before the probe existed: the configured default. */
  probe?: boolean | null;
  /** Absent in jobs queued before the preference existed: the configured default. */
  preference?: number | null;
}

/** One question's outcome: its result, or the error it got (the others still run). */
export type BatchItem =
  | { id: string; question: string; ok: true; result: QueryResult }
  | { id: string; question: string; ok: false; error: { code: string; message: string } };

export interface BatchResult {
  items: BatchItem[];
  summary: {
    questions: number;
    answered: number;
    failed: number;
    strategies: Record<string, number>;
    escalated: number;
    promptTokens: number;
  };
}

/** A job id for a batch: batches are not deduplicated (the documents may have changed since). No ':' (BullMQ reserves it). */
export function batchJobId(): string {
  return `query-batch_${randomUUID()}`;
}

/** Ids for questions given without one: their position, 1-based. */
export function normaliseQuestions(
  questions: ReadonlyArray<string | { id?: string; question: string }>,
): BatchQuestion[] {
  const out = questions.map((q, i) =>
    typeof q === 'string' ? { id: String(i + 1), question: q } : { id: q.id ?? String(i + 1), question: q.question },
  );
  const seen = new Set<string>();
  for (const q of out) {
    if (seen.has(q.id)) throw new AppError('VALIDATION', [`question id ${JSON.stringify(q.id)} appears twice`]);
    seen.add(q.id);
  }
  return out;
}

/**
 * Answers the questions one after another (the reader is the bottleneck;
 * MAX_CONCURRENT_LLM_CALLS governs parallelism across requests). A question
 * that fails is reported with its error; cancellation stops the batch.
 */
export async function runBatch(
  service: QueryService,
  data: QueryBatchJobData,
  opts: { signal?: AbortSignal; onProgress?: (done: number, total: number) => Promise<void> | void } = {},
): Promise<BatchResult> {
  const chosen = service.chooseLlm(data.llm ?? undefined);
  const items: BatchItem[] = [];
  try {
    for (const q of data.questions) {
      if (opts.signal?.aborted) throw new AppError('CANCELLED');
      try {
        const result = await service.query({
          namespace: data.namespace,
          question: q.question,
          documentIds: data.documentIds,
          strategy: data.strategy,
          budgets: data.budgets,
          selection: data.selection,
          score: data.score,
          hybridAlpha: data.hybridAlpha,
          llm: chosen.llm,
          ...(data.selfRoute !== null ? { selfRoute: data.selfRoute } : {}),
          ...(data.probe !== null && data.probe !== undefined ? { probe: data.probe } : {}),
          ...(data.preference !== null && data.preference !== undefined ? { preference: data.preference } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
        items.push({ id: q.id, question: q.question, ok: true, result });
      } catch (err) {
        // Once the batch is stopped, whatever the question ended with (CANCELLED, or what an aborted call turned into) stops it too.
        if (opts.signal?.aborted || (isAppError(err) && err.code === 'CANCELLED')) throw err;
        // Upstream outages fail the whole job so the queue can retry it; per-question problems stay per question.
        if (isAppError(err) && err.transient) throw err;
        const e = isAppError(err) ? err.toJSON() : { code: 'INTERNAL', message: 'Internal error' };
        items.push({ id: q.id, question: q.question, ok: false, error: { code: e.code, message: e.message } });
      }
      await opts.onProgress?.(items.length, data.questions.length);
    }
  } finally {
    await chosen.release();
  }
  const strategies: Record<string, number> = {};
  let escalated = 0;
  let promptTokens = 0;
  for (const it of items) {
    if (!it.ok) continue;
    strategies[it.result.decision.strategy] = (strategies[it.result.decision.strategy] ?? 0) + 1;
    if (it.result.decision.escalated) {
      escalated++;
      promptTokens += it.result.decision.escalated.firstAttempt.totals.promptTokens;
    }
    promptTokens += it.result.totals.promptTokens;
  }
  const answered = items.filter((i) => i.ok).length;
  return {
    items,
    summary: {
      questions: items.length,
      answered,
      failed: items.length - answered,
      strategies,
      escalated,
      promptTokens,
    },
  };
}

/**
 * The queue processor of QUERY_BATCH_JOB. A batch stopped by its job's signal
 * (a shutdown stopping the worker) is run again: the queue runners take any
 * failure after a job's signal fired for a transient CANCELLED.
 * Re-running loses nothing: a batch stores nothing until its result, and the
 * next run answers every question afresh.
 */
export function queryBatchProcessor(
  service: QueryService,
): (job: JobContext<QueryBatchJobData>) => Promise<BatchResult> {
  return (job) =>
    runBatch(service, job.data, {
      signal: job.signal,
      onProgress: (done, total) => job.updateProgress(Math.floor((100 * done) / total)),
    });
}
