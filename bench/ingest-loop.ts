/**
 * Event-loop benchmark of ingestion: how long the API's event loop is held
 * while a large upload is received (POST /v1/documents: the token count) and
 * ingested in process (the job: chunking, embedding, storing), with the
 * tokenizer work on the event loop (TOKENIZER_THREADS=0, the baseline) and on
 * a TokenPool thread (TOKENIZER_THREADS=1), measured in the same run.
 *
 * The text is LaRA 128k books (then papers) joined until --tokens cl100k
 * tokens: distinct documents, so no count is a memo hit. Each measurement runs
 * in a fresh child process (the token-count memo of one run would otherwise
 * serve the next), alternating baseline and threads for --rounds rounds.
 * The service runs in the child with embedded stores, the in-process queue
 * and real HTTP over loopback; the embedder is a stub of constant cost per
 * chunk (USE lite embeds on its own threads, and would take ~5 min for 1.5M
 * tokens), so what differs between the two paths is the tokenizer only.
 * While it runs, a client in the same process probes GET /healthz, one
 * request 10 ms after the other: the latency another request sees.
 *
 *   npx tsx bench/ingest-loop.ts [--tokens 1500000] [--rounds 2]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cliHelp, exitOnHelp, type CliOptions } from '../src/cli/help.js';
import type { Embedder } from '../src/ports/embedder.js';
import { median } from './stats.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const LARA = fileURLToPath(new URL('../../shared/datasets/lara/', import.meta.url));
const OPTIONS = {
  tokens: { type: 'string', default: '1500000' },
  rounds: { type: 'string', default: '2' },
  child: { type: 'string' },
  text: { type: 'string' },
} satisfies CliOptions;
exitOnHelp(() =>
  cliHelp({
    usage: 'npx tsx bench/ingest-loop.ts [options]',
    about:
      "How long the API's event loop is held while a large upload is received and ingested, tokenizer on the event loop (baseline) against a TokenPool thread, in the same run.",
    options: OPTIONS,
    describe: {
      tokens: 'cl100k tokens of the uploaded text',
      rounds: 'alternating rounds',
      child: '(internal) run one measurement in this child process',
      text: '(internal) text file of the child',
    },
  }),
);
const { values } = parseArgs({ options: OPTIONS });

type Mode = 'inline' | 'threads';
/** Between the joined documents (and where the second upload reverses them). */
const SEPARATOR = '\n\n\n\n';

interface Loop {
  maxMs: number;
  p99Ms: number;
  meanMs: number;
}

interface RunResult {
  mode: Mode;
  tokens: number;
  chunks: number;
  uploadMs: number;
  ingestMs: number;
  /** The response to a second large upload (the thread, if any, already started). */
  warmUploadMs: number;
  loop: { upload: Loop; ingest: Loop };
  probe: { count: number; maxMs: number; p99Ms: number };
}

/** Vectors of constant cost per chunk: a function of the text's length only. */
class StubEmbedder implements Embedder {
  readonly id = 'bench-stub-32';
  async dimensions(): Promise<number> {
    return 32;
  }
  async embedDocuments(texts: readonly string[]): Promise<Float32Array[]> {
    return texts.map((t) => {
      const v = new Float32Array(32);
      v[t.length % 32] = 1;
      return v;
    });
  }
  async embedQuery(text: string): Promise<Float32Array> {
    return (await this.embedDocuments([text]))[0]!;
  }
  async health(): Promise<void> {}
  async close(): Promise<void> {}
}

const ms = (ns: number) => ns / 1e6;
const summary = (h: IntervalHistogram): Loop => ({ maxMs: ms(h.max), p99Ms: ms(h.percentile(99)), meanMs: ms(h.mean) });
const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0;

