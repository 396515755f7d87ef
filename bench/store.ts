/**
 * The embedded stores on one synthetic namespace: release 0.1's file stores
 * (file document store and the part-file vector store) against this release's
 * SQLite database, built from the same documents and measured in the same run.
 *
 *   npx tsx bench/store.ts                         # quick: 100 documents, 30k chunks
 *   npx tsx bench/store.ts --documents 1000 --chunks 300000   # the issue's size
 *     [--dims 512] [--words 250] [--runs 9] [--backends file-0.1,sqlite] [--baseline-ref <commit>]
 *   npx tsx bench/store.ts --backends file-0.1,sqlite,postgres [--database-url postgres://…]   # PostgreSQL beside them
 *
 * Per backend it prints:
 * - build: writing the namespace (documents, texts, chunks with vectors);
 * - list page: one page of 20 documents (the first, and one deep in the list), median of --runs;
 * - get document: one catalogue record, median;
 * - score 128k: exact cosine scores for every chunk of the 128k-token document,
 *   cold (a fresh store instance: read from disk) and warm (held in memory), medians;
 * - lexical top-200: the 200 best chunks of the whole namespace for a question by BM25.
 *   0.1 had no index spanning a namespace: its way is to read every chunk and build a
 *   BM25 index in memory (measured once, cold, then warm from the built index);
 *   SQLite asks its FTS5 index, median over --runs questions;
 * - commit: the store writes of one ingestion (text, record, ~300 chunks in batches of 64,
 *   the flip, removal of the old version), median;
 * - disk: bytes on disk after the build.
 * For SQLite, every call runs on the event loop (better-sqlite3 is synchronous), so its
 * time is also how long it holds the event loop.
 *
 * 0.1's stores are loaded from the git history (`--baseline-ref`, default the
 * last commit that had them), extracted into a temporary directory: the
 * baseline is the real 0.1 code, not a copy kept in this tree.
 *
 * Synthetic text: words drawn from a Zipf(1) vocabulary of 50 000 made-up words;
 * one document has 128k tokens' worth of chunks (356 chunks of 400 tokens with 40
 * of overlap), the others share the rest of --chunks evenly. A chunk's `tokens` is
 * the nominal 400 (no tokenizer runs). Vectors are random of --dims (USE-lite's 512).
 *
 * Backends are a list (BACKENDS): each opens its stores on a directory and
 * closes them. `postgres` (DATABASE_URL with VECTOR_STORE=postgres) needs a server: --database-url, by
 * default the machine's at 127.0.0.1:5432; it works in a schema of its own, dropped at the end.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, mkdir, readdir, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cliHelp, exitOnHelp, type CliOptions } from '../src/cli/help.js';
import pg from 'pg';
import { PgDatabase } from '../src/adapters/postgres/database.js';
import { PostgresDocumentStore } from '../src/adapters/postgres/document-store.js';
import { PostgresVectorStore } from '../src/adapters/postgres/vector-store.js';
import { openSqlite, SQLITE_FILE } from '../src/adapters/sqlite/database.js';
import { SqliteDocumentStore } from '../src/adapters/sqlite/document-store.js';
import { SqliteVectorStore } from '../src/adapters/sqlite/vector-store.js';
import { buildBm25Index } from '../src/core/retrieval/bm25.js';
import { chunkId } from '../src/core/ids.js';
import { seededRandom } from '../src/core/random.js';
import type { DocumentRecord, DocumentStore } from '../src/ports/document-store.js';
import type {
  ChunkRecord,
  DocumentVersionRef,
  ScoredChunk,
  StoredChunk,
  VectorStore,
} from '../src/ports/vector-store.js';
import { median } from './stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const OPTIONS = {
  documents: { type: 'string', default: '100' },
  chunks: { type: 'string', default: '30000' },
  dims: { type: 'string', default: '512' },
  words: { type: 'string', default: '250' },
  runs: { type: 'string', default: '9' },
  backends: { type: 'string', default: 'file-0.1,sqlite' },
  'baseline-ref': { type: 'string', default: 'd45b39582af46be06c5daa200a77d503b64a8544' },
  seed: { type: 'string', default: '1' },
  'database-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
} satisfies CliOptions;
exitOnHelp(() =>
  cliHelp({
    usage: 'npx tsx bench/store.ts [options]',
    about:
      "The embedded stores on one synthetic namespace: release 0.1's file stores against this release's SQLite database (and PostgreSQL), built from the same documents and measured in the same run.",
    options: OPTIONS,
    describe: {
      documents: 'documents in the namespace',
      chunks: 'chunks in the namespace',
      dims: 'vector dimensions',
      words: 'words per chunk',
      runs: 'runs of each measurement',
      backends: 'file-0.1, sqlite, postgres (comma-separated)',
      'baseline-ref': 'commit whose 0.1 stores are the baseline',
      seed: 'random seed',
      'database-url': 'PostgreSQL URL (backend postgres)',
    },
  }),
);
const { values: args } = parseArgs({ options: OPTIONS });
const DOCS = Number(args.documents);
const CHUNKS = Number(args.chunks);
const DIMS = Number(args.dims);
/** The embedding model id the stores are readied with (the vectors are random). */
const MODEL = 'bench-random';
const WORDS = Number(args.words);
const RUNS = Number(args.runs);
const NS = 'bench';
const BIG_CHUNKS = 356;
const COMMIT_CHUNKS = 300;
const BATCH = 64;
const VOCABULARY = 50_000;
const TOP = 200;

