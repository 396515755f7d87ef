/**
 * Fits and checks the router's learned preference for retrieval over reading
 * the whole text, from eval/router-features.ts output.
 *
 * Label: for question i and model m, d(i,m) = correct(RAG answer) − correct(full
 * answer) ∈ {−1, 0, 1} (LaRA's recorded answers, approximate lexical judge).
 * Averaging d over several models removes much of one model's per-question
 * noise, so the preference is fitted on the mean over the TRAINING models and
 * checked on a model it never saw (leave-one-model-out), and on documents it
 * never saw (folds by document: no question of a test document is ever in the
 * training set). Model: ridge regression of the mean d on standardised
 * features; a question goes to retrieval when the prediction exceeds a
 * threshold chosen on the training folds (highest mean routed accuracy over
 * the training models with at least --min-rag-share of questions to retrieval).
 *
 *   npx tsx eval/fit-router.ts [--in eval-out/router-features.json] [--model gpt-4o] [--folds 5] [--lambda 10]
 *     [--min-rag-share 0.4] [--train others|self|m1,m2] [--learner ridge|trees] [--probe] [--univariate]
 *
 * Measured on LaRA dev (2026-11-23), gpt-4o, 5-fold by document, routed − the
 * better fixed strategy (always-full 61.8%): ridge trained on the other 12
 * models +0.5 (53.5% to retrieval); trained on gpt-4o itself +0.3; boosted
 * trees −1.4; with the retrieval probe (a declined retrieval answer kept)
 * ridge +0.3 (others) / +1.4 (self, 43.5% to retrieval), trees +0.1. The
 * rules in src/core/routing/policy.ts reach +0.7, so no learned preference
 * ships in the service; this script stays to test new signals. (What did
 * reach the target is not a question feature but the retrieval answer
 * itself: the service's retrieval probe, src/core/routing/probe.ts, +2.9 with
 * 44% answered by retrieval; see eval/replay-router.ts.)
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { FEATURE_NAMES, type RouterFeatures } from './routing/features.js';
import type { FeatureRow } from './router-features.js';

const { values: args } = parseArgs({
  options: {
    in: { type: 'string', default: 'eval-out/router-features.json' },
    model: { type: 'string', multiple: true, default: ['gpt-4o'] },
    folds: { type: 'string', default: '5' },
    lambda: { type: 'string', default: '10' },
    'min-rag-share': { type: 'string', default: '0.4' },
    features: { type: 'string' },
    univariate: { type: 'boolean', default: false },
    /** Models whose answers train the preference: 'others' (all but the one checked), 'self', or a comma-separated list. */
    train: { type: 'string', default: 'others' },
    /** 'ridge' (linear) or 'trees' (gradient-boosted regression trees, to test whether interactions help). */
    learner: { type: 'string', default: 'ridge' },
    /**
     * Retrieval probe: every question is first answered from retrieval; a reply
     * that declines is kept (by the model's own recorded RAG answer), and the
     * preference decides the rest. The RAG share then counts the kept declines.
     */
    probe: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '100' },
    depth: { type: 'string', default: '2' },
    shrink: { type: 'string', default: '0.05' },
    'min-leaf': { type: 'string', default: '40' },
  },
});

const rows = JSON.parse(readFileSync(resolve(args.in!), 'utf8')) as FeatureRow[];
const MIN_SHARE = Number(args['min-rag-share']);
const LAMBDA = Number(args.lambda);
const FOLDS = Number(args.folds);
const names: Array<keyof RouterFeatures> = args.features ? (args.features.split(',') as Array<keyof RouterFeatures>) : [...FEATURE_NAMES];
const allModels = [...new Set(rows.flatMap((r) => Object.keys(r.judged)))].sort();

