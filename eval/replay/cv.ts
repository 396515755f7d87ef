import { sha256 } from '../../src/core/ids.js';
import { findCues, type CueName } from '../../src/core/routing/cues.js';
import { probeLimit, type ProbeZones, type RouterSettings } from '../../src/core/routing/settings.js';
import type { Answered } from './judged.js';
import type { StrategyName } from '../../src/core/strategies/types.js';
import { kindOf, outcomeOfKind, prepare, type Kind } from './route.js';
import type { QuestionRecord } from './records.js';

/**
 * Cross-validation of the probe's zones and answer-length limit: every
 * threshold is chosen on training documents (and, leave-one-model-out, on
 * the other models' answers) and scored on documents it never saw. Folds are
 * by document, so no question of a test document is ever in training.
 */

/** One model's judged answers, aligned with the records (null: not both recorded). */
export interface ModelAnswers {
  model: string;
  answers: ReadonlyArray<Answered | null>;
}

/** The probe's answer-length limits searched (tokens at the balanced preference). */
export const LIMITS = [0, 10, 20, 30, 40, 50, 60, 80, 100] as const;
/** Preferences the frontier sweeps. */
export const PREFERENCES = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1] as const;

const OFF: ProbeZones = { directCues: [], directMaxRelativeGap: 0, trustMinRelativeGap: 0, trustMinTopCoverage: 1 };

/** Which rules a variant may switch on. */
export interface Variant {
  name: string;
  direct: boolean;
  trust: boolean;
  /**
   * Signals tried in the replay only (the service does not compute them):
   * 'dense' also requires the best lexical chunk to be the best dense one of
   * the selection before trusting retrieval; 'prior' replaces the zones by a
   * table learned per training fold, from the document's type (metadata) and
   * the question's form, of which questions to read whole at once, which to
   * trust to retrieval and which to probe (decided before reading, as
   * Pre-Route, arXiv 2605.10235, does).
   */
  extra?: 'dense' | 'prior';
}

export const VARIANTS: readonly Variant[] = [
  { name: 'probe', direct: false, trust: false },
  { name: 'probe+direct', direct: true, trust: false },
  { name: 'probe+trust', direct: false, trust: true },
  { name: 'probe+direct+trust', direct: true, trust: true },
  { name: 'probe+trust(dense agrees)', direct: false, trust: true, extra: 'dense' },
  { name: 'probe+type-prior', direct: false, trust: false, extra: 'prior' },
];

const YES_NO = /^\s*(?:is|are|was|were|does|do|did|can|could|has|have|had|will|would|should)\b/i;

/** The prior's cell of a question: the document's type and the question's form (a diffuse cue, yes/no, why/how, other). */
export function priorCell(r: QuestionRecord): string {
  const cues = findCues(r.question).map((c) => c.name);
  const form = cues.includes('comparison')
    ? 'comparison'
    : cues.length > 0
      ? 'aggregate'
      : YES_NO.test(r.question)
        ? 'yes-no'
        : /\b(?:why|how)\b/i.test(r.question)
          ? 'why-how'
          : 'other';
  return `${r.type}|${form}`;
}

/** The zone settings searched: each rule off or at a coarse grid of thresholds. */
export function zoneGrid(): ProbeZones[] {
  const cueSets: CueName[][] = [
    [],
    ['comparison'],
    ['comparison', 'aggregation'],
    ['comparison', 'aggregation', 'global'],
  ];
  const direct: Array<Pick<ProbeZones, 'directCues' | 'directMaxRelativeGap'>> = [];
  for (const directCues of cueSets)
    for (const directMaxRelativeGap of [0, 0.05, 0.1, 0.2]) direct.push({ directCues, directMaxRelativeGap });
  const trust: Array<Pick<ProbeZones, 'trustMinRelativeGap' | 'trustMinTopCoverage'>> = [
    { trustMinRelativeGap: 0, trustMinTopCoverage: 1 },
  ];
  for (const trustMinRelativeGap of [0.2, 0.3, 0.5, 0.7])
    for (const trustMinTopCoverage of [0.5, 0.75, 1]) trust.push({ trustMinRelativeGap, trustMinTopCoverage });
  return direct.flatMap((d) => trust.map((t) => ({ ...d, ...t })));
}

const directOn = (z: ProbeZones) => z.directCues.length > 0 || z.directMaxRelativeGap > 0;
const trustOn = (z: ProbeZones) => z.trustMinRelativeGap > 0;

