/**
 * How long the catalogue's SQLite calls hold the event loop (better-sqlite3 is
 * synchronous): each heavy call of the document and job stores, timed as the
 * event loop sees it, beside the work the same request already does on the
 * event loop with the same data (parsing the JSON body of an upload,
 * serialising the response), measured in the same run.
 *
 * Usage: npx tsx bench/catalogue-stall.ts [--mb 20] [--docs 10000] [--runs 5]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { cliHelp, exitOnHelp, type CliOptions } from '../src/cli/help.js';
import { openSqlite, SQLITE_FILE } from '../src/adapters/sqlite/database.js';
import { SqliteDocumentStore } from '../src/adapters/sqlite/document-store.js';
import { SqliteJobStore } from '../src/adapters/sqlite/job-store.js';
import type { DocumentRecord } from '../src/ports/document-store.js';
import { median } from './stats.js';

const OPTIONS = {
  mb: { type: 'string', default: '20' },
  docs: { type: 'string', default: '10000' },
  runs: { type: 'string', default: '5' },
} satisfies CliOptions;
exitOnHelp(() =>
  cliHelp({
    usage: 'npx tsx bench/catalogue-stall.ts [options]',
    about:
      "How long the catalogue's SQLite calls hold the event loop, beside the JSON work the same request does on the same data, in the same run.",
    options: OPTIONS,
    describe: {
      mb: 'upload size in MB',
      docs: 'documents in the catalogue',
      runs: 'runs of each call',
    },
  }),
);
const { values } = parseArgs({ options: OPTIONS });
const MB = Number(values.mb);
const DOCS = Number(values.docs);
const RUNS = Number(values.runs);

/**
 * How long the event loop was busy (not waiting for I/O or a thread) while
 * `fn` ran: for a synchronous better-sqlite3 call, all of it; for a call on
 * the text thread, the encoding, decoding and messaging only. Event-loop
 * utilisation, not wall time, so waiting on a loaded machine does not count.
 */
async function timed(fn: () => unknown): Promise<number> {
  const before = performance.eventLoopUtilization();
  await fn();
  return performance.eventLoopUtilization(before).active;
}

async function medianOf(fn: (i: number) => unknown): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) times.push(await timed(() => fn(i)));
  return median(times);
}

const record = (i: number): DocumentRecord => ({
  namespace: 'bench',
  id: `doc-${String(i).padStart(6, '0')}`,
  title: `Document ${i}`,
  status: 'ready',
  version: `v${i}`,
  pending: null,
  chars: 1000 + i,
  tokens: 250,
  chunkCount: 3,
  metadata: { source: 'bench', tags: ['a', 'b'] },
  source: 'json',
  error: null,
  createdAt: new Date(1_800_000_000_000 + i * 1000).toISOString(),
  updatedAt: new Date(1_800_000_000_000 + i * 1000).toISOString(),
});