const pct = (x: number): string => (100 * x).toFixed(1).padStart(5);
const mean = (xs: readonly number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/** Mean d over `models` for a row (NaN when none of them answered it both ways). */
function meanD(r: FeatureRow, models: readonly string[]): number {
  // With the probe, a model's declined question goes to retrieval whatever the preference says: it teaches nothing.
  const ds = models.filter((m) => r.judged[m]).map((m) => (args.probe && r.judged[m]!.ragDeclines ? 0 : +r.judged[m]!.rag - +r.judged[m]!.full));
  return mean(ds);
}

interface Fitted {
  names: string[];
  means: number[];
  scales: number[];
  weights: number[];
  intercept: number;
  threshold: number;
}

/** Solves (XᵀX + λI) w = Xᵀy by Gaussian elimination (a few dozen features). */
function ridge(x: number[][], y: number[], lambda: number): number[] {
  const p = x[0]!.length;
  const a = Array.from({ length: p }, () => new Array<number>(p + 1).fill(0));
  for (let i = 0; i < x.length; i++) {
    const xi = x[i]!;
    for (let j = 0; j < p; j++) {
      a[j]![p]! += xi[j]! * y[i]!;
      for (let k = 0; k < p; k++) a[j]![k]! += xi[j]! * xi[k]!;
    }
  }
  for (let j = 0; j < p; j++) a[j]![j]! += lambda;
  for (let c = 0; c < p; c++) {
    let piv = c;
    for (let r = c + 1; r < p; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[piv]![c]!)) piv = r;
    [a[c], a[piv]] = [a[piv]!, a[c]!];
    for (let r = 0; r < p; r++) {
      if (r === c) continue;
      const f = a[r]![c]! / a[c]![c]!;
      for (let k = c; k <= p; k++) a[r]![k]! -= f * a[c]![k]!;
    }
  }
  return a.map((row, j) => row[p]! / row[j]!);
}

function predict(f: Fitted, feats: RouterFeatures): number {
  let s = f.intercept;
  for (let j = 0; j < f.names.length; j++) s += f.weights[j]! * (((feats as unknown as Record<string, number>)[f.names[j]!]! - f.means[j]!) / f.scales[j]!);
  return s;
}

/** Routed accuracy of `model` when rows with prediction > t go to retrieval. */
function routed(rs: readonly FeatureRow[], preds: readonly number[], t: number, model: string): { acc: number; share: number } {
  let ok = 0;
  let n = 0;
  let toRag = 0;
  rs.forEach((r, i) => {
    const j = r.judged[model];
    if (!j) return;
    n++;
    const rag = (args.probe && j.ragDeclines) || preds[i]! > t;
    if (rag) toRag++;
    ok += +(rag ? j.rag : j.full);
  });
  return { acc: ok / n, share: toRag / n };
}

/** A fitted scorer: predicted mean d for a question, and the threshold above which it goes to retrieval. */
interface Scorer {
  predict(feats: RouterFeatures): number;
  threshold: number;
}

type Tree = { leaf: number } | { feature: string; split: number; left: Tree; right: Tree };

function evalTree(t: Tree, f: Record<string, number>): number {
  while (!('leaf' in t)) t = f[t.feature]! <= t.split ? t.left : t.right;
  return t.leaf;
}

/** Least-squares regression tree on residuals; splits at up to 16 quantiles of each feature. */
function growTree(x: Array<Record<string, number>>, y: number[], idx: number[], depth: number, minLeaf: number): Tree {
  const m = mean(idx.map((i) => y[i]!));
  if (depth === 0 || idx.length < 2 * minLeaf) return { leaf: m };
  let best: { feature: string; split: number; gain: number } | null = null;
  const total = idx.reduce((a, i) => a + y[i]!, 0);
  for (const n of names) {
    const sorted = [...idx].sort((a, b) => x[a]![n]! - x[b]![n]!);
    let sumL = 0;
    const step = Math.max(1, Math.floor(sorted.length / 16));
    for (let c = 0; c < sorted.length - 1; c++) {
      sumL += y[sorted[c]!]!;
      const nl = c + 1;
      const nr = sorted.length - nl;
      if (nl < minLeaf || nr < minLeaf || (nl % step !== 0)) continue;
      const v = x[sorted[c]!]![n]!;
      const next = x[sorted[c + 1]!]![n]!;
      if (v === next) continue;
      const gain = (sumL * sumL) / nl + ((total - sumL) ** 2) / nr;
      if (!best || gain > best.gain) best = { feature: n, split: (v + next) / 2, gain };
    }
  }
  if (!best) return { leaf: m };
  const left = idx.filter((i) => x[i]![best.feature]! <= best.split);
  const right = idx.filter((i) => x[i]![best.feature]! > best.split);
  return { feature: best.feature, split: best.split, left: growTree(x, y, left, depth - 1, minLeaf), right: growTree(x, y, right, depth - 1, minLeaf) };
}

