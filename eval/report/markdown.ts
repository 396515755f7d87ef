import type { Cell, LatencySummary } from '../harness/metrics.js';
import type { ReplayRow } from '../replay/summary.js';
import type { EvalSummary } from '../harness/eval-summary.js';
import type { CalibrationReport } from './calibration.js';

export const pct = (x: number | null | undefined): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '–' : `${(100 * x).toFixed(1)}%`;
export const num = (x: number | null | undefined, digits = 1): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);
export const ktok = (x: number | null | undefined): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '–' : x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0);
export const dur = (ms: number | null | undefined): string => {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 120) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return m < 120 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
};

function mix(c: Cell): string {
  return (['rag', 'full', 'coa'] as const)
    .filter((s) => c.chosen[s] > 0)
    .map((s) => `${s} ${c.chosen[s]}`)
    .join(', ');
}

/** A markdown table. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

export const CELL_HEADER = [
  'n',
  'accuracy',
  'evidence coverage',
  'answer support',
  'tokens read',
  'share read',
  'LLM calls',
  'k',
];

export function cellColumns(c: Cell): string[] {
  return [
    String(c.n),
    pct(c.accuracy),
    pct(c.evidenceCoverage),
    pct(c.answerSupport),
    ktok(c.tokensRead),
    pct(c.tokenRatio),
    num(c.llmCalls),
    num(c.k),
  ];
}

/** Percentage points, signed. */
export const points = (x: number | null | undefined): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '–' : `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(1)}`;

export const LATENCY_HEADER = ['strategy', 'n', 'mean', 'p50', 'p90', 'retrieval', 'reader'];

export function latencyColumns(l: LatencySummary): string[] {
  return [l.strategy, String(l.n), dur(l.meanMs), dur(l.p50Ms), dur(l.p90Ms), dur(l.retrieveMs), dur(l.readerMs)];
}

export const REPLAY_HEADER = [
  'group',
  'n',
  'always RAG',
  'always full',
  'rules alone',
  'routed',
  'routed − best fixed',
  'oracle',
  'by retrieval',
  'tokens RAG',
  'tokens full',
  'tokens routed',
];

export function replayColumns(r: ReplayRow): string[] {
  return [
    r.group,
    String(r.n),
    pct(r.alwaysRag),
    pct(r.alwaysFull),
    pct(r.policy),
    pct(r.routed),
    points(r.routed - Math.max(r.alwaysRag, r.alwaysFull)),
    pct(r.oracle),
    pct(r.ragShare),
    ktok(r.tokensRag),
    ktok(r.tokensFull),
    ktok(r.tokensRouted),
  ];
}

/** What the replay columns are, in words (shared by both reports). */
export function replayNote(approximateJudge: boolean): string {
  return (
    "The service's own plan (src/core/routing/plan.ts) routes each question as for a generative reader with a 128k window; the model's recorded answers stand in for the reader: " +
    "the recorded RAG answer for every retrieval read (the probe's first answer included), the recorded whole-text answer for full context and Chain-of-Agents. " +
    "Rules alone: the policy without an escalation (what the extractive reader's auto does). Routed: strategy auto with this config (by default the retrieval probe). " +
    'Oracle: the better of the two recorded answers. Tokens: document tokens read per question (both reads when escalated). These settings are replayed as configured, in-sample; ' +
    '`npm run replay` cross-validates them.' +
    (approximateJudge
      ? ' Accuracies by the approximate lexical judge: compare the columns with each other, not with LLM-judged numbers.'
      : '')
  );
}

export function judgeNote(s: EvalSummary): string {
  return s.judge.approximate
    ? `Judge: **${s.judge.name}** — an APPROXIMATE lexical judge standing in for LaRA's LLM judge; read its accuracies as comparisons between strategies on the same questions, not as LLM-judged accuracy.`
    : `Judge: **${s.judge.name}** (LaRA's rules: True/False; hallucination questions are right only when the answer recognises the information is missing).`;
}

