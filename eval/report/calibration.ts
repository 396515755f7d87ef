/** The judge calibration's result (eval/calibrate-judge.ts), as the reports print it. */
export interface CalibrationCell {
  model: string;
  length: string;
  task: string;
  /** Accuracy 0–1 under the judge. */
  full: number;
  rag: number;
  /** full − rag, 0–1 scale. */
  gap: number;
  n: { full: number; rag: number };
  /** Published gap in points, when there is one. */
  published: number | null;
  sameSign: boolean | null;
}

export interface Agreement {
  /** Published gaps compared. */
  n: number;
  signAgree: number;
  /** Pearson correlation of our gaps with the published ones (null below 3 pairs). */
  pearson: number | null;
  /** Mean |ours − published| in points. */
  meanAbsDiff: number | null;
}

export interface CalibrationReport {
  judge: string;
  note: string;
  cells: CalibrationCell[];
  /** Mean gap over the models, per length, next to the published average. */
  averages: Array<{ length: string; models: number; gap: number; published: number | null }>;
  agreement: Agreement;
}
