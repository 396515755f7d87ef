import type { CueName } from './cues.js';
import type { RouterThresholds } from './policy.js';

/**
 * Where the retrieval probe is not needed (see ./plan.ts). Chosen by
 * document-level cross-validation on LaRA dev (docs/calibration.md); 0 turns a
 * rule off.
 */
export interface ProbeZones {
  /**
   * Clearly diffuse: the policy chose a whole-text strategy and the question
   * carries one of these cues; it is read whole at once, without a retrieval
   * answer first.
   */
  directCues: readonly CueName[];
  /** Clearly diffuse, too: the policy chose a whole-text strategy and the largest score gap is below this share of the score range. */
  directMaxRelativeGap: number;
  /**
   * Clearly concentrated: the policy chose retrieval, the largest score gap is
   * at least this share of the score range...
   */
  trustMinRelativeGap: number;
  /** ...and the best chunk holds at least this share of the question's terms (that the documents use); its answer is kept whatever its length. */
  trustMinTopCoverage: number;
}

/** Everything the router reads from the settings; built from config in the container. */
export interface RouterSettings {
  thresholds: RouterThresholds;
  /** The escalation strategy auto uses with a generative reader by default. */
  escalation: 'probe' | 'self-route' | 'none';
  /** The probe's answer-length limit at the balanced preference (0.5), in tokens. */
  probeMaxAnswerTokens: number;
  /** Default preference: 0 cheapest … 1 most accurate (see probeLimit). */
  preference: number;
  zones: ProbeZones;
}

/**
 * The probe's answer-length limit for a preference between 0 (cheapest: keep
 * nearly every retrieval answer) and 1 (most accurate: keep only answers that
 * decline). 0.5 gives the calibrated limit; below it the limit grows linearly
 * to ten times that at 0, above it it shrinks linearly to 0 at 1. A retrieval
 * answer kept saves a whole-text read; one escalated costs it, and is more
 * often right on LaRA (docs/calibration.md has the frontier this sweeps).
 */
export function probeLimit(preference: number, balanced: number): number {
  const p = Math.min(1, Math.max(0, preference));
  if (p <= 0.5) return Math.round(balanced * (1 + 18 * (0.5 - p)));
  return Math.round(balanced * 2 * (1 - p));
}
