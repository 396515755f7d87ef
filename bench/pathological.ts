/**
 * Texts without spaces against a book of the same size (issue 14: they froze
 * the API). Each text is uploaded over HTTP to an API in this process on
 * embedded defaults and ingested by its in-process queue: the time is from the
 * POST to the ingestion job's end (count at upload, chunking in the job,
 * storing), the stall the worst event-loop delay of the process meanwhile
 * (perf_hooks.monitorEventLoopDelay, 10 ms resolution: what every other
 * request of the API waited at most). Sizes are UTF-8 bytes; the book is LaRA
 * novels joined and cut to the same number of bytes (see freshBook), measured
 * in the same run.
 * Embedding is a hashing embedder here (tests/contract/llm-test-embedder.ts):
 * its cost is per chunk and bench/ingest.ts measures the real one, so the
 * times are the tokenizer's and the service's own. "tokenizer ms" is the
 * token work alone: the upload's count and the job's chunking, on a
 * TokenPool thread of their own (what the API and the worker run).
 *
 *   npx tsx bench/pathological.ts [--rounds 1] [--scale 1]
 *
 * --scale multiplies every size (0.1 for a quick look). Rounds alternate book
 * and text; the medians are printed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cliHelp, exitOnHelp, type CliOptions } from '../src/cli/help.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { buildContainer } from '../src/container.js';
import { buildApp } from '../src/app.js';
import { TokenPool } from '../src/infra/token-pool.js';
import { HashingEmbedder } from '../tests/contract/llm-test-embedder.js';
import { pathologicalText, type PathologicalKind } from '../tests/helpers/pathological.js';
import { seededRandom } from '../src/core/random.js';
import { median } from './stats.js';

const OPTIONS = {
  rounds: { type: 'string', default: '1' },
  scale: { type: 'string', default: '1' },
} satisfies CliOptions;
exitOnHelp(() =>
  cliHelp({
    usage: 'npx tsx bench/pathological.ts [options]',
    about:
      'Texts without spaces against a book of the same size: time from upload to indexed, and the worst event-loop stall meanwhile, in the same run.',
    options: OPTIONS,
    describe: {
      rounds: 'rounds of each case',
      scale: 'multiplies every size',
    },
  }),
);
const { values } = parseArgs({ options: OPTIONS });
const rounds = Number(values.rounds);
const scale = Number(values.scale);

const MB = 1_000_000;
const CASES: Array<{ name: string; kind: PathologicalKind; bytes: number }> = [
  { name: '2 MB of one letter', kind: 'one-letter', bytes: 2 * MB },
  { name: '60 KB of one CJK character', kind: 'one-cjk-char', bytes: 60_000 },
  { name: '1 MB of random ACGT', kind: 'acgt', bytes: MB },
  { name: '1 MB of base64', kind: 'base64', bytes: MB },
  { name: '1 MB of minified JavaScript', kind: 'minified-js', bytes: MB },
  { name: '1 MB of CJK prose (generated, with punctuation)', kind: 'cjk-prose', bytes: MB },
];

const LARA_BOOKS = fileURLToPath(new URL('../../shared/datasets/lara/documents/128k/book/', import.meta.url));
const library = readdirSync(LARA_BOOKS)
  .sort()
  .map((f) => readFileSync(join(LARA_BOOKS, f), 'utf8'))
  .join('\n\n');

/** The first `bytes` UTF-8 bytes of `text` repeated as needed, cut at a character. */
function ofBytes(text: string, bytes: number): string {
  let s = text;
  while (Buffer.byteLength(s) < bytes) s += `\n\n${text}`;
  return Buffer.from(s)
    .subarray(0, bytes)
    .toString('utf8')
    .replace(/\uFFFD$/, '');
}

let books = 0;
/**
 * A book of `bytes` never counted before in this process. The service
 * remembers the counts of text it has seen, block by content-defined block
 * (src/core/tokenizer.ts), so the same LaRA novels twice would cost the second
 * time nothing but hashing, while every pathological text is new. Each book is
 * the novels with the words of every line shuffled (a seed per book): the same
 * words, lengths, spaces and punctuation, which is what BPE's cost depends on,
 * in blocks never seen before.
 */
function freshBook(bytes: number): string {
  const random = seededRandom(++books);
  return ofBytes(library, bytes)
    .split('\n')
    .map((line) => {
      const words = line.split(' ');
      for (let i = words.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [words[i], words[j]] = [words[j]!, words[i]!];
      }
      return words.join(' ');
    })
    .join('\n');
}

/** A text of `kind` of `bytes` UTF-8 bytes (CJK characters are 3 bytes each). */
function pathological(kind: PathologicalKind, bytes: number): string {
  const probe = pathologicalText(kind, 1000);
  const perChar = Buffer.byteLength(probe) / probe.length;
  return pathologicalText(kind, Math.floor(bytes / perChar));
}

const dataDir = await mkdtemp(join(tmpdir(), 'air-bench-patho-'));
const config = loadConfig(
  {},
  {
    dotenvPath: null,
    overrides: {
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      PORT: 0,
      REDIS_URL: '',
      VECTOR_STORE: 'embedded',
      RATE_LIMIT_PER_MINUTE: 0,
      AUTH: 'off',
      MAX_DOCUMENT_TOKENS: 20_000_000,
      BODY_LIMIT_BYTES: 32 * MB,
    },
  },
);
const container = buildContainer(config, createLogger(config.LOG_LEVEL), {
  role: 'api',
  overrides: { embedder: new HashingEmbedder() },
});
container.warm();
const app = await buildApp(container);
await container.runner?.start();
await app.listen({ host: '127.0.0.1', port: 0 });
const addr = app.server.address();
const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
// Let the tokenizer thread load before the first measurement.
await new Promise((r) => setTimeout(r, 1500));

