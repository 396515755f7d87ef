/**
 * Measures context selection on a LaRA-style dataset without any LLM: for each
 * question, does the selected context reach the evidence segment(s), does it
 * contain the answer's words, and how much of the document does it read?
 *
 *   npx tsx eval/measure-retrieval.ts [--dataset ../shared/datasets/lara] [--limit N]
 *     [--chunk-tokens 400] [--overlap-tokens 40] [--scores bm25|all] [--sweep]
 *     [--lengths 32k,128k] [--tasks location,comp] [--out eval-out/retrieval.json]
 *     [--data-dir data/eval-embed] [--detail name,name]
 *
 * --limit N keeps the first N questions of each query file. --scores bm25 runs
 * without embeddings; all (default) adds dense and hybrid scores when the
 * embedder is available. --sweep adds variants of the Adaptive-k parameters.
 * Metrics per question (eval/lara/evidence.ts): evidence coverage, answer
 * support, and token ratio = cl100k tokens of the assembled context (overlaps
 * merged) / tokens of the document.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { cliHelp, exitOnHelp, type CliOptions } from '../src/cli/help.js';
import { chunkText } from '../src/core/ingest/chunker.js';
import type { TextChunk } from '../src/ports/token-work.js';
import { ADAPTIVE_K_DEFAULTS } from '../src/core/retrieval/adaptive-k.js';
import { assembleContext } from '../src/core/retrieval/assemble.js';
import { buildBm25Index, type Bm25Index } from '../src/core/retrieval/bm25.js';
import { DEFAULTS } from '../src/core/retrieval/defaults.js';
import { fuseWeighted, reciprocalRankFusion } from '../src/core/retrieval/fusion.js';
import { select, type Candidate, type SelectionMethod } from '../src/core/retrieval/select.js';
import { cl100k } from '../src/core/tokenizer.js';
import { loadLara, type LaraQuery } from './lara/dataset.js';
import { answerSupport, contentWords, evidenceCoverage, goldSpans, segmentSpans } from './lara/evidence.js';

interface Embedding {
  embedDocuments(texts: readonly string[]): Promise<Float32Array[]>;
  embedQuery(text: string): Promise<Float32Array>;
  close(): Promise<void>;
}

/** A score curve: its name says how it is computed ("bm25", "dense", "hybrid@0.5", "rrf"). */
type ScoreName = string;

interface Variant {
  name: string;
  score: ScoreName;
  method: SelectionMethod;
}

interface Doc {
  text: string;
  tokens: number;
  chunks: TextChunk[];
  chunkWords: Set<string>[];
  words: Set<string>;
  bm25: Bm25Index;
  vectors?: Float32Array[];
}

interface Row {
  id: string;
  task: string;
  length: string;
  type: string;
  variant: string;
  k: number;
  coverage: number;
  support: number | null;
  ratio: number;
  tokens: number;
  flat?: boolean;
  relativeGap?: number;
}

const OPTIONS = {
  dataset: { type: 'string', default: '../shared/datasets/lara' },
  limit: { type: 'string' },
  'chunk-tokens': { type: 'string', default: '400' },
  'overlap-tokens': { type: 'string', default: '40' },
  scores: { type: 'string', default: 'all' },
  sweep: { type: 'boolean', default: false },
  lengths: { type: 'string' },
  tasks: { type: 'string' },
  types: { type: 'string' },
  out: { type: 'string', default: 'eval-out/retrieval.json' },
  'data-dir': { type: 'string', default: 'data/eval-embed' },
  detail: { type: 'string' },
} satisfies CliOptions;
exitOnHelp(() =>
  cliHelp({
    usage: 'npx tsx eval/measure-retrieval.ts [options]',
    about:
      "Measures context selection on a LaRA-style dataset without any LLM: per question, whether the selected context reaches the evidence, contains the answer's words, and how much of the document it reads (token ratio).",
    options: OPTIONS,
    describe: {
      dataset: 'LaRA-style dataset directory',
      limit: 'first N questions of each query file',
      'chunk-tokens': 'chunk size in cl100k tokens',
      'overlap-tokens': 'chunk overlap in tokens',
      scores: 'bm25 (no embeddings) or all (adds dense and hybrid when the embedder is available)',
      sweep: 'add variants of the Adaptive-k parameters',
      lengths: 'only these lengths, e.g. 32k,128k',
      tasks: 'only these tasks, e.g. location,comp',
      types: 'only these document types, e.g. book,paper',
      out: 'JSON report',
      'data-dir': 'data dir (shared embedding cache)',
      detail: 'per-question detail for these methods (comma-separated names)',
    },
  }),
);
const { values: args } = parseArgs({ options: OPTIONS });

