import type { Cell, StrategySummary } from '../harness/metrics.js';
import type { EvalSummary } from '../harness/eval-summary.js';
import type { ResultRow } from '../harness/types.js';
import {
  CELL_HEADER,
  cellColumns,
  dur,
  LATENCY_HEADER,
  latencyColumns,
  pct,
  REPLAY_HEADER,
  replayColumns,
  replayNote,
} from './markdown.js';
import { barChart, curveChart, esc, PALETTE, scatterChart, type ScatterSeries } from './svg.js';

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px auto;max-width:1320px;padding:0 16px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0 16px}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}th:first-child,td:first-child{text-align:left}
th{background:#f4f4f4}.note{color:#555;max-width:980px}.warn{color:#a33}
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts svg{border:1px solid #eee;background:#fff}
svg .ct{font-size:13px;font-weight:600}svg .tick{font-size:10px;fill:#555}svg .axis{font-size:11px;fill:#333}svg .legend{font-size:10px}
svg .grid{stroke:#eee}svg .frame{fill:none;stroke:#999}svg .cut{stroke:#D55E00;stroke-width:2;stroke-dasharray:4 3}svg .readzone{fill:#0072B2;fill-opacity:0.08}
`;

function htmlTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  return `<table><thead><tr>${header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

function series(
  results: readonly StrategySummary[],
  pick: (r: StrategySummary) => Cell | undefined,
  metric: 'accuracy' | 'evidenceCoverage',
): ScatterSeries[] {
  return results.flatMap((r, i) => {
    const c = pick(r);
    if (!c || c.n === 0) return [];
    return [
      {
        name: r.strategy,
        color: PALETTE[i % PALETTE.length]!,
        points: [{ x: c.tokensRead, y: c[metric], label: `n=${c.n}` }],
      },
    ];
  });
}

/** report.html: tables and inline SVG charts in one file, no scripts, no external resources. */
export function htmlReport(s: EvalSummary, rows: readonly ResultRow[]): string {
  const tasks = [...new Set(s.results.flatMap((r) => Object.keys(r.byTask)))];
  const b = [
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Evaluation report</title><style>${CSS}</style></head><body>`,
    ...overview(s),
    ...tradeOffCharts(s, tasks),
    ...strategyTables(s, tasks),
    ...scoreCurves(rows),
    ...replaySection(s),
    ...runProblems(s),
    '</body></html>',
  ];
  return `${b.join('\n')}\n`;
}

/** The title and what was run: dataset, reader, judge, counts, wall time. */
function overview(s: EvalSummary): string[] {
  return [
    '<h1>Evaluation report</h1>',
    `<p>Dataset <code>${esc(s.dataset)}</code>; seed ${s.seed}${s.limit !== null ? `, limit ${s.limit}` : ''}. Reader <code>${esc(s.backend.reader)}</code> (${s.backend.mode}), embedder <code>${esc(s.backend.embedder)}</code>.</p>`,
    s.judge.approximate
      ? `<p class="warn">Judge: <b>${esc(s.judge.name)}</b>, an APPROXIMATE lexical judge standing in for LaRA's LLM judge: compare strategies with it, do not read its accuracies as LLM-judged ones.</p>`
      : `<p>Judge: <b>${esc(s.judge.name)}</b> with LaRA's rules.</p>`,
    `<p>Questions: ${s.questions.selected} selected of ${s.questions.available}, ${s.questions.answered} answered. Pairs: ${s.pairs.answered}/${s.pairs.expected} answered, ${s.pairs.failed} failed. Broken dataset lines: ${s.broken.count}. ` +
      `Wall time ${dur(s.timing.wallMs)} (${dur(s.timing.msPerQuestion)} per question).${s.interrupted ? ' <b class="warn">Interrupted: re-run to finish.</b>' : ''}</p>`,
  ];
}

/** Accuracy and evidence coverage against tokens read: over all tasks, then per task. */
function tradeOffCharts(s: EvalSummary, tasks: readonly string[]): string[] {
  const pair = (id: string, of: string, pick: (r: StrategySummary) => Cell | undefined) => [
    scatterChart({
      id: `accuracy-vs-tokens${id}`,
      title: `Accuracy vs tokens read${of}`,
      xLabel: 'tokens read (mean)',
      yLabel: 'accuracy',
      xLog: true,
      series: series(s.results, pick, 'accuracy'),
    }),
    scatterChart({
      id: `coverage-vs-tokens${id}`,
      title: `Evidence coverage vs tokens read${of}`,
      xLabel: 'tokens read (mean)',
      yLabel: 'evidence coverage',
      xLog: true,
      series: series(s.results, pick, 'evidenceCoverage'),
    }),
  ];
  return [
    '<h2>Accuracy and evidence coverage against tokens read</h2>',
    '<p class="note">One point per strategy: mean document tokens given to the reader (log scale) against judged accuracy and evidence coverage.</p>',
    '<div class="charts">',
    ...pair('', ' (all tasks)', (r) => r.overall),
    '</div>',
    '<h3>Per task</h3><div class="charts">',
    ...tasks.flatMap((t) => pair(`-${t}`, `: ${t}`, (r) => r.byTask[t])),
    '</div>',
  ];
}

/** The metrics of each strategy, overall and per task. */
function strategyTables(s: EvalSummary, tasks: readonly string[]): string[] {
  return [
    '<h2>Per strategy</h2>',
    htmlTable(
      ['strategy', ...CELL_HEADER, 'LaRA overall'],
      s.results.map((r) => [`${r.strategy} (${r.label})`, ...cellColumns(r.overall), pct(r.macroAccuracy)]),
    ),
    '<h2>Per task</h2>',
    ...tasks.flatMap((t) => [
      `<h3>${esc(t)}</h3>`,
      htmlTable(
        ['strategy', ...CELL_HEADER],
        s.results.filter((r) => r.byTask[t]).map((r) => [r.strategy, ...cellColumns(r.byTask[t]!)]),
      ),
    ]),
  ];
}

/** The score curves of sample questions with the Adaptive-k cut (RAG's when there are any). */
function scoreCurves(rows: readonly ResultRow[]): string[] {
  const curves = rows.filter((r) => r.scoreCurve && r.strategy === 'rag');
  const shown = curves.length > 0 ? curves : rows.filter((r) => r.scoreCurve);
  if (shown.length === 0) return [];
  return [
    '<h2>Score curves with the Adaptive-k cut (sample questions)</h2>',
    '<p class="note">Retrieval scores of every chunk, best first. The dashed line is the largest gap Adaptive-k cuts at; the shaded band is what retrieval reads (the cut plus the buffer).</p><div class="charts">',
    ...shown.slice(0, 12).map((r) => {
      const c = r.scoreCurve!;
      const title = `${r.task} · ${r.length} ${r.type}: ${r.question.length > 48 ? `${r.question.slice(0, 47)}…` : r.question}`;
      return `<figure>${curveChart({ id: 'score-curve', title, scores: c.scores, cutIndex: c.cutIndex, k: c.k })}<figcaption>${esc(r.questionId)}: k = ${c.k}, coverage ${pct(r.evidenceCoverage)}, ${r.verdict.correct ? 'judged right' : 'judged wrong'}</figcaption></figure>`;
    }),
    '</div>',
  ];
}

/** The replay of recorded answers: a chart and a table per model. */
function replaySection(s: EvalSummary): string[] {
  if (s.replay.length === 0) return [];
  return [
    '<h2>Recorded-answer replay</h2>',
    `<p class="note">${esc(replayNote(s.judge.approximate))}</p><div class="charts">`,
    ...s.replay.map((m) =>
      barChart({
        id: `replay-${m.model}`,
        title: `${m.model}: recorded answers by route`,
        yLabel: 'accuracy',
        groups: m.rows
          .filter((r) => !/^\d/.test(r.group))
          .map((r) => ({
            label: r.group,
            values: [
              { name: 'always RAG', value: r.alwaysRag },
              { name: 'always full', value: r.alwaysFull },
              { name: 'rules alone', value: r.policy },
              { name: 'routed', value: r.routed },
              { name: 'oracle', value: r.oracle },
            ],
          })),
      }),
    ),
    '</div>',
    ...s.replay.flatMap((m) => [
      `<h3>${esc(m.model)} (${m.questions} questions)</h3>`,
      htmlTable(REPLAY_HEADER, m.rows.map(replayColumns)),
    ]),
  ];
}

/** Latency, then the dataset lines that could not be used and the answers that failed. */
function runProblems(s: EvalSummary): string[] {
  const b = ['<h2>Latency (wall clock)</h2>', htmlTable(LATENCY_HEADER, s.timing.latency.map(latencyColumns))];
  if (s.broken.count > 0) {
    b.push(`<h2>Broken dataset lines (${s.broken.count})</h2><ul>`);
    for (const x of s.broken.items.slice(0, 100))
      b.push(`<li><code>${esc(`${x.file}:${x.line}`)}</code>: ${esc(x.message)}</li>`);
    b.push('</ul>');
  }
  if (s.failures.count > 0) {
    b.push(`<h2>Failed answers (${s.failures.count})</h2><ul>`);
    for (const f of s.failures.items.slice(0, 100))
      b.push(`<li><code>${esc(f.questionId)}</code> (${esc(f.strategy)}): ${esc(`${f.code}: ${f.message}`)}</li>`);
    b.push('</ul>');
  }
  return b;
}