/** Document → fold, from a seeded hash of the document id (stable across runs and machines). */
export function documentFolds(records: readonly QuestionRecord[], k: number, seed = 1): Map<string, number> {
  const docs = [...new Set(records.map((r) => r.documentId))].sort((a, b) =>
    sha256(`${seed}:${a}`).localeCompare(sha256(`${seed}:${b}`)),
  );
  return new Map(docs.map((d, i) => [d, i % k]));
}

export interface Chosen {
  zones: ProbeZones;
  balanced: number;
}

/** Sums over a set of models, per question, for fast scoring of many candidates. */
interface Pool {
  n: Float64Array;
  rag: Float64Array;
  full: Float64Array;
  /** [question * LIMITS.length + l]: correct with the probe at LIMITS[l], and answers kept. */
  probe: Float64Array;
  kept: Float64Array;
}

function pool(models: readonly ModelAnswers[], nq: number): Pool {
  const L = LIMITS.length;
  const p: Pool = {
    n: new Float64Array(nq),
    rag: new Float64Array(nq),
    full: new Float64Array(nq),
    probe: new Float64Array(nq * L),
    kept: new Float64Array(nq * L),
  };
  for (const m of models) {
    for (let i = 0; i < nq; i++) {
      const a = m.answers[i];
      if (!a) continue;
      p.n[i]! += 1;
      p.rag[i]! += +a.rag;
      p.full[i]! += +a.full;
      for (let l = 0; l < L; l++) {
        const keep =
          a.verdict.why === 'declined' || (a.verdict.why !== 'empty' && a.verdict.answerTokens <= LIMITS[l]!);
        p.kept[i * L + l]! += +keep;
        p.probe[i * L + l]! += +(keep ? a.rag : a.full);
      }
    }
  }
  return p;
}

/** Pooled accuracy and tokens per answer of one candidate over questions `idx`. */
function score(
  p: Pool,
  records: readonly QuestionRecord[],
  kinds: readonly Kind[],
  l: number,
  idx: readonly number[],
): { acc: number; tokens: number } {
  const L = LIMITS.length;
  let correct = 0;
  let n = 0;
  let tokens = 0;
  for (const i of idx) {
    const ni = p.n[i]!;
    if (ni === 0) continue;
    const k = kinds[i]!;
    const t = records[i]!.tokens;
    n += ni;
    if (k.kind === 'rag') {
      correct += p.rag[i]!;
      tokens += ni * t.rag;
    } else if (k.kind === 'whole') {
      correct += p.full[i]!;
      tokens += ni * t[k.read];
    } else {
      correct += p.probe[i * L + l]!;
      tokens += ni * t.rag + (ni - p.kept[i * L + l]!) * t[k.escalateTo];
    }
  }
  return n === 0 ? { acc: Number.NaN, tokens: Number.NaN } : { acc: correct / n, tokens: tokens / n };
}

/** Per question and model: one test outcome per preference. */
export interface TestOutcome {
  question: number;
  byPreference: Array<{ correct: boolean; byRag: boolean; tokens: number }>;
}

export interface CvResult {
  variant: string;
  /**
   * Whose answers to the training documents choose the thresholds: 'documents' all models' (one setting for
   * every model: what ships), 'documents+model' the other models' only, 'self' the model's own (a deployment
   * recalibrating on its own recorded answers).
   */
  mode: 'documents' | 'documents+model' | 'self';
  model: string;
  outcomes: TestOutcome[];
  /** What each fold chose. */
  chosen: Chosen[];
}

/**
 * Runs k-fold cross-validation by document for every model and variant, in
 * both modes. `settings` gives everything but the zones and the limit, which
 * are chosen per training fold: highest pooled accuracy at the balanced
 * preference (0.5, the default), ties to fewer tokens read. Test outcomes are
 * kept for every preference of PREFERENCES (the frontier).
 */