const chunkTokens = Number(args['chunk-tokens']);
const overlapTokens = Number(args['overlap-tokens']);
const limit = args.limit === undefined ? Infinity : Number(args.limit);
const list = (s: string | undefined) => (s ? s.split(',').map((x) => x.trim()) : undefined);

function variants(dense: boolean, sweep: boolean): Variant[] {
  const ak = DEFAULTS.adaptiveK;
  const { a, b, buffer } = ADAPTIVE_K_DEFAULTS;
  const published: SelectionMethod = { kind: 'adaptive-k', a, b, buffer };
  const v: Variant[] = [
    { name: 'top5-bm25', score: 'bm25', method: { kind: 'top-k', k: 5 } },
    { name: 'budget3k-bm25', score: 'bm25', method: { kind: 'token-budget', tokens: 3000 } },
    { name: 'ak-bm25', score: 'bm25', method: published },
  ];
  if (dense) {
    v.push(
      { name: 'top5-dense', score: 'dense', method: { kind: 'top-k', k: 5 } },
      { name: 'top5-hybrid', score: 'hybrid@0.5', method: { kind: 'top-k', k: 5 } },
      { name: 'budget3k-hybrid', score: 'hybrid@0.5', method: { kind: 'token-budget', tokens: 3000 } },
      { name: 'ak-dense', score: 'dense', method: published },
      { name: 'ak-hybrid', score: 'hybrid@0.5', method: published },
      { name: 'ak-rrf', score: 'rrf', method: published },
    );
  }
  const defScore = DEFAULTS.score === 'hybrid' ? `hybrid@${DEFAULTS.hybridAlpha}` : DEFAULTS.score;
  if (dense || DEFAULTS.score === 'bm25')
    v.push({ name: 'DEFAULT', score: defScore, method: { kind: 'adaptive-k', ...ak } });
  if (sweep) {
    const scores = dense ? ['bm25', 'dense', 'hybrid@0.3', 'hybrid@0.5', 'hybrid@0.7', 'rrf'] : ['bm25'];
    for (const s of scores) {
      for (const buffer of [10, 15]) v.push({ name: `ak-${s}-B${buffer}`, score: s, method: { ...published, buffer } });
      for (const t of [2000, 4000, 6000])
        v.push({ name: `ak-${s}-T${t}`, score: s, method: { ...published, bufferTokens: t } });
      for (const t of [4000, 6000, 8000])
        v.push({ name: `budget${t / 1000}k-${s}`, score: s, method: { kind: 'token-budget', tokens: t } });
      if (s === 'hybrid@0.3' || s === 'hybrid@0.7') v.push({ name: `ak-${s}`, score: s, method: published });
    }
  }
  return v;
}

async function loadEmbedder(dataDir: string): Promise<Embedding | undefined> {
  try {
    // Loaded at run time so the script still runs BM25-only where no embedder is built.
    const modPath = '../src/adapters/embedder/index.js';
    const { createEmbedder } = (await import(modPath)) as {
      createEmbedder: (cfg: unknown, deps: unknown) => Embedding | Promise<Embedding>;
    };
    const { loadConfig } = await import('../src/config.js');
    const { createLogger } = (await import('../src/logger.js')) as { createLogger: (level: string) => unknown };
    const { openSqlite, SQLITE_FILE } = await import('../src/adapters/sqlite/database.js');
    const { SqliteEmbeddingCache } = await import('../src/adapters/sqlite/embedding-cache.js');
    const cfg = loadConfig(process.env, { dotenvPath: null, overrides: { DATA_DIR: dataDir } });
    // Chunk vectors persist in the data dir's database, so a rerun embeds nothing it embedded before.
    const cache = new SqliteEmbeddingCache({ db: openSqlite(`${dataDir}/${SQLITE_FILE}`) });
    return await createEmbedder(cfg, { logger: createLogger('warn'), cache });
  } catch (err) {
    console.error(`dense scores unavailable: ${(err as Error).message}`);
    return undefined;
  }
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}

function mean(xs: readonly number[]): number {
  return xs.length === 0 ? Number.NaN : xs.reduce((s, x) => s + x, 0) / xs.length;
}

