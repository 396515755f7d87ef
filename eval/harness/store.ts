import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FailureRow, ResultRow } from './types.js';

export const RESULTS_FILE = 'results.jsonl';
export const ERRORS_FILE = 'errors.jsonl';
export const MANIFEST_FILE = 'run.json';

/** What a results directory was made with; a re-run must agree on what changes the numbers. */
export interface RunManifest {
  dataset: string;
  judge: string;
  reader: string;
  embedder: string;
  /** Settings the numbers depend on (chunking, Adaptive-k, router thresholds, window...). */
  settings: Record<string, unknown>;
}

/**
 * Lines of a JSONL file that parse, and how many did not (a torn last line
 * after a kill, or damage). `rewrite` is the text to write back when the file
 * needs repair (bad lines, or no final newline), else null.
 */
async function readJsonl<T>(path: string): Promise<{ items: T[]; dropped: number; rewrite: string | null }> {
  if (!existsSync(path)) return { items: [], dropped: 0, rewrite: null };
  const text = await readFile(path, 'utf8');
  const items: T[] = [];
  const kept: string[] = [];
  let dropped = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      items.push(JSON.parse(line) as T);
      kept.push(line);
    } catch {
      dropped++;
    }
  }
  const needsRepair = dropped > 0 || (text.length > 0 && !text.endsWith('\n'));
  return { items, dropped, rewrite: needsRepair ? kept.map((l) => `${l}\n`).join('') : null };
}

/**
 * The results of one run directory, kept so that an interrupted run resumes:
 * every finished (question, strategy) pair is appended to results.jsonl the
 * moment it finishes, so a kill loses at most the pairs in flight. On open, a
 * torn last line is cut off (its pair is simply run again); the last row per
 * key wins, so the file never yields a pair twice. Failures go to
 * errors.jsonl and are retried on the next run.
 */
export class ResultStore {
  private readonly byKey = new Map<string, ResultRow>();
  private readonly failed = new Map<string, FailureRow>();
  private chain: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    /** Lines dropped on open (torn or unreadable): their pairs run again. */
    readonly repaired: number,
  ) {}

  static async open(dir: string): Promise<ResultStore> {
    await mkdir(dir, { recursive: true });
    const resultsPath = join(dir, RESULTS_FILE);
    const results = await readJsonl<ResultRow>(resultsPath);
    if (results.rewrite !== null) {
      // Without the bad lines, and ending in a newline so later appends start on a fresh line.
      await writeFile(`${resultsPath}.tmp`, results.rewrite);
      await rename(`${resultsPath}.tmp`, resultsPath);
    }
    const errorsPath = join(dir, ERRORS_FILE);
    const errors = await readJsonl<FailureRow>(errorsPath);
    if (errors.rewrite !== null) {
      await writeFile(`${errorsPath}.tmp`, errors.rewrite);
      await rename(`${errorsPath}.tmp`, errorsPath);
    }
    const store = new ResultStore(dir, results.dropped);
    for (const r of results.items) if (r && typeof r.key === 'string') store.byKey.set(r.key, r);
    for (const f of errors.items)
      if (f && typeof f.key === 'string' && !store.byKey.has(f.key)) store.failed.set(f.key, f);
    return store;
  }

  has(key: string): boolean {
    return this.byKey.has(key);
  }

  get size(): number {
    return this.byKey.size;
  }

  /** Every finished row, one per key, in the seeded question order then strategy. */
  rows(): ResultRow[] {
    return [...this.byKey.values()].sort(
      (a, b) => a.order - b.order || (a.strategy < b.strategy ? -1 : a.strategy > b.strategy ? 1 : 0),
    );
  }

  /** Pairs whose latest attempt failed and that have no result. */
  failures(): FailureRow[] {
    return [...this.failed.values()].filter((f) => !this.byKey.has(f.key));
  }

  /** Appends one finished row; appends are serialised so lines never interleave. */
  append(row: ResultRow): Promise<void> {
    this.byKey.set(row.key, row);
    this.failed.delete(row.key);
    return this.write(RESULTS_FILE, row);
  }

  fail(f: FailureRow): Promise<void> {
    if (!this.byKey.has(f.key)) this.failed.set(f.key, f);
    return this.write(ERRORS_FILE, f);
  }

  /** Waits for every pending append. */
  flush(): Promise<void> {
    return this.chain;
  }

  private write(file: string, value: unknown): Promise<void> {
    const line = `${JSON.stringify(value)}\n`;
    this.chain = this.chain.then(() => appendFile(join(this.dir, file), line));
    return this.chain;
  }

  async readManifest(): Promise<RunManifest | null> {
    const p = join(this.dir, MANIFEST_FILE);
    if (!existsSync(p)) return null;
    return JSON.parse(await readFile(p, 'utf8')) as RunManifest;
  }

  async writeManifest(m: RunManifest): Promise<void> {
    await writeFile(join(this.dir, MANIFEST_FILE), `${JSON.stringify(m, null, 1)}\n`);
  }
}

/**
 * Why a results directory cannot be resumed with these settings (null when it
 * can): mixing verdicts of two judges or answers of two readers in one
 * summary would make its numbers mean nothing.
 */
export function manifestConflict(previous: RunManifest, next: RunManifest): string | null {
  const diffs: string[] = [];
  for (const k of ['dataset', 'judge', 'reader', 'embedder'] as const) {
    if (previous[k] !== next[k]) diffs.push(`${k}: ${JSON.stringify(previous[k])} → ${JSON.stringify(next[k])}`);
  }
  const keys = new Set([...Object.keys(previous.settings), ...Object.keys(next.settings)]);
  for (const k of [...keys].sort()) {
    const a = JSON.stringify(previous.settings[k]);
    const b = JSON.stringify(next.settings[k]);
    if (a !== b) diffs.push(`${k}: ${a} → ${b}`);
  }
  return diffs.length === 0 ? null : diffs.join('; ');
}
