import { esc, PALETTE, scatterChart } from '../report/svg.js';
import type { Chosen } from './cv.js';
import type { ModelSummary } from './summary.js';

/** Everything `npm run replay` writes to summary.json. */
export interface ReplaySummary {
  dataset: string;
  judge: { name: string; approximate: boolean };
  window: number;
  folds: number;
  questions: number;
  /** The rule set whose cross-validated numbers are the headline (the one the settings ship). */
  primary: string;
  /** What a fit on all of dev chooses, per rule set (for docs/calibration.md; the shipped settings are in src/config.ts). */
  fittedOnAll: Record<string, Chosen>;
  /** The policy's thresholds a fit on all of dev chooses for the rules alone. */
  policyFittedOnAll?: unknown;
  models: Record<string, ModelSummary>;
}

const pct = (x: number): string => (Number.isFinite(x) ? (100 * x).toFixed(1) : '–');
const pts = (x: number): string => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(1)}` : '–');
const kt = (x: number): string => (Number.isFinite(x) ? `${(x / 1000).toFixed(1)}k` : '–');

function table(head: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

/** The headline table: per model at the default operating point, cross-validated. */
export function defaultTable(s: ReplaySummary): string {
  return table(
    [
      'model',
      'n',
      'always-RAG',
      'always-full',
      'routed (CV)',
      '− better fixed',
      'leave model out',
      'own answers',
      'oracle',
      'answered by retrieval',
      'tokens read',
      'of always-full',
    ],
    Object.entries(s.models).map(([m, x]) => [
      m,
      String(x.n),
      pct(x.alwaysRag),
      pct(x.alwaysFull),
      pct(x.routed),
      pts(x.gainOverBest),
      `${pct(x.leaveModelOut.routed)} (${pts(x.leaveModelOut.gainOverBest)})`,
      `${pct(x.selfCalibrated.routed)} (${pts(x.selfCalibrated.gainOverBest)})`,
      pct(x.oracle),
      `${pct(x.ragShare)}%`,
      kt(x.tokensRead),
      `${pct(x.tokenShare)}%`,
    ]),
  );
}

/** Every rule set, cross-validated by document (and leave-one-model-out), at the default preference: points over the better fixed strategy. */
export function variantTable(s: ReplaySummary): string {
  const variants = Object.keys(Object.values(s.models)[0]?.variants ?? {});
  return table(
    ['model', ...variants.flatMap((v) => [`${v}`, 'LOMO', 'tokens'])],
    Object.entries(s.models).map(([m, x]) => [
      m,
      ...variants.flatMap((v) => {
        const r = x.variants[v]!;
        const best = Math.max(x.alwaysRag, x.alwaysFull);
        return [pts(r.gainOverBest), pts(100 * (r.leaveModelOut - best)), kt(r.tokensRead)];
      }),
    ]),
  );
}

/** The policy's rules alone (the extractive reader's auto): configured (in-sample) and cross-validated. */
export function rulesTable(s: ReplaySummary): string {
  return table(
    [
      'model',
      'always-RAG',
      'always-full',
      'rules as configured (in-sample)',
      'tokens',
      'rules, thresholds chosen in folds',
      '− better fixed',
      'leave model out',
      'tokens',
    ],
    Object.entries(s.models).flatMap(([m, x]) => {
      const r = x.rulesAlone;
      if (!r) return [];
      return [
        [
          m,
          pct(x.alwaysRag),
          pct(x.alwaysFull),
          pct(r.configured),
          kt(r.configuredTokens),
          pct(r.routed),
          pts(r.gainOverBest),
          pct(r.leaveModelOut),
          kt(r.tokensRead),
        ],
      ];
    }),
  );
}

/** The frontier of one model: every point with its gain over the RAG–full line. */
export function frontierTable(model: string, x: ModelSummary): string {
  return table(
    ['operating point', 'accuracy', 'tokens read', 'by retrieval', 'gain over the line', 'on the frontier'],
    x.frontier.map((p) => [
      p.label,
      pct(p.accuracy),
      kt(p.tokens),
      `${pct(p.ragShare)}%`,
      pts(100 * p.gainOverLine),
      p.onFrontier ? 'yes' : '',
    ]),
  ).replace(/^/, `${model}\n\n`);
}

/** The frontier chart of one model: accuracy against document tokens read, the preference sweep and the line between the fixed strategies. */
export function frontierChart(model: string, x: ModelSummary): string {
  const sweep = x.frontier.filter((p) => p.preference !== null);
  const fixed = x.frontier.filter((p) => p.preference === null).sort((a, b) => a.tokens - b.tokens);
  const ys = x.frontier.map((p) => p.accuracy);
  return scatterChart({
    id: `frontier-${model}`,
    title: `${model}: accuracy against tokens read (CV)`,
    xLabel: 'document tokens read per question',
    yLabel: 'accuracy',
    xLog: true,
    yRange: [Math.floor(Math.min(...ys) * 20) / 20, Math.ceil(Math.max(...ys) * 20) / 20],
    series: [
      {
        name: 'preference 0→1',
        color: PALETTE[0]!,
        points: sweep.map((p) => ({
          x: p.tokens,
          y: p.accuracy,
          label: `${p.label}: ${pct(p.accuracy)}% at ${kt(p.tokens)}, ${pts(100 * p.gainOverLine)} over the line`,
        })),
      },
      {
        name: 'RAG — full',
        color: PALETTE[3]!,
        points: fixed.map((p) => ({ x: p.tokens, y: p.accuracy, label: p.label })),
      },
    ],
    connect: true,
  });
}

export function markdownReport(s: ReplaySummary): string {
  const out: string[] = [];
  out.push('# Router replay', '');
  out.push(
    `Dataset \`${s.dataset}\`, ${s.questions} questions; reader window ${s.window} tokens; judge ${s.judge.name}${s.judge.approximate ? ' (APPROXIMATE: compare columns with each other, not with LLM-judged numbers)' : ''}.`,
    `Every threshold is chosen inside the training folds (${s.folds} folds by document) on all models' answers to the training documents (one setting for every model, as shipped), and scored on documents it never saw. "Leave model out": chosen without the model's own answers; "own answers": chosen on the model's own answers only (a deployment recalibrating on its recorded answers).`,
    '',
  );
  out.push(`## Default operating point (preference 0.5, rules: ${s.primary})`, '', defaultTable(s), '');
  out.push('## Each rule set, points over the better fixed strategy (cross-validated)', '', variantTable(s), '');
  out.push("## The policy's rules alone (no escalation: the extractive reader's auto)", '', rulesTable(s), '');
  out.push('## Cost–accuracy frontier', '');
  for (const [m, x] of Object.entries(s.models)) out.push(frontierTable(m, x), '');
  out.push(
    '## What a fit on all of dev chooses',
    '',
    '```json',
    JSON.stringify({ ...s.fittedOnAll, rulesAlone: s.policyFittedOnAll }, null, 1),
    '```',
    '',
  );
  return `${out.join('\n')}\n`;
}

