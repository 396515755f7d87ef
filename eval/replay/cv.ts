import { sha256 } from '../../src/core/ids.js';
import type { CueName } from '../../src/core/routing/cues.js';
import { probeLimit, type ProbeZones, type RouterSettings } from '../../src/core/routing/settings.js';
import type { Answered } from './judged.js';
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
}

export const VARIANTS: readonly Variant[] = [
  { name: 'probe', direct: false, trust: false },
  { name: 'probe+direct', direct: true, trust: false },
  { name: 'probe+trust', direct: false, trust: true },
  { name: 'probe+direct+trust', direct: true, trust: true },
];

/** The zone settings searched: each rule off or at a coarse grid of thresholds. */
export function zoneGrid(): ProbeZones[] {
  const cueSets: CueName[][] = [[], ['comparison'], ['comparison', 'aggregation'], ['comparison', 'aggregation', 'global']];
  const direct: Array<Pick<ProbeZones, 'directCues' | 'directMaxRelativeGap'>> = [];
  for (const directCues of cueSets) for (const directMaxRelativeGap of [0, 0.05, 0.1, 0.2]) direct.push({ directCues, directMaxRelativeGap });
  const trust: Array<Pick<ProbeZones, 'trustMinRelativeGap' | 'trustMinTopCoverage'>> = [{ trustMinRelativeGap: 0, trustMinTopCoverage: 1 }];
  for (const trustMinRelativeGap of [0.2, 0.3, 0.5, 0.7]) for (const trustMinTopCoverage of [0.5, 0.75, 1]) trust.push({ trustMinRelativeGap, trustMinTopCoverage });
  return direct.flatMap((d) => trust.map((t) => ({ ...d, ...t })));
}

const directOn = (z: ProbeZones) => z.directCues.length > 0 || z.directMaxRelativeGap > 0;
const trustOn = (z: ProbeZones) => z.trustMinRelativeGap > 0;

/** Document → fold, from a seeded hash of the document id (stable across runs and machines). */
export function documentFolds(records: readonly QuestionRecord[], k: number, seed = 1): Map<string, number> {
  const docs = [...new Set(records.map((r) => r.documentId))].sort((a, b) => sha256(`${seed}:${a}`).localeCompare(sha256(`${seed}:${b}`)));
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
  const p: Pool = { n: new Float64Array(nq), rag: new Float64Array(nq), full: new Float64Array(nq), probe: new Float64Array(nq * L), kept: new Float64Array(nq * L) };
  for (const m of models) {
    for (let i = 0; i < nq; i++) {
      const a = m.answers[i];
      if (!a) continue;
      p.n[i]! += 1;
      p.rag[i]! += +a.rag;
      p.full[i]! += +a.full;
      for (let l = 0; l < L; l++) {
        const keep = a.verdict.why === 'declined' || (a.verdict.why !== 'empty' && a.verdict.answerTokens <= LIMITS[l]!);
        p.kept[i * L + l]! += +keep;
        p.probe[i * L + l]! += +(keep ? a.rag : a.full);
      }
    }
  }
  return p;
}

/** Pooled accuracy and tokens per answer of one candidate over questions `idx`. */
function score(p: Pool, records: readonly QuestionRecord[], kinds: readonly Kind[], l: number, idx: readonly number[]): { acc: number; tokens: number } {
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
  /** 'documents': thresholds chosen on all models' answers to the training documents; 'documents+model': on the other models' answers only. */
  mode: 'documents' | 'documents+model';
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
  const folds = documentFolds(records, opts.folds, opts.seed);
  const foldOf = records.map((r) => folds.get(r.documentId)!);
  const all = pool(models, nq);
  const others = new Map(models.map((m) => [m.model, pool(models.filter((x) => x.model !== m.model), nq)]));
  const out: CvResult[] = [];

  const choose = (p: Pool, train: readonly number[], v: Variant): { c: Chosen; z: number } => {
    let best: { acc: number; tokens: number; z: number; l: number } | null = null;
    grid.forEach((zones, z) => {
      if ((!v.direct && directOn(zones)) || (!v.trust && trustOn(zones))) return;
      for (let l = 0; l < LIMITS.length; l++) {
        // At the balanced preference (0.5) the limit in force is the calibrated one.
        const s = score(p, records, kinds[z]!, l, train);
        if (!best || s.acc > best.acc + 1e-12 || (Math.abs(s.acc - best.acc) <= 1e-12 && s.tokens < best.tokens)) best = { ...s, z, l };
      }
    });
    const b = best!;
    return { c: { zones: grid[b.z]!, balanced: LIMITS[b.l]! }, z: b.z };
  };

  for (const v of opts.variants ?? VARIANTS) {
    for (const mode of ['documents', 'documents+model'] as const) {
      const results = new Map(models.map((m) => [m.model, { variant: v.name, mode, model: m.model, outcomes: [] as TestOutcome[], chosen: [] as Chosen[] }]));
      for (let f = 0; f < opts.folds; f++) {
        const train = foldOf.flatMap((g, i) => (g === f ? [] : [i]));
        const test = foldOf.flatMap((g, i) => (g === f ? [i] : []));
        const shared = mode === 'documents' ? choose(all, train, v) : null;
        for (const m of models) {
          const { c, z } = shared ?? choose(others.get(m.model)!, train, v);
          const r = results.get(m.model)!;
          r.chosen.push(c);
          for (const i of test) {
            const a = m.answers[i];
            if (!a) continue;
            r.outcomes.push({
              question: i,
              byPreference: PREFERENCES.map((p) => {
                const o = outcomeOfKind(kinds[z]![i]!, records[i]!, a, probeLimit(p, c.balanced));
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
export function fitAll(records: readonly QuestionRecord[], models: readonly ModelAnswers[], settings: RouterSettings, v: Variant): Chosen {
  const prepared = records.map((rec) => prepare(rec, settings));
  const p = pool(models, records.length);
  const idx = records.map((_, i) => i);
  let best: { acc: number; tokens: number; c: Chosen } | null = null;
  for (const zones of zoneGrid()) {
    if ((!v.direct && directOn(zones)) || (!v.trust && trustOn(zones))) continue;
    const kinds = records.map((rec, i) => kindOf(prepared[i]!, rec, zones));
    LIMITS.forEach((balanced, l) => {
      const s = score(p, records, kinds, l, idx);
      if (!best || s.acc > best.acc + 1e-12 || (Math.abs(s.acc - best.acc) <= 1e-12 && s.tokens < best.tokens)) best = { ...s, c: { zones, balanced } };
    });
  }
  return best!.c;
}

export { OFF as ZONES_OFF };