const dir = await mkdtemp(join(tmpdir(), 'bench-catalogue-'));
try {
  const db = openSqlite(join(dir, SQLITE_FILE));
  const docs = new SqliteDocumentStore({ db, textThread: false });
  const threaded = new SqliteDocumentStore({ db });
  const jobs = new SqliteJobStore({ db, writeThread: false });
  const threadedJobs = new SqliteJobStore({ db });
  db.transaction(() => {
    for (let i = 0; i < DOCS; i++) void docs.put(record(i));
  })();

  const text = 'The harbour master logged every boat. '
    .repeat(Math.ceil((MB * 1024 * 1024) / 38))
    .slice(0, MB * 1024 * 1024);
  const body = JSON.stringify({ id: 'big', text });
  const rows: Array<[string, number, number, string]> = [];

  const parse = await medianOf(() => JSON.parse(body));
  rows.push([
    `putText ${MB} MB, event loop`,
    await medianOf((i) => docs.putText('bench', 'big', `v${i}`, text)),
    parse,
    `JSON.parse of its ${MB} MB upload`,
  ]);
  rows.push([
    `putText ${MB} MB, write thread`,
    await medianOf((i) => threaded.putText('bench', 'big', `w${i}`, text)),
    parse,
    `JSON.parse of its ${MB} MB upload`,
  ]);
  const serialise = await medianOf(() => JSON.stringify({ text }));
  rows.push([
    `getText ${MB} MB`,
    await medianOf(() => docs.getText('bench', 'big', 'v0')),
    serialise,
    'JSON.stringify of the same text',
  ]);

  const page = (await docs.list('bench', { limit: 20 })).items;
  const pageJson = await medianOf(() => JSON.stringify({ items: page }));
  let cursor: string | null = null;
  rows.push([
    `list 20 of ${DOCS}`,
    await medianOf(async () => (cursor = (await docs.list('bench', { limit: 20, cursor })).next)),
    pageJson,
    'JSON.stringify of the page',
  ]);
  const one = await docs.get('bench', 'doc-005000');
  rows.push([
    'get one record',
    await medianOf((i) => docs.get('bench', `doc-${String(i * 997).padStart(6, '0')}`)),
    await medianOf(() => JSON.stringify(one)),
    'JSON.stringify of the record',
  ]);
  rows.push([
    'update one record',
    await medianOf((i) =>
      docs.update('bench', `doc-${String(i * 991).padStart(6, '0')}`, (c) => ({ ...c!, title: `t${i}` })),
    ),
    await medianOf(() => JSON.stringify(one)),
    'JSON.stringify of the record',
  ]);

  // A finished batch of 1000 questions: the largest job result the API stores and serves.
  const item = {
    id: 'q',
    question: 'How many boats did the harbour master log in the spring?',
    ok: true,
    result: {
      answer: 'x'.repeat(600),
      decision: { strategy: 'rag', reasons: ['a'.repeat(200)], signals: Array.from({ length: 40 }, (_, k) => k / 40) },
      passages: Array.from({ length: 5 }, () => ({ text: 'p'.repeat(800), start: 0, end: 800 })),
    },
  };
  const result = {
    items: Array.from({ length: 1000 }, (_, k) => ({ ...item, id: String(k) })),
    summary: { questions: 1000 },
  };
  const resultJson = JSON.stringify(result);
  const finishing = (store: SqliteJobStore, prefix: string) => async (i: number) => {
    await store.insert({ id: `${prefix}-${i}`, name: 'bench', data: {}, maxAttempts: 1 }, Date.now());
    await store.claim('bench', ['bench'], 30_000, Date.now());
    await store.finish(`${prefix}-${i}`, 'bench', { state: 'completed', result }, Date.now());
  };
  const resultMb = (resultJson.length / 1024 / 1024).toFixed(1);
  rows.push([
    `job finish (${resultMb} MB result), event loop`,
    await medianOf(finishing(jobs, 'job')),
    await medianOf(() => JSON.stringify(result)),
    'JSON.stringify of the result',
  ]);
  rows.push([
    `job finish (${resultMb} MB result), write thread`,
    await medianOf(finishing(threadedJobs, 'jobt')),
    await medianOf(() => JSON.stringify(result)),
    'JSON.stringify of the result',
  ]);
  rows.push([
    'job get (same result)',
    await medianOf(() => jobs.get('job-0')),
    await medianOf(() => JSON.stringify(result)),
    'JSON.stringify of the result',
  ]);
  await threaded.close();
  await threadedJobs.close();
  db.close();

  console.log(
    `catalogue stall: median of ${RUNS}, ms the event loop is busy (event-loop utilisation); baseline = what the same request already does with the same data`,
  );
  console.log('| call | store ms | baseline ms | ratio | baseline |');
  console.log('|---|---|---|---|---|');
  for (const [name, store, base, what] of rows)
    console.log(`| ${name} | ${store.toFixed(2)} | ${base.toFixed(2)} | ${(store / base).toFixed(2)} | ${what} |`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