let seq = 0;
interface Run {
  tokenMs: number;
  ms: number;
  stallMs: number;
  uploadMs: number;
  tokens: number;
  chunks: number;
}

const pool = new TokenPool({ threads: 1, inlineBelowChars: 0 });
pool.warm();

async function ingest(original: string): Promise<Run> {
  // A text of its own each run: a repeated one would be counted from the token-count memo.
  const text = `${original}\n\nRun ${seq}.`;
  const t = performance.now();
  await pool.count(text);
  await pool.chunk(text, { chunkTokens: config.CHUNK_TOKENS, overlapTokens: config.CHUNK_OVERLAP_TOKENS });
  const tokenMs = performance.now() - t;
  const id = `doc-${seq++}`;
  // Serialised before the clock starts: the client's JSON.stringify is not the service's stall.
  const body = Buffer.from(JSON.stringify({ id, text }));
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/documents`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  const uploadMs = performance.now() - t0;
  const submitted = (await res.json()) as { jobId: string; document: { tokens: number } };
  if (res.status !== 202) throw new Error(`upload answered ${res.status}: ${JSON.stringify(submitted)}`);
  for (;;) {
    const job = (await (await fetch(`${url}/v1/jobs/${submitted.jobId}`)).json()) as { state: string; error: unknown };
    if (job.state === 'completed') break;
    if (job.state === 'failed') throw new Error(`job failed: ${JSON.stringify(job.error)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const ms = performance.now() - t0;
  delay.disable();
  const doc = (await (await fetch(`${url}/v1/documents/${id}`)).json()) as { chunkCount: number };
  // Deleted so that the next runs store and index into the same small store.
  await fetch(`${url}/v1/documents/${id}`, { method: 'DELETE' });
  return { tokenMs, ms, stallMs: delay.max / 1e6, uploadMs, tokens: submitted.document.tokens, chunks: doc.chunkCount };
}

// Warm-up, not printed: the first runs of a process pay for JIT compilation (the first book measured took ~2.5x
// per byte what later ones did).
await ingest(freshBook(200_000));
for (const c of CASES) await ingest(pathological(c.kind, 50_000));

const pad = (s: string, n: number): string => s.padEnd(n);
const num = (x: number, d = 0): string => x.toFixed(d).padStart(8);
console.log(
  `bench/pathological: ${rounds} round(s), scale ${scale}; time = POST to ingestion job done; stall = worst event-loop delay meanwhile; book = LaRA novels cut to the same UTF-8 size, words shuffled within lines (a book never counted before)`,
);
console.log(
  `${pad('text', 50)} ${'bytes'.padStart(9)} ${'tokens'.padStart(8)} ${'chunks'.padStart(8)} ${'tokenizer'.padStart(9)} ${'202 ms'.padStart(8)} ${'time ms'.padStart(8)} ${'stall ms'.padStart(8)} ${'tok/book'.padStart(9)} ${'time/book'.padStart(9)} ${'stall/book'.padStart(10)}`,
);
const bookRunsOf = new Map<number, Run[]>();
let worstRatio = 0;
let worstTokRatio = 0;
for (const c of CASES) {
  const bytes = Math.round(c.bytes * scale);
  const text = pathological(c.kind, bytes);
  const bookRuns = bookRunsOf.get(bytes) ?? [];
  const runs: Run[] = [];
  for (let r = 0; r < rounds; r++) {
    bookRuns.push(await ingest(freshBook(Buffer.byteLength(text))));
    runs.push(await ingest(text));
  }
  bookRunsOf.set(bytes, bookRuns);
  const med = (xs: Run[], k: keyof Run): number => median(xs.map((x) => x[k]));
  const ratio = med(runs, 'ms') / med(bookRuns, 'ms');
  const tokRatio = med(runs, 'tokenMs') / med(bookRuns, 'tokenMs');
  worstRatio = Math.max(worstRatio, ratio);
  worstTokRatio = Math.max(worstTokRatio, tokRatio);
  const line = (label: string, xs: Run[], ratios: string[]): string =>
    `${pad(label, 50)} ${String(Buffer.byteLength(text)).padStart(9)} ${num(med(xs, 'tokens'))} ${num(med(xs, 'chunks'))} ${num(med(xs, 'tokenMs')).padStart(9)} ${num(med(xs, 'uploadMs'))} ${num(med(xs, 'ms'))} ${num(med(xs, 'stallMs'), 1)} ${(ratios[0] ?? '').padStart(9)} ${(ratios[1] ?? '').padStart(9)} ${(ratios[2] ?? '').padStart(10)}`;
  console.log(line('  normal book, same size', bookRuns, []));
  console.log(
    line(c.name, runs, [
      `${tokRatio.toFixed(2)}x`,
      `${ratio.toFixed(2)}x`,
      `${(med(runs, 'stallMs') / med(bookRuns, 'stallMs')).toFixed(2)}x`,
    ]),
  );
}
console.log(
  `worst ratio to the book: tokenizer ${worstTokRatio.toFixed(2)}x, end to end ${worstRatio.toFixed(2)}x (target: at most 3x)`,
);

await pool.close();
await app.close();
await container.close();
await rm(dataDir, { recursive: true, force: true });