/** The stores of one backend on a directory, and how it answers a namespace-wide lexical top-k. */
interface Opened {
  documents: DocumentStore;
  vectors: VectorStore;
  lexicalTop(refs: readonly DocumentVersionRef[], question: string, k: number): Promise<ScoredChunk[]>;
  /** The same on the event loop, where the backend normally runs it elsewhere (SQLite's search thread): what that thread saves. */
  lexicalTopInline?(refs: readonly DocumentVersionRef[], question: string, k: number): Promise<ScoredChunk[]>;
  close(): Promise<void>;
}

interface Backend {
  name: string;
  /** Opens the stores on `dir` (created empty by the caller, or holding what an earlier open wrote). */
  open(dir: string): Promise<Opened>;
  /** Bytes the backend stores, for one that keeps them outside `dir` (a server); default: the size of `dir`. */
  size?(): Promise<number>;
  /** Removes what the backend stored outside `dir`. */
  dispose?(): Promise<void>;
}

/** 0.1's way to a namespace-wide lexical top-k: every chunk of every document read, a BM25 index built over them, kept. */
function scanLexical(vectors: VectorStore): Opened['lexicalTop'] {
  let built: { key: string; chunks: ChunkRecord[]; index: ReturnType<typeof buildBm25Index> } | null = null;
  return async (refs, question, k) => {
    const key = refs.map((r) => `${r.documentId}@${r.version}`).join('|');
    if (built?.key !== key) {
      const chunks = (await Promise.all(refs.map((r) => vectors.getChunks(NS, r)))).flat();
      built = { key, chunks, index: buildBm25Index(chunks.map((c) => c.text)) };
    }
    const scores = built.index.score(question);
    const order = [...scores.keys()].filter((i) => scores[i]! > 0).sort((a, b) => scores[b]! - scores[a]!);
    return order.slice(0, k).map((i) => ({ chunk: built!.chunks[i]!, score: scores[i]! }));
  };
}

/** 0.1's file stores, from the git history at `ref`. */
function fileStores01(ref: string): Backend {
  let modules: Promise<{
    FileDocumentStore: new (o: { dir: string }) => DocumentStore;
    EmbeddedVectorStore: new (o: { dir: string }) => VectorStore;
  }> | null = null;
  const load = () =>
    (modules ??= (async () => {
      const dir = await mkdtemp(join(tmpdir(), 'bench-store-0.1-'));
      process.on('exit', () => execFileSync('rm', ['-rf', dir]));
      const tar = execFileSync('git', ['-C', ROOT, 'archive', ref, 'src'], { maxBuffer: 1 << 30 });
      execFileSync('tar', ['-x', '-C', dir], { input: tar });
      await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
      const docs = (await import(join(dir, 'src/adapters/document-store/file.ts'))) as { FileDocumentStore: never };
      const vecs = (await import(join(dir, 'src/adapters/vector-store/embedded.ts'))) as { EmbeddedVectorStore: never };
      return { FileDocumentStore: docs.FileDocumentStore, EmbeddedVectorStore: vecs.EmbeddedVectorStore };
    })());
  return {
    name: 'file-0.1',
    async open(dir) {
      const m = await load();
      const documents = new m.FileDocumentStore({ dir: join(dir, 'documents') });
      const vectors = new m.EmbeddedVectorStore({ dir: join(dir, 'vectors') });
      await vectors.ensureReady(DIMS, MODEL);
      return {
        documents,
        vectors,
        lexicalTop: scanLexical(vectors),
        close: async () => (await vectors.close(), await documents.close()),
      };
    },
  };
}