export function htmlReport(s: ReplaySummary): string {
  const md = markdownReport(s);
  return [
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Router replay</title>',
    `<style>body{font:14px/1.4 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}pre{white-space:pre-wrap}svg ${SVG_STYLE.replace(/}(?=.)/g, '} svg ')}</style></head><body>`,
    '<h1>Router replay</h1>',
    `<div>${Object.entries(s.models)
      .map(([m, x]) => `<figure style="display:inline-block;margin:0">${frontierChart(m, x)}</figure>`)
      .join('')}</div>`,
    `<pre>${esc(md)}</pre>`,
    '</body></html>',
  ].join('\n');
}

/** The chart's classes, for an SVG file read on its own (the HTML report styles them itself). */
const SVG_STYLE =
  '.ct{font:600 13px system-ui,sans-serif}.tick{font:10px system-ui,sans-serif;fill:#555}.axis{font:11px system-ui,sans-serif;fill:#333}.legend{font:10px system-ui,sans-serif}.grid{stroke:#eee}.frame{fill:none;stroke:#999}';

/** An SVG chart as a file of its own: white background and its styles inside. */
export function standaloneSvg(svg: string): string {
  return `${svg.replace(/^<svg([^>]*)>/, `<svg$1><style>${SVG_STYLE}</style><rect width="100%" height="100%" fill="#fff"/>`)}\n`;
}