/** Gradient-boosted regression trees (squared loss) on the mean d. */
function boostTrees(usable: readonly FeatureRow[], y: readonly number[]): (f: RouterFeatures) => number {
  const x = usable.map((r) => r.features as unknown as Record<string, number>);
  const base = mean(y);
  const trees: Tree[] = [];
  const pred = y.map(() => base);
  const all = x.map((_, i) => i);
  const shrink = Number(args.shrink);
  for (let k = 0; k < Number(args.rounds); k++) {
    const resid = y.map((v, i) => v - pred[i]!);
    const t = growTree(x, resid, all, Number(args.depth), Number(args['min-leaf']));
    trees.push(t);
    for (let i = 0; i < x.length; i++) pred[i]! += shrink * evalTree(t, x[i]!);
  }
  return (f) => base + shrink * trees.reduce((a, t) => a + evalTree(t, f as unknown as Record<string, number>), 0);
}

/** Threshold: best mean routed accuracy over the training models, with at least MIN_SHARE to retrieval. */
function chooseThreshold(usable: readonly FeatureRow[], preds: readonly number[], models: readonly string[]): number {
  const candidates = [...new Set(preds)].sort((a, b) => a - b);
  let best = { t: -Infinity, acc: -1 };
  for (let q = 0; q < candidates.length; q += Math.max(1, Math.floor(candidates.length / 400))) {
    const t = candidates[q]! - 1e-12;
    const rs = models.map((m) => routed(usable, preds, t, m));
    if (mean(rs.map((r) => r.share)) < MIN_SHARE) break;
    const acc = mean(rs.map((r) => r.acc));
    if (acc > best.acc) best = { t, acc };
  }
  return best.t;
}

function fit(train: readonly FeatureRow[], models: readonly string[]): Scorer {
  const usable = train.filter((r) => !Number.isNaN(meanD(r, models)));
  if (args.learner === 'trees') {
    const score = boostTrees(usable, usable.map((r) => meanD(r, models)));
    return { predict: score, threshold: chooseThreshold(usable, usable.map((r) => score(r.features)), models) };
  }
  const linear = fitLinear(usable, models);
  return { predict: (feats) => predict(linear, feats), threshold: linear.threshold };
}

function fitLinear(usable: readonly FeatureRow[], models: readonly string[]): Fitted {
  const cols = names.map((n) => usable.map((r) => r.features[n]));
  const means = cols.map((c) => mean(c));
  const scales = cols.map((c, j) => Math.sqrt(mean(c.map((v) => (v - means[j]!) ** 2))) || 1);
  const x = usable.map((r) => names.map((n, j) => (r.features[n] - means[j]!) / scales[j]!));
  const y = usable.map((r) => meanD(r, models));
  const intercept = mean(y);
  const weights = ridge(x, y.map((v) => v - intercept), LAMBDA);
  const f: Fitted = { names: [...names], means, scales, weights, intercept, threshold: 0 };
  f.threshold = chooseThreshold(usable, usable.map((r) => predict(f, r.features)), models);
  return f;
}

function folds(rs: readonly FeatureRow[], k: number): FeatureRow[][] {
  // Whole documents per fold, assigned in a fixed order so the split is reproducible.
  const docs = [...new Set(rs.map((r) => r.document))].sort();
  const fold = new Map(docs.map((d, i) => [d, i % k]));
  return Array.from({ length: k }, (_, i) => rs.filter((r) => fold.get(r.document) === i));
}

function univariate(model: string): void {
  console.log(`\nunivariate (Spearman-free view): mean d = RAG − full by feature tercile; ${model} and the mean of the other models`);
  const others = allModels.filter((m) => m !== model);
  for (const n of names) {
    const sorted = [...rows].sort((a, b) => a.features[n] - b.features[n]);
    const parts = [0, 1, 2].map((i) => sorted.slice(Math.floor((i * sorted.length) / 3), Math.floor(((i + 1) * sorted.length) / 3)));
    const cell = (p: FeatureRow[]) => {
      const dm = mean(p.filter((r) => r.judged[model]).map((r) => +r.judged[model]!.rag - +r.judged[model]!.full));
      const dO = mean(p.map((r) => meanD(r, others)).filter((v) => !Number.isNaN(v)));
      return `${pct(dm)} ${pct(dO)} [≤${p.at(-1)?.features[n].toFixed(2)}]`;
    };
    console.log(`${n.padEnd(18)} ${parts.map(cell).join(' | ')}`);
  }
}