const sqlite: Backend = {
  name: 'sqlite',
  async open(dir) {
    const db = openSqlite(join(dir, SQLITE_FILE));
    const documents = new SqliteDocumentStore({ db });
    const vectors = new SqliteVectorStore({ db });
    const inline = new SqliteVectorStore({ db, searchThread: false });
    await vectors.ensureReady(DIMS, MODEL);
    await inline.ensureReady(DIMS, MODEL);
    return {
      documents,
      vectors,
      lexicalTop: (refs, q, k) => vectors.searchText(NS, refs, q, k),
      lexicalTopInline: (refs, q, k) => inline.searchText(NS, refs, q, k),
      close: async () => {
        await vectors.close();
        await inline.close();
        await documents.close();
        db.close();
      },
    };
  },
};

/**
 * PostgreSQL at --database-url (the machine's server by default): the documents and chunks of a deployment with
 * DATABASE_URL and VECTOR_STORE=postgres, in a schema of the run's own, dropped at the end. The server's buffer cache
 * outlives a store instance, so "cold" here means a new process's pool, not a cold disk.
 */
function postgres(url: string): Backend {
  const schema = `bench_${randomUUID().replace(/-/g, '')}`;
  const admin = async <T extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<T[]> => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query<T>(sql, values)).rows;
    } finally {
      await client.end();
    }
  };
  let created: Promise<unknown> | null = null;
  const schemaUrl = new URL(url);
  schemaUrl.searchParams.set('options', `-c search_path=${schema}`);
  return {
    name: 'postgres',
    async open() {
      created ??= admin(`CREATE SCHEMA ${schema}`);
      await created;
      const db = new PgDatabase({ url: schemaUrl.toString() });
      const documents = new PostgresDocumentStore({ db });
      const vectors = new PostgresVectorStore({ db });
      await vectors.ensureReady(DIMS, MODEL);
      return {
        documents,
        vectors,
        lexicalTop: (refs, q, k) => vectors.searchText(NS, refs, q, k),
        close: async () => {
          await vectors.close();
          await documents.close();
          await db.close();
        },
      };
    },
    async size() {
      const [row] = await admin<{ bytes: string }>(
        `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')`,
        [schema],
      );
      return Number(row?.bytes ?? 0);
    },
    async dispose() {
      if (created) await admin(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    },
  };
}

const BACKENDS: Record<string, () => Backend> = {
  postgres: () => postgres(args['database-url']!),
  'file-0.1': () => fileStores01(args['baseline-ref']!),
  sqlite: () => sqlite,
};

// --- synthetic namespace -------------------------------------------------

/** Draws the namespace's text and vectors; reset per backend, so every backend gets the same namespace. */
let current = seededRandom(Number(args.seed));
/** Draws the questions and the query vector, once. */
const rand = seededRandom(Number(args.seed) + 1);
const vocabulary = Array.from({ length: VOCABULARY }, (_, i) => syllables(i));
/** Zipf(1) cumulative weights over the vocabulary, for sampling by binary search. */
const cumulative = (() => {
  const c = new Float64Array(VOCABULARY);
  let s = 0;
  for (let i = 0; i < VOCABULARY; i++) c[i] = s += 1 / (i + 1);
  return c.map((x) => x / s);
})();

function syllables(n: number): string {
  const parts = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'to', 'vi', 'de', 'fu', 'ga', 'ho', 'ji', 'be', 'po', 'zu'];
  let w = '';
  let x = n + 17;
  do {
    w += parts[x % 16];
    x = Math.floor(x / 16);
  } while (x > 0);
  return w;
}

function word(): string {
  const u = current();
  let lo = 0;
  let hi = VOCABULARY - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid]! < u) lo = mid + 1;
    else hi = mid;
  }
  return vocabulary[lo]!;
}

function sentence(words: number): string {
  const ws = Array.from({ length: words }, word);
  return `${ws.join(' ')}.`;
}

function vector(draw: () => number = current): Float32Array {
  const v = new Float32Array(DIMS);
  for (let i = 0; i < DIMS; i++) v[i] = draw() * 2 - 1;
  return v;
}

interface SynthDoc {
  id: string;
  version: string;
  chunks: StoredChunk[];
  text: string;
}

function synthDoc(i: number, n: number, version = 'v1'): SynthDoc {
  const id = `doc-${String(i).padStart(5, '0')}`;
  let at = 0;
  const chunks: StoredChunk[] = [];
  const texts: string[] = [];
  for (let order = 0; order < n; order++) {
    const text = sentence(WORDS);
    texts.push(text);
    chunks.push({
      id: chunkId(NS, id, version, order),
      namespace: NS,
      documentId: id,
      version,
      order,
      start: at,
      end: at + text.length,
      tokens: 400,
      text,
      vector: vector(),
    });
    at += text.length + 1;
  }
  return { id, version, chunks, text: texts.join(' ') };
}

