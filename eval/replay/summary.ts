import type { RouterSettings } from '../../src/core/routing/settings.js';
import { sortTasks } from '../harness/metrics.js';
import { PREFERENCES, type CvResult, type ModelAnswers, type PolicyCv } from './cv.js';
import type { Answered } from './judged.js';
import type { QuestionRecord } from './records.js';
import { replayQuestion } from './route.js';

const mean = (xs: readonly number[]): number =>
  xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;

/** One group's replay with the given settings (in-sample: the settings are what they are, nothing is chosen here). */
export interface ReplayRow {
  /** 'all', a task, or a length. */
  group: string;
  n: number;
  alwaysRag: number;
  alwaysFull: number;
  /** strategy auto as the settings run it for a generative reader (the probe by default). */
  routed: number;
  /** The policy's rules alone (no escalation: what the extractive reader's auto does). */
  policy: number;
  /** Best of the two recorded answers per question: the ceiling of any router. */
  oracle: number;
  /** Share answered by retrieval. */
  ragShare: number;
  policyRagShare: number;
  /** Mean document tokens read. */
  tokensRag: number;
  tokensFull: number;
  tokensRouted: number;
  tokensPolicy: number;
}

export interface ModelReplay {
  model: string;
  judge: string;
  questions: number;
  /** Questions without both recorded answers (not in the tables). */
  missing: number;
  rows: ReplayRow[];
}

function row(
  group: string,
  js: ReadonlyArray<{ rec: QuestionRecord; a: Answered }>,
  settings: RouterSettings,
): ReplayRow {
  const routed = js.map((j) => replayQuestion(j.rec, j.a, settings));
  const policy = js.map((j) => replayQuestion(j.rec, j.a, settings, { probe: false, selfRoute: false }));
  return {
    group,
    n: js.length,
    alwaysRag: mean(js.map((j) => +j.a.rag)),
    alwaysFull: mean(js.map((j) => +j.a.full)),
    routed: mean(routed.map((o) => +o.correct)),
    policy: mean(policy.map((o) => +o.correct)),
    oracle: mean(js.map((j) => +(j.a.rag || j.a.full))),
    ragShare: mean(routed.map((o) => +o.byRag)),
    policyRagShare: mean(policy.map((o) => +o.byRag)),
    tokensRag: mean(js.map((j) => j.rec.tokens.rag)),
    tokensFull: mean(js.map((j) => j.rec.tokens.full)),
    tokensRouted: mean(routed.map((o) => o.tokens)),
    tokensPolicy: mean(policy.map((o) => o.tokens)),
  };
}

/** The replay tables of one model with `settings`: per task, per length and overall. */
export function replayModel(
  model: string,
  judge: string,
  records: readonly QuestionRecord[],
  answers: ReadonlyArray<Answered | null>,
  settings: RouterSettings,
): ModelReplay {
  const js = records.flatMap((rec, i) => (answers[i] ? [{ rec, a: answers[i]! }] : []));
  const rows: ReplayRow[] = [];
  for (const t of sortTasks(js.map((j) => j.rec.task)))
    rows.push(
      row(
        t,
        js.filter((j) => j.rec.task === t),
        settings,
      ),
    );
  for (const l of [...new Set(js.map((j) => j.rec.length))].sort((a, b) => parseFloat(a) - parseFloat(b)))
    rows.push(
      row(
        l,
        js.filter((j) => j.rec.length === l),
        settings,
      ),
    );
  rows.push(row('all', js, settings));
  return { model, judge, questions: js.length, missing: records.length - js.length, rows };
}

/** A point of the cost–accuracy frontier. */
export interface FrontierPoint {
  /** 'always-rag', 'always-full', or `preference=P`. */
  label: string;
  preference: number | null;
  accuracy: number;
  /** Mean document tokens read per question. */
  tokens: number;
  ragShare: number;
  /** Accuracy minus the straight line from always-RAG to always-full at the same tokens: what routing adds. */
  gainOverLine: number;
  /** No other point reads fewer tokens with at least this accuracy. */
  onFrontier: boolean;
}

