import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import type { DocumentRecord } from '../../ports/document-store.js';
import type { JobInfo, JobState } from '../../ports/job-queue.js';
import type { JobRecord } from '../../ports/job-store.js';
import type { ApiKeyRecord } from '../../ports/key-store.js';
import { CHUNK_IMPORT_01_STEPS } from './import-0.1-chunks.js';
import type { Import01Context, Import01Step } from './import-0.1-step.js';
import { sqlite } from './errors.js';

/**
 * Import of a DATA_DIR written by release 0.1 (its file stores) into the
 * stores of this one. Run once: by `npm run import-0.1`, or at the first start
 * of a process on a DATA_DIR that holds 0.1 files and no finished import. The
 * 0.1 files are read, never changed or removed (delete them by hand once the
 * import is checked).
 *
 * 0.1's layout (tests/fixtures/data-0.1 is one, written by the 0.1 code):
 * ```
 * documents/<ns>/records/<id>.json          DocumentRecord
 * documents/<ns>/texts/<id>/<version>.txt    the text of a version
 * api-keys.json                              ApiKeyRecord[]
 * jobs/<sha256(id)[0:40]>.json                { v: 1, info: JobInfo, maxAttempts, retryAt }
 * vectors/d<dims>/<ns>/<id>/…                chunks and vectors (imported by a step of the chunk store)
 * embedding-cache/<model>.bin                the embedding cache (likewise)
 * ```
 * where every `<…>` name is {@link decodeName}'s encoding.
 *
 * Each part is an {@link Import01Step}; a store that keeps a part of the data
 * adds its step to {@link IMPORT_01_STEPS}. Steps write only what is missing,
 * so an import cut short (a crash) runs again whole at the next start without
 * overwriting what the service changed meanwhile.
 */

export interface Import01Summary {
  /** Per step, what it counted (imported, skipped, ...). */
  steps: Record<string, Record<string, number>>;
  finishedAt: string;
}

export type { Import01Context, Import01Step } from './import-0.1-step.js';

/** The name of the import in the `data_imports` table and of the job that serialises it. */
export const IMPORT_01 = 'import-0.1';

/** What marks a DATA_DIR as written by 0.1. */
const LEGACY_ENTRIES = ['documents', 'api-keys.json', 'jobs', 'vectors', 'embedding-cache'];

export function has01Data(dataDir: string): boolean {
  return LEGACY_ENTRIES.some((e) => existsSync(join(dataDir, e)));
}

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';

/**
 * A name of 0.1's file stores back to the namespace, id or version it
 * encodes: lowercase RFC 4648 base32 of the UTF-8 bytes, without padding.
 * Null for a name 0.1 could not have written.
 */
