import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EvalSummary } from '../harness/eval-summary.js';
import type { ResultRow } from '../harness/types.js';
import { htmlReport } from './html.js';
import { markdownReport } from './markdown.js';

/** Writes report.md and report.html next to summary.json. */
export async function writeReports(dir: string, summary: EvalSummary, rows: readonly ResultRow[]): Promise<void> {
  await writeFile(join(dir, 'report.md'), markdownReport(summary));
  await writeFile(join(dir, 'report.html'), htmlReport(summary, rows));
}

export { htmlReport } from './html.js';
export { markdownReport } from './markdown.js';
