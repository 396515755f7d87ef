import type { SelectionMethod } from '../../src/core/retrieval/select.js';
import type { ModelReplay } from '../replay/summary.js';
import type { BackendDescription } from './backend.js';
import type { SelectionFilters } from './dataset.js';
import type { LatencySummary, StrategySummary } from './metrics.js';
import type { BrokenInput, FailureRow } from './types.js';

/** What one evaluation run measured: summary.json, and what the reports print. Its own module, so the reports need not import the runner that writes them. */
export interface EvalSummary {
  dataset: string;
  filters: SelectionFilters;
  seed: number;
  limit: number | null;
  strategies: Array<{ key: string; label: string; selection: SelectionMethod }>;
  judge: { name: string; approximate: boolean };
  backend: BackendDescription;
  questions: { available: number; selected: number; answered: number };
  pairs: { expected: number; answered: number; failed: number };
  /** Dataset lines that could not be used: never run, never counted as answered. */
  broken: { count: number; items: BrokenInput[] };
  /** Unreadable lines of the replayed models' prediction files: those questions count as without a recorded answer. */
  predictionErrors: { count: number; items: BrokenInput[] };
  failures: { count: number; items: FailureRow[] };
  results: StrategySummary[];
  replay: ModelReplay[];
  interrupted: boolean;
  /** Wall clock: varies between runs, unlike everything above. */
  timing: {
    wallMs: number;
    pairsRun: number;
    questionsRun: number;
    msPerQuestion: number | null;
    msPerPair: number | null;
    latency: LatencySummary[];
  };
}
