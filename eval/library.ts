import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SelectionMethod } from '../src/core/retrieval/select.js';
import { evidenceCoverage } from './lara/evidence.js';
import { documentPath, selectQuestions, type SelectionFilters } from './harness/dataset.js';
import type { Backend } from './harness/backend.js';
import { Vocabularies } from './harness/identifiable.js';
import type { Progress } from './harness/progress.js';

/**
 * The library evaluation (`npm run eval -- --library`): every document of the
 * dataset in ONE namespace, each question asked without document ids, so the
 * service must find the document before it selects the passages. Per
 * question: doc@1 (the first document picked is the question's), evidence
 * coverage (eval/lara/evidence.ts, counted on the passages of the question's
 * document), tokens read (the assembled passages) and the latency of the
 * call. A sample of questions is also asked through /v1/query (strategy auto)
 * for its latency and what its reader read.
 */

export interface LibraryEvalOptions {
  dataset: string;
  filters: SelectionFilters;
  /** Questions, spread over the (length, type, task) groups; all by default. Every document is ingested whatever the limit. */
  limit?: number;
  seed: number;
  backend: Backend;
  selection: SelectionMethod;
  /** Questions (of those retrieved) also asked through /v1/query. Default 0. */
  queries?: number;
  out: string;
  progress: Progress;
  signal?: AbortSignal;
}

export interface LibraryRow {
  id: string;
  task: string;
  length: string;
  type: string;
  document: string;
  /** First picked document. */
  first: string | null;
  picked: number;
  docAt1: 0 | 1;
  /** The question's document among those picked. */
  inPicked: 0 | 1;
  coverage: number;
  tokens: number;
  ms: number;
  fallback: string | null;
  /** No other document holds every question term its own document holds (./harness/identifiable.ts). */
  identifiable: boolean;
  /** The service's own verdict, with no gold: its terms single out the first picked document (library.distinction). */
  singledOut: boolean;
  query?: { ms: number; strategy: string; docAt1: 0 | 1; contextTokens: number };
}

export interface LibraryAggregate {
  n: number;
  docAt1: number;
  inPicked: number;
  coverage: number;
  tokens: number;
  tokensP90: number;
  picked: number;
  p50Ms: number;
  p95Ms: number;
}

export interface LibrarySummary {
  questions: number;
  documents: number;
  overall: LibraryAggregate;
  byTask: Record<string, LibraryAggregate>;
  byLengthType: Record<string, LibraryAggregate>;
  /** Questions identifiable by their terms, and those another document holds every term of. */
  byIdentifiable: Record<string, LibraryAggregate>;
  /** The same split as the service makes it without the gold document (library.distinction.singledOut). */
  bySingledOut: Record<string, LibraryAggregate>;
  query: null | {
    n: number;
    docAt1: number;
    p50Ms: number;
    p95Ms: number;
    contextTokens: number;
    strategies: Record<string, number>;
  };
  fallbacks: number;
}