/** One question read by one variant: what it selected, and the evidence and answer words that holds. */
function measureVariant(
  q: LaraQuery,
  doc: Doc,
  v: Variant,
  scores: Float64Array,
  gold: ReturnType<typeof goldSpans>,
  segments: ReturnType<typeof segmentSpans> | undefined,
): Row {
  const candidates: Array<Candidate & { chunk: TextChunk }> = doc.chunks.map((c, i) => ({
    id: String(c.order),
    order: c.order,
    tokens: c.tokens,
    score: scores[i]!,
    chunk: c,
  }));
  const sel = select(candidates, v.method);
  const ctx = assembleContext(
    sel.selected.map((c) => ({
      documentId: q.docPath,
      chunkId: c.id,
      start: c.chunk.start,
      end: c.chunk.end,
      text: c.chunk.text,
      order: c.order,
    })),
    { getText: () => doc.text },
  );
  const spans = ctx.passages.map((p) => ({ start: p.start, end: p.end }));
  // Chunks end on sentence boundaries, so the words of the selected text are the union of the chunks' words.
  const selWords = new Set<string>();
  for (const c of sel.selected) for (const w of doc.chunkWords[c.order]!) selWords.add(w);
  return {
    id: q.id,
    task: q.task,
    length: q.length,
    type: q.type,
    variant: v.name,
    k: sel.selected.length,
    coverage: evidenceCoverage(spans, gold, segments),
    support: answerSupport(q.answer, doc.words, selWords),
    ratio: doc.tokens > 0 ? ctx.totalTokens / doc.tokens : 0,
    tokens: ctx.totalTokens,
    ...(sel.adaptiveK ? { flat: sel.adaptiveK.flat, relativeGap: sel.adaptiveK.relativeGap } : {}),
  };
}

type Agg = { n: number; coverage: number; support: number; ratio: number; k: number; tokens: number };

/** Per variant: the means over questions overall (micro), per task, and per task × length. */
function summarise(rows: readonly Row[], vs: readonly Variant[], tasks: readonly string[], lengths: readonly string[]) {
  const agg = (rs: readonly Row[]): Agg => ({
    n: rs.length,
    coverage: mean(rs.map((r) => r.coverage)),
    support: mean(rs.flatMap((r) => (r.support === null ? [] : [r.support]))),
    ratio: mean(rs.map((r) => r.ratio)),
    k: mean(rs.map((r) => r.k)),
    tokens: mean(rs.map((r) => r.tokens)),
  });
  return vs.map((v) => {
    const rs = rows.filter((r) => r.variant === v.name);
    const byTask = Object.fromEntries(tasks.map((t) => [t, agg(rs.filter((r) => r.task === t))]));
    const byCell = Object.fromEntries(
      tasks.flatMap((t) => lengths.map((l) => [`${t}@${l}`, agg(rs.filter((r) => r.task === t && r.length === l))])),
    );
    return { variant: v.name, score: v.score, method: v.method, overall: agg(rs), byTask, byCell };
  });
}

/** The table of every variant (with its weakest task and cell), then task × length tables of the `detail` variants. */
function printSummary(
  summary: ReturnType<typeof summarise>,
  tasks: readonly string[],
  lengths: readonly string[],
  detail: readonly string[],
): void {
  const f = (x: number) => (Number.isNaN(x) ? '  -  ' : x.toFixed(3));
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  console.log(
    `${'variant'.padEnd(24)} ${'cov'.padStart(6)} ${'sup'.padStart(6)} ${'read'.padStart(6)} ${'k'.padStart(6)}  min cov (task)   min sup (task)   min cell cov`,
  );
  for (const s of summary) {
    const t = Object.entries(s.byTask);
    const minCov = t.reduce((m, e) => (e[1].coverage < m[1].coverage ? e : m));
    const minSup = t.reduce((m, e) => (e[1].support < m[1].support ? e : m));
    const cells = Object.entries(s.byCell).filter(([, a]) => a.n > 0);
    const minCell = cells.reduce((m, e) => (e[1].coverage < m[1].coverage ? e : m));
    console.log(
      `${s.variant.padEnd(24)} ${f(s.overall.coverage).padStart(6)} ${f(s.overall.support).padStart(6)} ${pct(s.overall.ratio).padStart(6)} ${s.overall.k.toFixed(1).padStart(6)}  ` +
        `${f(minCov[1].coverage)} (${minCov[0]})`.padEnd(17) +
        `${f(minSup[1].support)} (${minSup[0]})`.padEnd(17) +
        `${f(minCell[1].coverage)} (${minCell[0]})`,
    );
  }
  for (const name of detail) {
    const s = summary.find((x) => x.variant === name);
    if (!s) continue;
    console.log(`\n${name}: coverage / support / read, per task × length`);
    console.log(`${'task'.padEnd(10)} ${lengths.map((l) => l.padStart(24)).join('')}`);
    for (const t of tasks) {
      console.log(
        `${t.padEnd(10)} ${lengths
          .map((l) => {
            const a = s.byCell[`${t}@${l}`]!;
            return `${f(a.coverage)}/${f(a.support)}/${pct(a.ratio)}`.padStart(24);
          })
          .join('')}`,
      );
    }
  }
}