/** What summary.json holds per model at the default operating point (cross-validated), plus the frontier. */
export interface ModelSummary {
  n: number;
  alwaysRag: number;
  alwaysFull: number;
  /** Cross-validated accuracy of strategy auto at the default preference. */
  routed: number;
  oracle: number;
  ragShare: number;
  /** Mean document tokens read per question by routed, and by always-full. */
  tokensRead: number;
  tokensFull: number;
  tokensRag: number;
  /** routed − max(alwaysRag, alwaysFull), in points. */
  gainOverBest: number;
  /** tokensRead / tokensFull. */
  tokenShare: number;
  /** The same, thresholds chosen without this model's answers (leave-one-model-out on top of the document folds). */
  leaveModelOut: { routed: number; ragShare: number; tokensRead: number; gainOverBest: number };
  /** The same, thresholds chosen on the model's own answers to the training documents (recalibrated per deployment). */
  selfCalibrated: { routed: number; ragShare: number; tokensRead: number; gainOverBest: number };
  /** Every rule set measured (cross-validated by document), at the default preference. */
  variants: Record<
    string,
    { routed: number; ragShare: number; tokensRead: number; gainOverBest: number; leaveModelOut: number }
  >;
  frontier: FrontierPoint[];
  /**
   * The policy's rules alone (no escalation: the extractive reader's auto): with the configured thresholds
   * (in-sample), and with each rule's thresholds chosen in the training folds (by document, and leave model out).
   */
  rulesAlone: {
    configured: number;
    configuredTokens: number;
    routed: number;
    tokensRead: number;
    ragShare: number;
    gainOverBest: number;
    leaveModelOut: number;
  } | null;
}

function lineAt(t: number, rag: { acc: number; tokens: number }, full: { acc: number; tokens: number }): number {
  if (full.tokens === rag.tokens) return Math.max(rag.acc, full.acc);
  return rag.acc + ((full.acc - rag.acc) * (t - rag.tokens)) / (full.tokens - rag.tokens);
}

/** Marks the points no other point dominates (fewer or equal tokens and higher or equal accuracy, one of them strictly). */
export function markFrontier<T extends { accuracy: number; tokens: number; onFrontier: boolean }>(pts: T[]): T[] {
  for (const p of pts)
    p.onFrontier = !pts.some(
      (q) =>
        q !== p && q.tokens <= p.tokens && q.accuracy >= p.accuracy && (q.tokens < p.tokens || q.accuracy > p.accuracy),
    );
  return pts;
}

/** Always RAG, always full, and the routed run at each preference, with the points on the accuracy–tokens frontier marked. */
function frontierOf(
  rag: { acc: number; tokens: number },
  full: { acc: number; tokens: number },
  atPreference: (k: number) => { routed: number; ragShare: number; tokensRead: number },
): FrontierPoint[] {
  return markFrontier([
    {
      label: 'always-rag',
      preference: null,
      accuracy: rag.acc,
      tokens: rag.tokens,
      ragShare: 1,
      gainOverLine: 0,
      onFrontier: false,
    },
    {
      label: 'always-full',
      preference: null,
      accuracy: full.acc,
      tokens: full.tokens,
      ragShare: 0,
      gainOverLine: 0,
      onFrontier: false,
    },
    ...PREFERENCES.map((p, k) => {
      const x = atPreference(k);
      return {
        label: `preference=${p}`,
        preference: p,
        accuracy: x.routed,
        tokens: x.tokensRead,
        ragShare: x.ragShare,
        gainOverLine: x.routed - lineAt(x.tokensRead, rag, full),
        onFrontier: false,
      };
    }),
  ]);
}