/** The q-quantile (nearest rank) of `xs`; NaN when empty. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

const mean = (xs: readonly number[]): number =>
  xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;

export function aggregate(rows: readonly LibraryRow[]): LibraryAggregate {
  return {
    n: rows.length,
    docAt1: mean(rows.map((r) => r.docAt1)),
    inPicked: mean(rows.map((r) => r.inPicked)),
    coverage: mean(rows.map((r) => r.coverage)),
    tokens: mean(rows.map((r) => r.tokens)),
    tokensP90: quantile(
      rows.map((r) => r.tokens),
      0.9,
    ),
    picked: mean(rows.map((r) => r.picked)),
    p50Ms: quantile(
      rows.map((r) => r.ms),
      0.5,
    ),
    p95Ms: quantile(
      rows.map((r) => r.ms),
      0.95,
    ),
  };
}

export function summarize(rows: readonly LibraryRow[], documents: number): LibrarySummary {
  const group = (key: (r: LibraryRow) => string) => {
    const m = new Map<string, LibraryRow[]>();
    for (const r of rows) m.set(key(r), [...(m.get(key(r)) ?? []), r]);
    return Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, rs]) => [k, aggregate(rs)]));
  };
  const asked = rows.flatMap((r) => (r.query ? [r.query] : []));
  const strategies: Record<string, number> = {};
  for (const q of asked) strategies[q.strategy] = (strategies[q.strategy] ?? 0) + 1;
  return {
    questions: rows.length,
    documents,
    overall: aggregate(rows),
    byTask: group((r) => r.task),
    byLengthType: group((r) => `${r.length} ${r.type}`),
    byIdentifiable: group((r) =>
      r.identifiable ? 'identifiable by its terms' : 'another document holds all its terms',
    ),
    bySingledOut: group((r) =>
      r.singledOut ? 'service: its terms single out a document' : 'service: its terms do not single one out',
    ),
    query:
      asked.length === 0
        ? null
        : {
            n: asked.length,
            docAt1: mean(asked.map((q) => q.docAt1)),
            p50Ms: quantile(
              asked.map((q) => q.ms),
              0.5,
            ),
            p95Ms: quantile(
              asked.map((q) => q.ms),
              0.95,
            ),
            contextTokens: mean(asked.map((q) => q.contextTokens)),
            strategies,
          },
    fallbacks: rows.filter((r) => r.fallback !== null).length,
  };
}

export function libraryMarkdown(s: LibrarySummary): string {
  const f = (x: number) => (Number.isNaN(x) ? '–' : x.toFixed(3));
  const k = (x: number) => (Number.isNaN(x) ? '–' : `${(x / 1000).toFixed(1)}k`);
  const ms = (x: number) => (Number.isNaN(x) ? '–' : `${Math.round(x)} ms`);
  const row = (name: string, a: LibraryAggregate) =>
    `| ${name} | ${a.n} | ${f(a.docAt1)} | ${f(a.inPicked)} | ${f(a.coverage)} | ${k(a.tokens)} | ${k(a.tokensP90)} | ${a.picked.toFixed(2)} | ${ms(a.p50Ms)} | ${ms(a.p95Ms)} |`;
  const head =
    '| | questions | doc@1 | doc picked | evidence coverage | tokens read | p90 tokens | documents read | p50 latency | p95 latency |\n|---|---|---|---|---|---|---|---|---|---|';
  const lines = [
    `${s.questions} questions over ${s.documents} documents in one namespace, asked without document ids` +
      (s.fallbacks > 0 ? ` (${s.fallbacks} answered by a fallback: see results.jsonl)` : ''),
    '',
    head,
    ...Object.entries(s.byTask).map(([t, a]) => row(t, a)),
    row('**all**', s.overall),
    '',
    head,
    ...Object.entries(s.byLengthType).map(([t, a]) => row(t, a)),
    '',
    head,
    ...Object.entries(s.byIdentifiable).map(([t, a]) => row(t, a)),
    ...Object.entries(s.bySingledOut).map(([t, a]) => row(t, a)),
  ];
  if (s.query) {
    lines.push(
      '',
      `/v1/query (strategy auto) on ${s.query.n} of them: doc@1 ${f(s.query.docAt1)}, latency p50 ${ms(s.query.p50Ms)} / p95 ${ms(s.query.p95Ms)}, ` +
        `document tokens the reader read ${k(s.query.contextTokens)}, strategies ${Object.entries(s.query.strategies)
          .map(([n, c]) => `${n} ${c}`)
          .join(', ')}`,
    );
  }
  return lines.join('\n');
}

/** Runs the library evaluation; writes results.jsonl, summary.json and report.md to `out`. */
export async function runLibraryEval(o: LibraryEvalOptions): Promise<LibrarySummary> {
  const all = selectQuestions(o.dataset, o.filters, o.seed);
  const sel = o.limit === undefined ? all : selectQuestions(o.dataset, o.filters, o.seed, o.limit);
  const docs = new Map<string, { id: string; title: string; text: string }>();
  for (const q of all.questions) {
    if (!docs.has(q.documentId))
      docs.set(q.documentId, {
        id: q.documentId,
        title: q.file,
        text: all.dataset.documentText({ docPath: documentPath(o.dataset, q) }),
      });
  }
  await o.backend.ensureDocuments([...docs.values()], o.progress);
  const vocabularies = new Vocabularies([...docs.values()].map((d) => [d.id, d.text] as const));

  mkdirSync(o.out, { recursive: true });
  const results = join(o.out, 'results.jsonl');
  writeFileSync(results, '');
  const asked = o.queries ?? 0;
  // Spread the /v1/query sample over the run: every n-th question.
  const every = asked > 0 ? Math.max(1, Math.floor(sel.questions.length / asked)) : Infinity;
  const rows: LibraryRow[] = [];
  o.progress.start('library', sel.questions.length);
  for (const [i, q] of sel.questions.entries()) {
    if (o.signal?.aborted) break;
    const ev = sel.evidence.get(q.id)!;
    const t0 = performance.now();
    const r = await o.backend.retrieve(null, q.question, o.selection);
    const ms = performance.now() - t0;
    const picked = r.library?.picked.map((d) => d.id) ?? r.scope.documents.map((d) => d.id);
    const row: LibraryRow = {
      id: q.id,
      task: q.task,
      length: q.length,
      type: q.type,
      document: q.documentId,
      first: picked[0] ?? null,
      picked: picked.length,
      docAt1: picked[0] === q.documentId ? 1 : 0,
      inPicked: picked.includes(q.documentId) ? 1 : 0,
      coverage: evidenceCoverage(
        r.passages.filter((p) => p.documentId === q.documentId),
        ev.gold,
        ev.segments,
      ),
      tokens: r.tokens.selected,
      ms,
      fallback: r.library?.fallback ?? null,
      identifiable: vocabularies.identifiable(q.question, q.documentId),
      singledOut: r.library?.distinction.singledOut ?? false,
    };
    if (i % every === 0 && rows.filter((x) => x.query).length < asked) {
      const t1 = performance.now();
      const a = await o.backend.query(null, q.question, o.selection, o.signal);
      row.query = {
        ms: performance.now() - t1,
        strategy: a.strategy,
        docAt1: a.decision.documents?.picked[0] === q.documentId ? 1 : 0,
        contextTokens: a.contextTokens,
      };
    }
    rows.push(row);
    appendFileSync(results, `${JSON.stringify(row)}\n`);
    o.progress.tick(q.task);
  }
  o.progress.stop();
  const summary = summarize(rows, docs.size);
  writeFileSync(join(o.out, 'summary.json'), `${JSON.stringify(summary, null, 1)}\n`);
  writeFileSync(join(o.out, 'report.md'), `${libraryMarkdown(summary)}\n`);
  return summary;
}