async function main(): Promise<void> {
  const root = resolve(args.dataset!);
  const filters = { lengths: list(args.lengths), types: list(args.types), tasks: list(args.tasks) };
  const ds = loadLara(root, Object.fromEntries(Object.entries(filters).filter(([, v]) => v)) as typeof filters);
  for (const e of ds.errors) console.error(`malformed: ${e.file}:${e.line}: ${e.message}`);

  const embedder = args.scores === 'bm25' ? undefined : await loadEmbedder(resolve(args['data-dir']!));
  const vs = variants(embedder !== undefined, args.sweep!);
  const docs = new Map<string, Doc>();
  const rows: Row[] = [];
  const queries = ds.groups.flatMap((g) => g.queries.slice(0, limit).map((q) => ({ q, g })));
  const started = Date.now();

  const getDoc = async (q: LaraQuery): Promise<Doc> => {
    let d = docs.get(q.docPath);
    if (d) return d;
    const text = ds.documentText(q);
    const chunks = chunkText(text, { chunkTokens, overlapTokens });
    d = {
      text,
      tokens: cl100k.count(text),
      chunks,
      chunkWords: chunks.map((c) => contentWords(c.text)),
      words: contentWords(text),
      bm25: buildBm25Index(chunks.map((c) => c.text)),
    };
    if (embedder) d.vectors = await embedder.embedDocuments(chunks.map((c) => c.text));
    docs.set(q.docPath, d);
    return d;
  };

  let done = 0;
  for (const { q, g } of queries) {
    const doc = await getDoc(q);
    const gold = goldSpans(q, doc.text, g.nSegments);
    const segments = gold === 'full' ? segmentSpans(q.type, doc.text, g.nSegments) : undefined;
    const curves = new Map<ScoreName, Float64Array>();
    const bm25 = doc.bm25.score(q.question);
    curves.set('bm25', bm25);
    if (embedder && doc.vectors) {
      const qv = await embedder.embedQuery(q.question);
      const dense = Float64Array.from(doc.vectors, (v) => cosine(qv, v));
      curves.set('dense', dense);
      curves.set('rrf', reciprocalRankFusion([dense, bm25]));
    }
    const curve = (name: ScoreName): Float64Array => {
      let c = curves.get(name);
      if (!c && name.startsWith('hybrid@')) {
        c = fuseWeighted(curves.get('dense')!, bm25, Number(name.slice('hybrid@'.length)));
        curves.set(name, c);
      }
      if (!c) throw new Error(`no scores ${name}`);
      return c;
    };

    for (const v of vs) rows.push(measureVariant(q, doc, v, curve(v.score), gold, segments));
    done++;
    if (done % 100 === 0)
      console.error(
        `${done}/${queries.length} questions, ${docs.size} documents, ${((Date.now() - started) / 1000).toFixed(0)} s`,
      );
  }
  await embedder?.close();

  const tasks = [...new Set(rows.map((r) => r.task))];
  const lengths = [...new Set(rows.map((r) => r.length))];
  const summary = summarise(rows, vs, tasks, lengths);

  console.log(
    `\nchunks: ${chunkTokens} tokens, overlap ${overlapTokens}; ${queries.length} questions, ${docs.size} documents\n`,
  );
  printSummary(summary, tasks, lengths, list(args.detail) ?? ['top5-bm25', 'ak-bm25', 'DEFAULT']);

  const out = resolve(args.out!);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify({ chunkTokens, overlapTokens, questions: queries.length, documents: docs.size, errors: ds.errors, summary, rows }, null, 1)}\n`,
  );
  console.log(`\nwritten ${out}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