/** report.md: the same numbers as summary.json, as tables. */
export function markdownReport(s: EvalSummary, calibration?: CalibrationReport): string {
  const out: string[] = [];
  out.push(`# Evaluation report`, '');
  out.push(
    `Dataset \`${s.dataset}\`; seed ${s.seed}${s.limit !== null ? `, limit ${s.limit}` : ''}${Object.keys(s.filters).length ? `, filters ${JSON.stringify(s.filters)}` : ''}.`,
  );
  out.push(`Reader \`${s.backend.reader}\` (${s.backend.mode}), embedder \`${s.backend.embedder}\`.`);
  out.push(judgeNote(s), '');
  out.push(
    `Questions: ${s.questions.selected} selected of ${s.questions.available} usable, ${s.questions.answered} with at least one answer. ` +
      `Pairs (question × strategy): ${s.pairs.answered}/${s.pairs.expected} answered, ${s.pairs.failed} failed. ` +
      `Broken dataset lines (never counted as answered): ${s.broken.count}.${s.interrupted ? ' **The run was interrupted; re-run to finish it.**' : ''}`,
  );
  out.push(
    `Wall time of this run: ${dur(s.timing.wallMs)} for ${s.timing.pairsRun} pairs over ${s.timing.questionsRun} questions ` +
      `(${dur(s.timing.msPerQuestion)} per question, ${dur(s.timing.msPerPair)} per pair).`,
    '',
  );

  out.push('## Per strategy', '');
  out.push(
    table(
      ['strategy', ...CELL_HEADER, 'LaRA overall (mean of tasks)', 'chosen'],
      s.results.map((r) => [
        `${r.strategy} (${r.label})`,
        ...cellColumns(r.overall),
        pct(r.macroAccuracy),
        mix(r.overall),
      ]),
    ),
    '',
  );
  out.push(
    "Evidence coverage: the share of questions whose evidence segment(s) the text read touches (whole-document questions: the share of segments touched). Answer support: the share of the ground truth's content words, among those in the document, that the text read contains. Tokens read: document tokens given to the reader (all segments for Chain-of-Agents).",
    '',
  );

  const tasks = [...new Set(s.results.flatMap((r) => Object.keys(r.byTask)))];
  out.push('## Per task', '');
  for (const t of tasks) {
    out.push(`### ${t}`, '');
    out.push(
      table(
        ['strategy', ...CELL_HEADER, 'chosen'],
        s.results.filter((r) => r.byTask[t]).map((r) => [r.strategy, ...cellColumns(r.byTask[t]!), mix(r.byTask[t]!)]),
      ),
      '',
    );
  }
  const lengths = [...new Set(s.results.flatMap((r) => Object.keys(r.byLength)))];
  if (lengths.length > 1) {
    out.push('## Per length', '');
    for (const l of lengths) {
      out.push(`### ${l}`, '');
      out.push(
        table(
          ['strategy', ...CELL_HEADER],
          s.results.filter((r) => r.byLength[l]).map((r) => [r.strategy, ...cellColumns(r.byLength[l]!)]),
        ),
        '',
      );
    }
  }

  if (s.replay.length > 0) {
    out.push('## Recorded-answer replay', '', replayNote(s.judge.approximate), '');
    for (const m of s.replay) {
      out.push(
        `### ${m.model} (${m.questions} questions with both answers${m.missing ? `, ${m.missing} without` : ''}; judge ${m.judge})`,
        '',
      );
      out.push(table(REPLAY_HEADER, m.rows.map(replayColumns)), '');
    }
  }

  if (calibration) out.push(calibrationMarkdown(calibration), '');

  out.push('## Latency (wall clock, varies between runs)', '');
  out.push(table(LATENCY_HEADER, s.timing.latency.map(latencyColumns)), '');

  if (s.broken.count > 0) {
    out.push(`## Broken dataset lines (${s.broken.count})`, '');
    for (const b of s.broken.items.slice(0, 100)) out.push(`- \`${b.file}:${b.line}\`: ${b.message}`);
    if (s.broken.count > 100) out.push(`- ... ${s.broken.count - 100} more in summary.json`);
    out.push('');
  }
  if (s.predictionErrors.count > 0) {
    out.push(
      `## Unreadable prediction lines of the replayed models (${s.predictionErrors.count}; those questions count as without a recorded answer)`,
      '',
    );
    for (const b of s.predictionErrors.items.slice(0, 50)) out.push(`- \`${b.file}:${b.line}\`: ${b.message}`);
    out.push('');
  }
  if (s.failures.count > 0) {
    out.push(`## Failed answers (${s.failures.count}; retried on the next run)`, '');
    for (const f of s.failures.items.slice(0, 100))
      out.push(`- \`${f.questionId}\` (${f.strategy}): ${f.code}: ${f.message}`);
    out.push('');
  }
  return `${out.join('\n')}\n`;
}

export function calibrationMarkdown(c: CalibrationReport): string {
  const out: string[] = [];
  out.push(`## Judge calibration (${c.judge})`, '');
  out.push(c.note, '');
  out.push(
    table(
      ['model', 'length', 'task', 'full', 'RAG', 'gap (full − RAG)', 'published gap', 'same sign'],
      c.cells.map((x) => [
        x.model,
        x.length,
        x.task,
        pct(x.full),
        pct(x.rag),
        num(x.gap * 100),
        x.published === null ? '–' : num(x.published),
        x.published === null ? '–' : x.sameSign ? 'yes' : 'no',
      ]),
    ),
    '',
  );
  const a = c.agreement;
  out.push(
    `Agreement over ${a.n} published gaps: sign agreement ${a.n ? `${a.signAgree}/${a.n} (${pct(a.signAgree / a.n)})` : '–'}, ` +
      `Pearson correlation ${num(a.pearson, 2)}, mean absolute difference ${num(a.meanAbsDiff)} points.`,
  );
  return out.join('\n');
}