async function child(mode: Mode, textPath: string): Promise<RunResult> {
  const { loadConfig } = await import('../src/config.js');
  const { createLogger } = await import('../src/logger.js');
  const { buildContainer } = await import('../src/container.js');
  const { embeddedService, serveInProcess } = await import('./serve.js');
  const text = await readFile(textPath, 'utf8');
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-ingest-loop-'));
  const config = loadConfig(process.env, {
    overrides: {
      ...embeddedService(dataDir),
      BODY_LIMIT_BYTES: 256 * 1024 * 1024,
      MAX_DOCUMENT_TOKENS: 10_000_000,
      TOKENIZER_THREADS: mode === 'inline' ? 0 : 1,
    },
  });
  const container = buildContainer(config, createLogger('warn'), {
    role: 'api',
    overrides: { embedder: new StubEmbedder() },
  });
  const { app, base } = await serveInProcess(container);
  const post = (body: unknown) =>
    fetch(`${base}/v1/documents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, json: (await r.json()) as any }));
  const status = async (id: string) => (await (await fetch(`${base}/v1/documents/${id}`)).json()) as any;
  const until = async (id: string) => {
    for (;;) {
      const d = await status(id);
      if (d.status === 'failed') throw new Error(`ingestion failed: ${JSON.stringify(d.error)}`);
      if (d.status === 'ready' && !d.pending) return d;
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  // Warm-up below the inline threshold (no thread): routes, stores and JIT, in both modes alike.
  const warm = await post({ id: 'warm-up', text: text.slice(0, 10_000) });
  if (warm.status !== 202) throw new Error(`warm-up upload: ${warm.status} ${JSON.stringify(warm.json)}`);
  await until('warm-up');

  let probing = true;
  const probeMs: number[] = [];
  const probe = (async () => {
    while (probing) {
      // Paced, not back to back (a saturating probe would take a core from the work measured). Timed from when
      // the request was due, as a client outside the process would see it: a stalled loop delays the send too.
      const due = performance.now() + 10;
      await new Promise((r) => setTimeout(r, 10));
      await fetch(`${base}/healthz`).then((r) => r.arrayBuffer());
      probeMs.push(performance.now() - due);
    }
  })();

  const uploadLoop = monitorEventLoopDelay({ resolution: 10 });
  uploadLoop.enable();
  let t = performance.now();
  const sub = await post({ id: 'big', title: 'LaRA books', text });
  const uploadMs = performance.now() - t;
  uploadLoop.disable();
  if (sub.status !== 202) throw new Error(`upload: ${sub.status} ${JSON.stringify(sub.json)}`);

  const ingestLoop = monitorEventLoopDelay({ resolution: 10 });
  ingestLoop.enable();
  t = performance.now();
  const doc = await until('big');
  const ingestMs = performance.now() - t;
  ingestLoop.disable();

  // A second large upload, the thread (if any) now started: the same documents in reverse order, so the whole-text count is no memo hit.
  const again = text.split(SEPARATOR).reverse().join(SEPARATOR);
  t = performance.now();
  const sub2 = await post({ id: 'big-2', title: 'LaRA books, reversed', text: again });
  const warmUploadMs = performance.now() - t;
  if (sub2.status !== 202) throw new Error(`second upload: ${sub2.status} ${JSON.stringify(sub2.json)}`);
  probing = false;
  await probe;

  await app.close();
  await rm(dataDir, { recursive: true, force: true });
  return {
    mode,
    tokens: doc.tokens,
    chunks: doc.chunkCount,
    uploadMs,
    ingestMs,
    warmUploadMs,
    loop: { upload: summary(uploadLoop), ingest: summary(ingestLoop) },
    probe: { count: probeMs.length, maxMs: Math.max(...probeMs), p99Ms: percentile(probeMs, 99) },
  };
}

function runChild(mode: Mode, textPath: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const c = spawn(
      process.execPath,
      ['--import', 'tsx', 'bench/ingest-loop.ts', '--child', mode, '--text', textPath],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d));
    c.on('error', reject);
    c.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${mode} run exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1)!) as RunResult);
      } catch (err) {
        reject(err);
      }
    });
  });
}

async function buildText(target: number): Promise<{ text: string; parts: number; tokens: number }> {
  const { cl100k } = await import('../src/core/tokenizer.js');
  const parts: string[] = [];
  let tokens = 0;
  for (const type of ['book', 'paper']) {
    const dir = join(LARA, 'documents/128k', type);
    for (const f of (await readdir(dir)).sort()) {
      if (tokens >= target) break;
      const t = await readFile(join(dir, f), 'utf8');
      parts.push(t);
      tokens += cl100k.count(t);
    }
  }
  const text = parts.join(SEPARATOR);
  return { text, parts: parts.length, tokens: cl100k.count(text) };
}

const f1 = (x: number) => x.toFixed(1);

async function main(): Promise<void> {
  if (values.child) {
    const r = await child(values.child as Mode, values.text!);
    console.log(JSON.stringify(r));
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'bench-ingest-loop-text-'));
  try {
    const { text, parts, tokens } = await buildText(Number(values.tokens));
    const textPath = join(dir, 'text.txt');
    await writeFile(textPath, text);
    console.log(
      `text: ${parts} LaRA 128k documents joined, ${(text.length / 1e6).toFixed(2)}M chars, ${tokens} cl100k tokens; stub embedder, embedded stores, in-process queue, HTTP over loopback`,
    );
    console.log(
      'mode     round  upload ms  ingest ms  2nd upload ms  loop max (upload/ingest) ms  loop p99 (upload/ingest) ms  /healthz probes  probe max ms  probe p99 ms  tokens   chunks',
    );
    const runs: RunResult[] = [];
    for (let round = 1; round <= Number(values.rounds); round++) {
      for (const mode of ['inline', 'threads'] as const) {
        const r = await runChild(mode, textPath);
        runs.push(r);
        console.log(
          `${mode.padEnd(8)} ${String(round).padStart(5)}  ${f1(r.uploadMs).padStart(9)}  ${f1(r.ingestMs).padStart(9)}  ${f1(r.warmUploadMs).padStart(13)}  ${`${f1(r.loop.upload.maxMs)} / ${f1(r.loop.ingest.maxMs)}`.padStart(27)}  ${`${f1(r.loop.upload.p99Ms)} / ${f1(r.loop.ingest.p99Ms)}`.padStart(27)}  ${String(r.probe.count).padStart(15)}  ${f1(r.probe.maxMs).padStart(12)}  ${f1(r.probe.p99Ms).padStart(12)}  ${r.tokens}  ${r.chunks}`,
        );
      }
    }
    const of = (mode: Mode, f: (r: RunResult) => number) => median(runs.filter((r) => r.mode === mode).map(f));
    const same = runs.every((r) => r.tokens === tokens && r.chunks === runs[0]!.chunks);
    console.log(`\nidentical results (tokens = ${tokens}, same chunk count) in every run: ${same}`);
    const ratio = (name: string, f: (r: RunResult) => number) => {
      const a = of('inline', f);
      const b = of('threads', f);
      console.log(
        `${name.padEnd(36)} inline ${f1(a).padStart(8)}  threads ${f1(b).padStart(8)}  inline/threads ${(a / b).toFixed(1)}x`,
      );
    };
    console.log('medians over rounds:');
    ratio('event-loop max delay, upload (ms)', (r) => r.loop.upload.maxMs);
    ratio('event-loop max delay, ingestion (ms)', (r) => r.loop.ingest.maxMs);
    ratio('event-loop p99 delay, ingestion (ms)', (r) => r.loop.ingest.p99Ms);
    ratio('/healthz latency max (ms)', (r) => r.probe.maxMs);
    ratio('upload response (ms)', (r) => r.uploadMs);
    ratio('second upload response (ms)', (r) => r.warmUploadMs);
    ratio('upload to ready (ms)', (r) => r.uploadMs + r.ingestMs);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