function record(d: SynthDoc, now: string): DocumentRecord {
  return {
    namespace: NS,
    id: d.id,
    title: d.id,
    status: 'ready',
    version: d.version,
    pending: null,
    chars: d.text.length,
    tokens: d.chunks.length * 360,
    chunkCount: d.chunks.length,
    metadata: {},
    source: 'bench',
    error: null,
    createdAt: now,
    updatedAt: now,
  };
}

/** Document i's chunk count: the first is the 128k-token book, the others share the rest. */
const chunksOf = (i: number): number =>
  i === 0
    ? BIG_CHUNKS
    : Math.floor((CHUNKS - BIG_CHUNKS) / (DOCS - 1)) + (i - 1 < (CHUNKS - BIG_CHUNKS) % (DOCS - 1) ? 1 : 0);

async function ingest(s: Opened, d: SynthDoc): Promise<void> {
  await s.documents.putText(NS, d.id, d.version, d.text);
  await s.documents.update(
    NS,
    d.id,
    (cur) =>
      cur ?? {
        ...record(d, new Date().toISOString()),
        status: 'indexing',
        version: null,
        pending: { version: d.version, jobId: d.id },
      },
  );
  for (let i = 0; i < d.chunks.length; i += BATCH) await s.vectors.upsert(NS, d.chunks.slice(i, i + BATCH));
  await s.documents.update(NS, d.id, (cur) => ({ ...cur!, ...record(d, cur!.createdAt) }), {
    dropTextsStoredBefore: d.version,
  });
  await s.vectors.deleteDocument(NS, d.id, { keepVersion: d.version });
  await s.documents.deleteTexts(NS, d.id, { keepVersion: d.version });
}

async function du(path: string): Promise<number> {
  const st = await stat(path);
  if (!st.isDirectory()) return st.size;
  let n = 0;
  for (const e of await readdir(path)) n += await du(join(path, e));
  return n;
}

/** Wall time, CPU time of the process (every thread), and the longest the event loop went without a tick (1 ms timer). */
interface Took {
  ms: number;
  cpuMs: number;
  stallMs: number;
}

async function timed<T>(fn: () => Promise<T>): Promise<Took & { value: T }> {
  let last = performance.now();
  let stall = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    stall = Math.max(stall, now - last);
    last = now;
  }, 1);
  const c = process.cpuUsage();
  const t = performance.now();
  const value = await fn();
  const ms = performance.now() - t;
  const cpu = process.cpuUsage(c);
  stall = Math.max(stall, performance.now() - last);
  clearInterval(tick);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, stallMs: stall, value };
}

async function medianOf(runs: number, fn: (i: number) => Promise<unknown>): Promise<Took> {
  const all: Took[] = [];
  for (let i = 0; i < runs; i++) all.push(await timed(() => fn(i)));
  return {
    ms: median(all.map((t) => t.ms)),
    cpuMs: median(all.map((t) => t.cpuMs)),
    stallMs: Math.max(...all.map((t) => t.stallMs)),
  };
}

// --- run -----------------------------------------------------------------

interface Row {
  backend: string;
  buildS: number;
  diskMb: number;
  ops: Record<string, Took>;
}

const names = args
  .backends!.split(',')
  .map((s) => s.trim())
  .filter(Boolean);
for (const n of names)
  if (!BACKENDS[n]) throw new Error(`unknown backend ${n}: one of ${Object.keys(BACKENDS).join(', ')}`);
const root = await mkdtemp(join(tmpdir(), 'bench-store-'));
const questions = Array.from(
  { length: RUNS + 1 },
  () =>
    `what does ${vocabulary[200 + Math.floor(rand() * 5000)]} say about ${vocabulary[20 + Math.floor(rand() * 500)]} and ${vocabulary[5000 + Math.floor(rand() * 20000)]}?`,
);
const query = vector(rand);
console.log(
  `bench/store: ${DOCS} documents, ${CHUNKS} chunks (${WORDS} words each), ${DIMS}-d vectors; backends ${names.join(', ')}`,
);

