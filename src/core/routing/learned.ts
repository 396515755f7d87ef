import type { RouterFeatures } from './features.js';

/**
 * A learned preference for retrieval over reading the whole text: a linear
 * score over standardised question features (./features.ts), fitted by
 * eval/fit-router.ts to predict, per question, how much more often a reader
 * answers right from the Adaptive-k passages than from the whole document
 * (mean over LaRA's recorded models; Li et al., 2025, arXiv 2502.09977). The
 * score is in those units: +0.1 means retrieval is expected to be right on 10
 * more questions in 100 than full context.
 */
export interface LearnedPreference {
  /** Where the weights come from, in words (shown in decisions). */
  fittedOn: string;
  lambda: number;
  minRagShare: number;
  features: Array<{ name: string; mean: number; scale: number; weight: number }>;
  intercept: number;
  /** A question goes to retrieval when its score exceeds this. */
  threshold: number;
}

export interface PreferenceScore {
  score: number;
  threshold: number;
  /** Each feature's share of the score (weight × standardised value), largest magnitude first. */
  contributions: Array<{ name: keyof RouterFeatures; value: number; contribution: number }>;
}

/** Scores `features` under `model`; unknown feature names are a programming error. */
export function scorePreference(model: LearnedPreference, features: RouterFeatures): PreferenceScore {
  let score = model.intercept;
  const contributions: PreferenceScore['contributions'] = [];
  for (const f of model.features) {
    const value = (features as unknown as Record<string, number | undefined>)[f.name];
    if (value === undefined || !Number.isFinite(value)) throw new TypeError(`router feature ${f.name} is missing or not finite`);
    const contribution = (f.weight * (value - f.mean)) / (f.scale || 1);
    score += contribution;
    contributions.push({ name: f.name as keyof RouterFeatures, value, contribution });
  }
  contributions.sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution));
  return { score, threshold: model.threshold, contributions };
}