export function crossValidate(
  records: readonly QuestionRecord[],
  models: readonly ModelAnswers[],
  settings: RouterSettings,
  opts: { folds: number; seed?: number; variants?: readonly Variant[] },
): CvResult[] {
  const nq = records.length;
  const grid = zoneGrid();
  const prepared = records.map((r) => prepare(r, settings));
  const kinds = grid.map((z) => records.map((r, i) => kindOf(prepared[i]!, r, z)));
  // Trust only where dense scores agree with the lexical best chunk: a trusted question that disagrees is probed instead.
  const probeKinds = records.map((r, i) => kindOf(prepared[i]!, r, OFF));
  const denseKinds = kinds.map((ks) =>
    ks.map((k, i) =>
      k.kind === 'rag' && probeKinds[i]!.kind === 'probe' && records[i]!.denseAgrees === 0 ? probeKinds[i]! : k,
    ),
  );
  const cells = records.map(priorCell);
  const folds = documentFolds(records, opts.folds, opts.seed);
  const foldOf = records.map((r) => folds.get(r.documentId)!);
  const all = pool(models, nq);
  const others = new Map(
    models.map((m) => [
      m.model,
      pool(
        models.filter((x) => x.model !== m.model),
        nq,
      ),
    ]),
  );
  const own = new Map(models.map((m) => [m.model, pool([m], nq)]));
  const out: CvResult[] = [];

  const choose = (p: Pool, train: readonly number[], v: Variant): { c: Chosen; z: number; kinds: readonly Kind[] } => {
    const table = v.extra === 'dense' ? denseKinds : kinds;
    let best: { acc: number; tokens: number; z: number; l: number } | null = null;
    grid.forEach((zones, z) => {
      if ((!v.direct && directOn(zones)) || (!v.trust && trustOn(zones))) return;
      for (let l = 0; l < LIMITS.length; l++) {
        // At the balanced preference (0.5) the limit in force is the calibrated one.
        const s = score(p, records, table[z]!, l, train);
        if (!best || s.acc > best.acc + 1e-12 || (Math.abs(s.acc - best.acc) <= 1e-12 && s.tokens < best.tokens))
          best = { ...s, z, l };
      }
    });
    const b = best!;
    if (v.extra !== 'prior') return { c: { zones: grid[b.z]!, balanced: LIMITS[b.l]! }, z: b.z, kinds: table[b.z]! };
    // The prior: per cell, probe (with the limit just chosen), read whole at once, or trust retrieval, whichever the training answers favour.
    const ks: Kind[] = [...probeKinds];
    for (const cell of new Set(cells)) {
      const inCell = train.filter((i) => cells[i] === cell && probeKinds[i]!.kind === 'probe');
      const options: Array<(i: number) => Kind> = [
        (i) => probeKinds[i]!,
        (i) => ({ kind: 'whole', read: (probeKinds[i] as { escalateTo: StrategyName }).escalateTo }),
        () => ({ kind: 'rag' }),
      ];
      let pick = 0;
      let top = -Infinity;
      options.forEach((o, k) => {
        const trial = [...probeKinds];
        for (const i of inCell) trial[i] = o(i);
        const sc = score(p, records, trial, b.l, inCell).acc;
        if (sc > top + 1e-12) {
          top = sc;
          pick = k;
        }
      });
      for (let i = 0; i < records.length; i++)
        if (cells[i] === cell && probeKinds[i]!.kind === 'probe') ks[i] = options[pick]!(i);
    }
    return { c: { zones: OFF, balanced: LIMITS[b.l]! }, z: b.z, kinds: ks };
  };

  // The dense signal is tried only where it was measured.
  const measured = records.every((r) => Number.isFinite(r.denseAgrees));
  for (const v of (opts.variants ?? VARIANTS).filter((x) => measured || x.extra !== 'dense')) {
    for (const mode of ['documents', 'documents+model', 'self'] as const) {
      const results = new Map(
        models.map((m) => [
          m.model,
          { variant: v.name, mode, model: m.model, outcomes: [] as TestOutcome[], chosen: [] as Chosen[] },
        ]),
      );
      for (let f = 0; f < opts.folds; f++) {
        const train = foldOf.flatMap((g, i) => (g === f ? [] : [i]));
        const test = foldOf.flatMap((g, i) => (g === f ? [i] : []));
        const shared = mode === 'documents' ? choose(all, train, v) : null;
        for (const m of models) {
          const { c, kinds: ks } =
            shared ?? choose(mode === 'self' ? own.get(m.model)! : others.get(m.model)!, train, v);
          const r = results.get(m.model)!;
          r.chosen.push(c);
          for (const i of test) {
            const a = m.answers[i];
            if (!a) continue;
            r.outcomes.push({
              question: i,
              byPreference: PREFERENCES.map((p) => {
                const o = outcomeOfKind(ks[i]!, records[i]!, a, probeLimit(p, c.balanced));
                return { correct: o.correct, byRag: o.byRag, tokens: o.tokens };
              }),
            });
          }
        }
      }
      out.push(...results.values());
    }
  }
  return out;
}