export function decodeName(name: string): string | null {
  if (!/^[a-z2-7]+$/.test(name)) return null;
  const bytes: number[] = [];
  let bits = 0;
  let acc = 0;
  for (const ch of name) {
    acc = ((acc << 5) | B32.indexOf(ch)) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bytes.push((acc >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  const text = Buffer.from(bytes).toString('utf8');
  return text !== '' && encodeName(text) === name ? text : null;
}

async function entries(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * Documents and the texts their records point at (the live version and a
 * pending one), the live text stored first so that the pending version, going
 * live, drops it. Texts no record points at are what 0.1's crashes left
 * behind (issue 14, item 6): counted, not imported.
 */
const documentsStep: Import01Step = {
  name: 'documents',
  async run(ctx) {
    const counts = { documents: 0, alreadyThere: 0, texts: 0, missingTexts: 0, unreferencedTexts: 0 };
    const root = join(ctx.dataDir, 'documents');
    for (const nsName of await entries(root)) {
      if (decodeName(nsName) === null) continue;
      const recordsDir = join(root, nsName, 'records');
      const referenced = new Set<string>();
      for (const file of await entries(recordsDir)) {
        if (!file.endsWith('.json') || file.startsWith('.')) continue;
        const record = JSON.parse(await readFile(join(recordsDir, file), 'utf8')) as DocumentRecord;
        const textsDir = join(root, nsName, 'texts', file.slice(0, -'.json'.length));
        const versions = [record.version, record.pending?.version].filter(
          (v): v is string => typeof v === 'string' && v !== '',
        );
        for (const version of versions) {
          referenced.add(`${file}/${version}`);
          if ((await ctx.documents.getText(record.namespace, record.id, version)) !== null) continue;
          const path = join(textsDir, `${encodeName(version)}.txt`);
          if (!existsSync(path)) {
            counts.missingTexts++;
            continue;
          }
          await ctx.documents.putText(record.namespace, record.id, version, await readFile(path, 'utf8'));
          counts.texts++;
        }
        let created = false;
        await ctx.documents.update(record.namespace, record.id, (cur) => {
          created = cur === null;
          return cur ?? record;
        });
        if (created) counts.documents++;
        else counts.alreadyThere++;
      }
      for (const idName of await entries(join(root, nsName, 'texts'))) {
        for (const textFile of await entries(join(root, nsName, 'texts', idName))) {
          const version = textFile.endsWith('.txt') ? decodeName(textFile.slice(0, -'.txt'.length)) : null;
          if (version !== null && !referenced.has(`${idName}.json/${version}`)) counts.unreferencedTexts++;
        }
      }
    }
    return counts;
  },
};

/** API keys, by the hash of their secret: a key already there (or added meanwhile) is kept as it is. */
const keysStep: Import01Step = {
  name: 'keys',
  async run(ctx) {
    const counts = { keys: 0, alreadyThere: 0 };
    const path = join(ctx.dataDir, 'api-keys.json');
    if (!existsSync(path)) return counts;
    for (const key of JSON.parse(await readFile(path, 'utf8')) as ApiKeyRecord[]) {
      if (await ctx.keys.findByHash(key.hash)) {
        counts.alreadyThere++;
        continue;
      }
      await ctx.keys.add(key);
      counts.keys++;
    }
    return counts;
  },
};

interface Stored01Job {
  v: 1;
  info: JobInfo;
  maxAttempts: number;
  retryAt: number | null;
}

const STATES: ReadonlySet<JobState> = new Set(['waiting', 'active', 'completed', 'failed', 'delayed']);

/**
 * A 0.1 job as a record of this release. A run 0.1 left active was cut short
 * by a killed process: it counts as an attempt, and the job waits for another
 * run, or fails when that was its last (as 0.1 itself did on reloading it).
 */
export function jobFrom01(stored: Stored01Job, now: number): JobRecord {
  const i = stored.info;
  const base: JobRecord = {
    id: i.id,
    name: i.name,
    state: i.state,
    progress: i.progress,
    attempts: i.attempts,
    data: i.data,
    result: i.result ?? null,
    error: i.error ?? null,
    createdAt: i.createdAt,
    finishedAt: i.finishedAt ?? null,
    maxAttempts: stored.maxAttempts,
    runAt: i.state === 'delayed' ? (stored.retryAt ?? now) : now,
    owner: null,
    leaseUntil: null,
  };
  if (i.state !== 'active') return base;
  if (i.attempts < stored.maxAttempts) return { ...base, state: 'waiting', progress: 0 };
  return {
    ...base,
    state: 'failed',
    progress: 0,
    error: {
      code: 'CANCELLED',
      message: `The process running this job stopped during its last attempt (${i.attempts} of ${stored.maxAttempts})`,
    },
    finishedAt: new Date(now).toISOString(),
  };
}

/** The jobs 0.1's API kept in `jobs/`: finished ones stay readable at GET /v1/jobs/:id, unfinished ones run. */
const jobsStep: Import01Step = {
  name: 'jobs',
  async run(ctx) {
    const counts = { jobs: 0, alreadyThere: 0, unreadable: 0 };
    const dir = join(ctx.dataDir, 'jobs');
    for (const file of await entries(dir)) {
      if (!file.endsWith('.json')) continue;
      let stored: Stored01Job;
      try {
        stored = JSON.parse(await readFile(join(dir, file), 'utf8')) as Stored01Job;
        if (stored?.v !== 1 || typeof stored.info?.id !== 'string' || !STATES.has(stored.info.state))
          throw new Error('not a 0.1 job record');
      } catch (err) {
        // 0.1 skipped these too (a torn write of a killed process): nothing of them was readable.
        ctx.logger.warn({ err, file }, 'import 0.1: skipping an unreadable job file');
        counts.unreadable++;
        continue;
      }
      if (await ctx.jobs.restore(jobFrom01(stored, Date.now()))) counts.jobs++;
      else counts.alreadyThere++;
    }
    return counts;
  },
};

/**
 * The parts of the import, in order. A store that keeps more of 0.1's data
 * (chunks and vectors, the embedding cache) adds its step here.
 */
export const IMPORT_01_STEPS: readonly Import01Step[] = [documentsStep, keysStep, jobsStep, ...CHUNK_IMPORT_01_STEPS];

/** Whether the import has finished on this database, and with what. */
export function finished01Import(db: Database.Database): Import01Summary | null {
  const row = sqlite('imports.get', () =>
    db.prepare<[string], { summary: string }>('SELECT summary FROM data_imports WHERE name = ?').get(IMPORT_01),
  );
  return row ? (JSON.parse(row.summary) as Import01Summary) : null;
}

/** Runs the steps and records the import as finished. Prefer {@link importOnce}, which keeps two processes from running it at once. */
export async function run01Import(
  ctx: Import01Context,
  steps: readonly Import01Step[] = IMPORT_01_STEPS,
): Promise<Import01Summary> {
  const summary: Import01Summary = { steps: {}, finishedAt: '' };
  for (const step of steps) {
    summary.steps[step.name] = await step.run(ctx);
    ctx.logger.info({ step: step.name, ...summary.steps[step.name] }, 'import 0.1: step done');
  }
  summary.finishedAt = new Date().toISOString();
  sqlite('imports.finish', () =>
    ctx.sqlite
      .prepare('REPLACE INTO data_imports (name, finished_at, summary) VALUES (?, ?, ?)')
      .run(IMPORT_01, summary.finishedAt, JSON.stringify(summary)),
  );
  return summary;
}

export interface ImportOnceOptions {
  steps?: readonly Import01Step[];
  /** Run even if an import finished before (the steps still only add what is missing). Default false. */
  force?: boolean;
  /** How long this process's hold on the import lasts without renewal; another process takes it over after. Default 30 000. */
  leaseMs?: number;
}

/**
 * Imports the 0.1 data of `ctx.dataDir` unless that has been done (or there is
 * none): null then. Processes starting together on one DATA_DIR run it once:
 * the import is a job of the job store, claimed by one of them (leased, so a
 * process that dies mid-import hands it over); the others wait for it to finish.
 */
export async function importOnce(ctx: Import01Context, opts: ImportOnceOptions = {}): Promise<Import01Summary | null> {
  if (!opts.force && (finished01Import(ctx.sqlite) || !has01Data(ctx.dataDir))) return null;
  const leaseMs = opts.leaseMs ?? 30_000;
  const owner = `import:${process.pid}:${Math.random().toString(36).slice(2, 10)}`;
  const existing = await ctx.jobs.get(IMPORT_01);
  // A finished import job (a forced re-run, or one that failed) makes way for this run.
  if (existing?.state === 'completed' || existing?.state === 'failed')
    await ctx.jobs.remove(IMPORT_01, existing.finishedAt);
  await ctx.jobs.insert({ id: IMPORT_01, name: IMPORT_01, data: { dataDir: ctx.dataDir }, maxAttempts: 3 }, Date.now());
  for (;;) {
    const job = await ctx.jobs.claim(owner, [IMPORT_01], leaseMs, Date.now());
    if (job) {
      const renew = setInterval(
        () => void ctx.jobs.renew(IMPORT_01, owner, leaseMs, Date.now()).catch(() => undefined),
        Math.floor(leaseMs / 3),
      );
      try {
        const summary = await run01Import(ctx, opts.steps);
        await ctx.jobs.finish(IMPORT_01, owner, { state: 'completed', result: summary }, Date.now());
        return summary;
      } catch (err) {
        const error = { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
        await ctx.jobs.finish(IMPORT_01, owner, { state: 'failed', error }, Date.now()).catch(() => undefined);
        throw err;
      } finally {
        clearInterval(renew);
      }
    }
    const now = await ctx.jobs.get(IMPORT_01);
    if (now?.state === 'completed') return now.result as Import01Summary;
    if (now?.state === 'failed')
      throw new Error(`the import of 0.1 data failed in another process: ${now.error?.message}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** 0.1's encoding of a name (see decodeName). */
function encodeName(value: string): string {
  let out = '';
  let bits = 0;
  let acc = 0;
  for (const b of Buffer.from(value, 'utf8')) {
    acc = ((acc << 8) | b) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      out += B32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(acc << (5 - bits)) & 31];
  return out;
}
