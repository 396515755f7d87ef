import { cl100k } from '../../src/core/tokenizer.js';
import { middleTruncate } from '../../src/core/strategies/budget.js';
import type { AnswerResult, StrategyName } from '../../src/core/strategies/types.js';
import { answerSupport, contentWords, evidenceCoverage, type Span } from '../lara/evidence.js';
import type { QuestionEvidence } from './dataset.js';
import type { ResultRow, StrategyKey } from './types.js';

/**
 * The spans of the document the reader was given. Retrieval: the assembled
 * passages. Full context: the whole text, or its head and tail when the
 * window forced middle truncation (reconstructed from the kept token count
 * with the same middleTruncate the strategy uses). Chain-of-Agents: the whole
 * text, since its workers read every segment.
 */
export function spansRead(
  chosen: StrategyName,
  docText: string,
  passages: ReadonlyArray<{ start: number; end: number }> | null,
  truncated: AnswerResult['truncated'],
  documentTokens?: number,
): Span[] {
  if (chosen === 'rag') return (passages ?? []).map((p) => ({ start: p.start, end: p.end }));
  if (chosen === 'full' && truncated) {
    const ht = middleTruncate(
      docText,
      truncated.keptTokens,
      (t) => cl100k.count(t),
      documentTokens ?? truncated.keptTokens + truncated.droppedTokens,
    );
    return [ht.head, ...(ht.tail ? [ht.tail] : [])];
  }
  return [{ start: 0, end: docText.length }];
}

/** Evidence coverage and answer support of what was read (eval/lara/evidence.ts). */
export function readingMetrics(
  spans: readonly Span[],
  docText: string,
  groundTruth: string,
  evidence: QuestionEvidence,
  docWords?: Set<string>,
): { evidenceCoverage: number; answerSupport: number | null } {
  const selected = spans.map((s) => docText.slice(s.start, s.end)).join('\n');
  return {
    evidenceCoverage: evidenceCoverage(spans, evidence.gold, evidence.segments),
    answerSupport: answerSupport(groundTruth, docWords ?? contentWords(docText), selected),
  };
}

/** Aggregates over a set of rows. Means skip nothing except `answerSupport` nulls and `k` of whole-text answers. */
export interface Cell {
  n: number;
  correct: number;
  /** correct / n. */
  accuracy: number;
  evidenceCoverage: number;
  answerSupport: number | null;
  /** Rows with a support value. */
  supportN: number;
  tokensRead: number;
  tokenRatio: number;
  promptTokens: number;
  llmCalls: number;
  /** Mean chunks read over rows answered by retrieval; null when none was. */
  k: number | null;
  /** How many rows each reading strategy answered (auto: the router's mix). */
  chosen: Record<StrategyName, number>;
}

const mean = (xs: readonly number[]): number =>
  xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;

export function cell(rows: readonly ResultRow[]): Cell {
  const supports = rows.flatMap((r) => (r.answerSupport === null ? [] : [r.answerSupport]));
  const ks = rows.flatMap((r) => (r.k === null ? [] : [r.k]));
  const correct = rows.filter((r) => r.verdict.correct).length;
  return {
    n: rows.length,
    correct,
    accuracy: rows.length === 0 ? Number.NaN : correct / rows.length,
    evidenceCoverage: mean(rows.map((r) => r.evidenceCoverage)),
    answerSupport: supports.length === 0 ? null : mean(supports),
    supportN: supports.length,
    tokensRead: mean(rows.map((r) => r.tokensRead)),
    tokenRatio: mean(rows.map((r) => r.tokenRatio)),
    promptTokens: mean(rows.map((r) => r.promptTokens)),
    llmCalls: mean(rows.map((r) => r.llmCalls)),
    k: ks.length === 0 ? null : mean(ks),
    chosen: {
      rag: rows.filter((r) => r.chosen === 'rag').length,
      coa: rows.filter((r) => r.chosen === 'coa').length,
      full: rows.filter((r) => r.chosen === 'full').length,
    },
  };
}

export interface StrategySummary {
  strategy: StrategyKey;
  label: string;
  overall: Cell;
  /** LaRA's overall: the mean of the per-task accuracies. */
  macroAccuracy: number;
  byTask: Record<string, Cell>;
  byLength: Record<string, Cell>;
  /** Keys `${task}@${length}`. */
  byTaskLength: Record<string, Cell>;
}

function groupBy<T>(xs: readonly T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    const list = m.get(k);
    if (list) list.push(x);
    else m.set(k, [x]);
  }
  return m;
}

/** Task order of the LaRA paper first, then any other task alphabetically. */
export function sortTasks(tasks: Iterable<string>): string[] {
  const known = ['location', 'reasoning', 'comp', 'hallu'];
  return [...new Set(tasks)].sort((a, b) => {
    const ia = known.indexOf(a);
    const ib = known.indexOf(b);
    if (ia !== -1 || ib !== -1) return (ia === -1 ? 99 : ia) - (ib === -1 ? 99 : ib);
    return a < b ? -1 : a > b ? 1 : 0;
  });
}

/** Per strategy: overall, per task, per length and per task × length. Deterministic: depends only on the rows. */
export function summarise(
  rows: readonly ResultRow[],
  strategies: ReadonlyArray<{ key: StrategyKey; label: string }>,
): StrategySummary[] {
  return strategies.map(({ key, label }) => {
    const rs = rows.filter((r) => r.strategy === key);
    const byTask = groupBy(rs, (r) => r.task);
    const tasks = sortTasks(byTask.keys());
    const taskCells = Object.fromEntries(tasks.map((t) => [t, cell(byTask.get(t)!)]));
    const lengths = [...groupBy(rs, (r) => r.length).keys()].sort((a, b) => parseFloat(a) - parseFloat(b));
    return {
      strategy: key,
      label,
      overall: cell(rs),
      macroAccuracy: mean(tasks.map((t) => taskCells[t]!.accuracy)),
      byTask: taskCells,
      byLength: Object.fromEntries(lengths.map((l) => [l, cell(rs.filter((r) => r.length === l))])),
      byTaskLength: Object.fromEntries(
        tasks
          .flatMap((t) =>
            lengths.map((l) => [`${t}@${l}`, cell(rs.filter((r) => r.task === t && r.length === l))] as const),
          )
          .filter(([, c]) => c.n > 0),
      ),
    };
  });
}

/** Wall-clock figures per strategy: reported, never part of the deterministic numbers. */
export interface LatencySummary {
  strategy: StrategyKey;
  n: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  retrieveMs: number | null;
  readerMs: number;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export function latencySummary(rows: readonly ResultRow[], strategies: readonly StrategyKey[]): LatencySummary[] {
  return strategies.map((s) => {
    const rs = rows.filter((r) => r.strategy === s);
    const totals = rs.map((r) => r.latency.totalMs).sort((a, b) => a - b);
    const retrieves = rs.flatMap((r) => (r.latency.retrieveMs === null ? [] : [r.latency.retrieveMs]));
    return {
      strategy: s,
      n: rs.length,
      meanMs: mean(totals),
      p50Ms: quantile(totals, 0.5),
      p90Ms: quantile(totals, 0.9),
      retrieveMs: retrieves.length === 0 ? null : mean(retrieves),
      readerMs: mean(rs.map((r) => r.latency.answerMs + r.latency.coaWorkersMs + r.latency.coaManagerMs)),
    };
  });
}