function trainModels(model: string): string[] {
  if (args.train === 'others') return allModels.filter((m) => m !== model);
  if (args.train === 'self') return [model];
  return args.train!.split(',').filter((m) => m !== model);
}

function evaluate(model: string): void {
  const others = trainModels(model);
  const fs = folds(rows, FOLDS);
  const preds = new Map<FeatureRow, number>();
  const thresholds = new Map<FeatureRow, number>();
  for (let i = 0; i < fs.length; i++) {
    const train = fs.filter((_, j) => j !== i).flat();
    const f = fit(train, others);
    for (const r of fs[i]!) {
      preds.set(r, f.predict(r.features));
      thresholds.set(r, f.threshold);
    }
  }
  const js = rows.filter((r) => r.judged[model]);
  const acc = (pick: (r: FeatureRow) => boolean) => mean(js.map((r) => +(pick(r) ? r.judged[model]!.rag : r.judged[model]!.full)));
  const line = (label: string, rs: readonly FeatureRow[]) => {
    const m = (pick: (r: FeatureRow) => boolean) => mean(rs.map((r) => +(pick(r) ? r.judged[model]!.rag : r.judged[model]!.full)));
    const rag = m(() => true);
    const full = m(() => false);
    const toRag = (r: FeatureRow) => (args.probe && r.judged[model]!.ragDeclines) || preds.get(r)! > thresholds.get(r)!;
    const rt = m(toRag);
    const oracle = mean(rs.map((r) => +(r.judged[model]!.rag || r.judged[model]!.full)));
    const share = mean(rs.map((r) => +toRag(r)));
    console.log(`${label.padEnd(10)} ${String(rs.length).padStart(5)}   ${pct(rag)}   ${pct(full)}   ${pct(rt)}   ${pct(oracle)}   ${pct(share)}   ${((rt - Math.max(rag, full)) * 100).toFixed(1).padStart(6)}`);
  };
  console.log(`\n${model}: ${FOLDS}-fold by document, fitted on ${others.length} models' answers (${args.train}) (λ=${LAMBDA}, ≥${pct(MIN_SHARE)}% to RAG on training)`);
  console.log('group          n    RAG   full  routed oracle to-RAG  routed−best');
  for (const task of [...new Set(js.map((r) => r.task))].sort()) line(task, js.filter((r) => r.task === task));
  for (const len of [...new Set(js.map((r) => r.length))].sort()) line(len, js.filter((r) => r.length === len));
  line('all', js);
  void acc;
}

if (args.univariate) for (const m of args.model!) univariate(m);
for (const m of args.model!) evaluate(m);

// All models, leave-one-model-out: how often routing beats the best fixed strategy.
{
  console.log('\nleave-one-model-out over all models (5-fold by document each):');
  console.log('model                         RAG   full  routed oracle to-RAG  routed−best');
  const fs = folds(rows, FOLDS);
  for (const model of allModels) {
    const others = trainModels(model);
    if (others.length === 0) continue;
    const chosen = new Map<FeatureRow, boolean>();
    for (let i = 0; i < fs.length; i++) {
      const f = fit(fs.filter((_, j) => j !== i).flat(), others);
      for (const r of fs[i]!) chosen.set(r, (args.probe && !!r.judged[model]?.ragDeclines) || f.predict(r.features) > f.threshold);
    }
    const js = rows.filter((r) => r.judged[model]);
    const m = (pick: (r: FeatureRow) => boolean) => mean(js.map((r) => +(pick(r) ? r.judged[model]!.rag : r.judged[model]!.full)));
    const rag = m(() => true);
    const full = m(() => false);
    const rt = m((r) => chosen.get(r)!);
    const oracle = mean(js.map((r) => +(r.judged[model]!.rag || r.judged[model]!.full)));
    console.log(`${model.padEnd(28)} ${pct(rag)}  ${pct(full)}  ${pct(rt)}  ${pct(oracle)}  ${pct(mean(js.map((r) => +chosen.get(r)!)))}   ${((rt - Math.max(rag, full)) * 100).toFixed(1).padStart(6)}`);
  }
}