/** The router's rules without escalation: as configured, and cross-validated over documents and over models. */
function rulesAloneOf(
  m: ModelAnswers,
  records: readonly QuestionRecord[],
  idx: readonly number[],
  policy: { cv: readonly PolicyCv[]; settings: RouterSettings },
  best: number,
): ModelSummary['rulesAlone'] {
  const d = policy.cv.find((r) => r.model === m.model && r.mode === 'documents')!;
  const l = policy.cv.find((r) => r.model === m.model && r.mode === 'documents+model')!;
  const configured = idx.map((i) =>
    replayQuestion(records[i]!, m.answers[i]!, policy.settings, { probe: false, selfRoute: false }),
  );
  const routed = mean(d.outcomes.map((o) => +o.correct));
  return {
    configured: mean(configured.map((o) => +o.correct)),
    configuredTokens: mean(configured.map((o) => o.tokens)),
    routed,
    tokensRead: mean(d.outcomes.map((o) => o.tokens)),
    ragShare: mean(d.outcomes.map((o) => +o.byRag)),
    gainOverBest: 100 * (routed - best),
    leaveModelOut: mean(l.outcomes.map((o) => +o.correct)),
  };
}

/** Summaries per model from the cross-validation results; `primary` is the variant whose rules the settings ship. */
export function summarise(
  records: readonly QuestionRecord[],
  models: readonly ModelAnswers[],
  cv: readonly CvResult[],
  primary: string,
  policy?: { cv: readonly PolicyCv[]; settings: RouterSettings },
): Record<string, ModelSummary> {
  const out: Record<string, ModelSummary> = {};
  const def = PREFERENCES.indexOf(0.5);
  for (const m of models) {
    const idx = m.answers.flatMap((a, i) => (a ? [i] : []));
    const a = (i: number) => m.answers[i]!;
    const alwaysRag = mean(idx.map((i) => +a(i).rag));
    const alwaysFull = mean(idx.map((i) => +a(i).full));
    const tokensRag = mean(idx.map((i) => records[i]!.tokens.rag));
    const tokensFull = mean(idx.map((i) => records[i]!.tokens.full));
    const best = Math.max(alwaysRag, alwaysFull);
    const at = (r: CvResult, p: number) => ({
      routed: mean(r.outcomes.map((o) => +o.byPreference[p]!.correct)),
      ragShare: mean(r.outcomes.map((o) => +o.byPreference[p]!.byRag)),
      tokensRead: mean(r.outcomes.map((o) => o.byPreference[p]!.tokens)),
    });
    const find = (variant: string, mode: CvResult['mode']) =>
      cv.find((r) => r.model === m.model && r.variant === variant && r.mode === mode)!;
    const main = at(find(primary, 'documents'), def);
    const lomo = at(find(primary, 'documents+model'), def);
    const self = at(find(primary, 'self'), def);
    const variants: ModelSummary['variants'] = {};
    for (const v of [...new Set(cv.map((r) => r.variant))]) {
      const d = at(find(v, 'documents'), def);
      variants[v] = {
        ...d,
        gainOverBest: 100 * (d.routed - best),
        leaveModelOut: at(find(v, 'documents+model'), def).routed,
      };
    }
    const rag = { acc: alwaysRag, tokens: tokensRag };
    const full = { acc: alwaysFull, tokens: tokensFull };
    const frontier = frontierOf(rag, full, (k) => at(find(primary, 'documents'), k));
    out[m.model] = {
      n: idx.length,
      alwaysRag,
      alwaysFull,
      routed: main.routed,
      oracle: mean(idx.map((i) => +(a(i).rag || a(i).full))),
      ragShare: main.ragShare,
      tokensRead: main.tokensRead,
      tokensFull,
      tokensRag,
      gainOverBest: 100 * (main.routed - best),
      tokenShare: main.tokensRead / tokensFull,
      leaveModelOut: { ...lomo, gainOverBest: 100 * (lomo.routed - best) },
      selfCalibrated: { ...self, gainOverBest: 100 * (self.routed - best) },
      variants,
      frontier,
      rulesAlone: null,
    };
    if (policy) out[m.model]!.rulesAlone = rulesAloneOf(m, records, idx, policy, best);
  }
  return out;
}