const rows: Row[] = [];
const used: Backend[] = [];
try {
  for (const name of names) {
    const backend = BACKENDS[name]!();
    used.push(backend);
    const dir = join(root, name);
    await mkdir(dir, { recursive: true });
    let s = await backend.open(dir);
    current = seededRandom(Number(args.seed));
    const t0 = performance.now();
    const refs: DocumentVersionRef[] = [];
    for (let i = 0; i < DOCS; i++) {
      const d = synthDoc(i, chunksOf(i));
      await ingest(s, d);
      refs.push({ documentId: d.id, version: d.version });
    }
    const buildS = (performance.now() - t0) / 1000;
    await s.close();
    const diskMb = (backend.size ? await backend.size() : await du(dir)) / 2 ** 20;

    s = await backend.open(dir);
    const first = await s.documents.list(NS, { limit: 20 });
    let deepCursor = first.next;
    for (let p = 0; p < Math.floor(DOCS / 40) && deepCursor; p++)
      deepCursor = (await s.documents.list(NS, { limit: 20, cursor: deepCursor })).next;
    const ops: Record<string, Took> = {};
    ops['list page'] = await medianOf(RUNS, () => s.documents.list(NS, { limit: 20 }));
    ops['list page deep'] = await medianOf(RUNS, () => s.documents.list(NS, { limit: 20, cursor: deepCursor }));
    ops['get document'] = await medianOf(RUNS, (i) => s.documents.get(NS, refs[(i * 37) % DOCS]!.documentId));
    const big = [refs[0]!];
    const fresh: Opened[] = [];
    for (let i = 0; i < Math.min(RUNS, 5); i++) fresh.push(await backend.open(dir));
    ops['score 128k cold'] = await medianOf(fresh.length, (i) => fresh[i]!.vectors.scoreAll(NS, big, query));
    for (const f of fresh) await f.close();
    const scored = await s.vectors.scoreAll(NS, big, query);
    if (scored.length !== BIG_CHUNKS)
      throw new Error(`${name}: scored ${scored.length} chunks of the 128k document, not ${BIG_CHUNKS}`);
    ops['score 128k warm'] = await medianOf(RUNS, () => s.vectors.scoreAll(NS, big, query));
    const lexFirst = await timed(() => s.lexicalTop(refs, questions[0]!, TOP));
    if (lexFirst.value.length === 0) throw new Error(`${name}: no lexical hit`);
    ops[`lexical top-${TOP} first`] = lexFirst;
    ops[`lexical top-${TOP} next`] = await medianOf(RUNS, (i) => s.lexicalTop(refs, questions[i + 1]!, TOP));
    const inline = s.lexicalTopInline?.bind(s);
    if (inline)
      ops[`lexical top-${TOP} next, on the event loop`] = await medianOf(RUNS, (i) =>
        inline(refs, questions[i + 1]!, TOP),
      );
    let k = 0;
    ops['commit one ingestion'] = await medianOf(RUNS, () => ingest(s, synthDoc(DOCS + k++, COMMIT_CHUNKS)));
    await s.close();
    rows.push({ backend: name, buildS, diskMb, ops });
    console.log(`  ${name}: built in ${buildS.toFixed(1)} s, ${diskMb.toFixed(0)} MB on disk`);
  }
} finally {
  for (const b of used) await b.dispose?.();
  await rm(root, { recursive: true, force: true });
}

const fmt = (x: number) => (Number.isNaN(x) ? '–' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const base = rows[0]!;
const others = rows.slice(1);
const header = (what: string) => {
  console.log(
    `\n${what}\n| measure | ${rows.map((r) => r.backend).join(' | ')} |${others.map((r) => ` ${r.backend} / ${base.backend} |`).join('')}`,
  );
  console.log(`|---|${rows.map(() => '---|').join('')}${others.map(() => '---|').join('')}`);
};
const line = (label: string, f: (r: Row) => number) =>
  console.log(
    `| ${label} | ${rows.map((r) => fmt(f(r))).join(' | ')} |${others.map((r) => ` ${Number.isNaN(f(r) / f(base)) ? '–' : (f(r) / f(base)).toFixed(3)} |`).join('')}`,
  );
header('wall time, ms (median)');
const opNames = [...new Set(rows.flatMap((r) => Object.keys(r.ops)))];
const value = (r: Row, op: string, f: (t: Took) => number) => (r.ops[op] ? f(r.ops[op]!) : Number.NaN);
for (const op of opNames) line(op, (r) => value(r, op, (t) => t.ms));
header('CPU time of the process, ms (median; all threads)');
for (const op of opNames) line(op, (r) => value(r, op, (t) => t.cpuMs));
header('longest event-loop stall during the operation, ms (max over runs)');
for (const op of opNames) line(op, (r) => value(r, op, (t) => t.stallMs));
header('namespace');
line('size on disk (MB)', (r) => r.diskMb);
line('build (s)', (r) => r.buildS);