/** The zones and limit chosen on all of `models`' answers to all questions: what a calibration run would ship. */
export function fitAll(
  records: readonly QuestionRecord[],
  models: readonly ModelAnswers[],
  settings: RouterSettings,
  v: Variant,
): Chosen {
  const prepared = records.map((rec) => prepare(rec, settings));
  const p = pool(models, records.length);
  const idx = records.map((_, i) => i);
  let best: { acc: number; tokens: number; c: Chosen } | null = null;
  for (const zones of zoneGrid()) {
    if ((!v.direct && directOn(zones)) || (!v.trust && trustOn(zones))) continue;
    const kinds = records.map((rec, i) => kindOf(prepared[i]!, rec, zones));
    LIMITS.forEach((balanced, l) => {
      const s = score(p, records, kinds, l, idx);
      if (!best || s.acc > best.acc + 1e-12 || (Math.abs(s.acc - best.acc) <= 1e-12 && s.tokens < best.tokens))
        best = { ...s, c: { zones, balanced } };
    });
  }
  return best!.c;
}

export { OFF as ZONES_OFF };

/** The policy's thresholds searched for the rules alone (no escalation: what the extractive reader's auto does); each rule on or off. */
export function policyGrid(base: RouterSettings['thresholds']): Array<RouterSettings['thresholds']> {
  const out: Array<RouterSettings['thresholds']> = [];
  for (const minRelativeGap of [0, 0.1, 0.2, 0.3])
    for (const maxSelectedShare of [1, 0.35])
      for (const maxQuestionWords of [0, 20])
        for (const minAbsentTerms of [0, 2])
          for (const diffuseCues of [[], ['comparison', 'aggregation', 'global']] as CueName[][])
            out.push({ ...base, minRelativeGap, maxSelectedShare, maxQuestionWords, minAbsentTerms, diffuseCues });
  return out;
}

export interface PolicyCv {
  model: string;
  mode: 'documents' | 'documents+model';
  outcomes: Array<{ question: number; correct: boolean; byRag: boolean; tokens: number }>;
  chosen: Array<RouterSettings['thresholds']>;
}

/** The policy's rules alone, cross-validated by document: thresholds (each rule on or off) chosen in the training folds. */
export function crossValidatePolicy(
  records: readonly QuestionRecord[],
  models: readonly ModelAnswers[],
  settings: RouterSettings,
  opts: { folds: number; seed?: number },
): PolicyCv[] {
  const nq = records.length;
  const grid = policyGrid(settings.thresholds);
  const kinds = grid.map((t) =>
    records.map((r) => kindOf(prepare(r, { ...settings, thresholds: t }, { probe: false, selfRoute: false }), r, OFF)),
  );
  const folds = documentFolds(records, opts.folds, opts.seed);
  const foldOf = records.map((r) => folds.get(r.documentId)!);
  const all = pool(models, nq);
  const choose = (p: Pool, train: readonly number[]): number => {
    let best = { acc: -1, tokens: Infinity, g: 0 };
    grid.forEach((_, g) => {
      const s = score(p, records, kinds[g]!, 0, train);
      if (s.acc > best.acc + 1e-12 || (Math.abs(s.acc - best.acc) <= 1e-12 && s.tokens < best.tokens))
        best = { ...s, g };
    });
    return best.g;
  };
  const out: PolicyCv[] = [];
  for (const mode of ['documents', 'documents+model'] as const) {
    for (const m of models) {
      const p =
        mode === 'documents'
          ? all
          : pool(
              models.filter((x) => x.model !== m.model),
              nq,
            );
      const r: PolicyCv = { model: m.model, mode, outcomes: [], chosen: [] };
      for (let f = 0; f < opts.folds; f++) {
        const train = foldOf.flatMap((g, i) => (g === f ? [] : [i]));
        const g = choose(p, train);
        r.chosen.push(grid[g]!);
        for (let i = 0; i < nq; i++) {
          const a = m.answers[i];
          if (foldOf[i] !== f || !a) continue;
          const o = outcomeOfKind(kinds[g]![i]!, records[i]!, a, 0);
          r.outcomes.push({ question: i, correct: o.correct, byRag: o.byRag, tokens: o.tokens });
        }
      }
      out.push(r);
    }
  }
  return out;
}

/** The policy's thresholds a fit on all questions chooses. */
export function fitPolicy(
  records: readonly QuestionRecord[],
  models: readonly ModelAnswers[],
  settings: RouterSettings,
): RouterSettings['thresholds'] {
  const grid = policyGrid(settings.thresholds);
  const p = pool(models, records.length);
  const idx = records.map((_, i) => i);
  let best = { acc: -1, tokens: Infinity, g: 0 };
  grid.forEach((t, g) => {
    const ks = records.map((r) =>
      kindOf(prepare(r, { ...settings, thresholds: t }, { probe: false, selfRoute: false }), r, OFF),
    );
    const s = score(p, records, ks, 0, idx);
    if (s.acc > best.acc + 1e-12 || (Math.abs(s.acc - best.acc) <= 1e-12 && s.tokens < best.tokens)) best = { ...s, g };
  });
  return grid[best.g]!;
}
