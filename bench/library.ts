/**
 * Whole-namespace retrieval at scale: synthetic namespaces of 1k, 10k, 100k
 * and 1M chunks, each question retrieved without document ids through the
 * service's core (RetrievalService.retrieve with documentIds null: scope
 * listing, the store's lexical search, the documents' curve, chunk selection
 * in the picked documents, assembly), as POST /v1/query runs it (BM25
 * selection, no dense scores). Prints p50 / p99 latency, memory, and the
 * exponent b of latency ≈ a·N^b fitted over the sizes.
 *
 * Baseline, measured in the same run: the path the service had before
 * library retrieval, the store's dense search for the top NAMESPACE_CANDIDATES
 * chunks re-scored by BM25 (what still runs on a store without searchText),
 * on the same namespace and questions; the ratio is baseline p50 / library p50.
 *
 *   npx tsx bench/library.ts [--sizes 1000,10000,100000,1000000] [--queries 200] [--baseline-queries 20]
 *     [--baseline-max 100000] [--store embedded|postgres] [--postgres postgres://postgres@127.0.0.1:5432/postgres]
 *     [--chunks-per-document 100] [--words 60] [--dims 512] [--analyze] [--data-dir DIR]
 *
 * Synthetic text: words drawn from a Zipf(1) vocabulary of 50 000 made-up
 * words, plus two rarer words per document (its "topic"), so a question made
 * from one chunk's rarest words, its document's topic and a common word has
 * one right document and shares the common word with 1–10% of all chunks; a
 * "vague" question of two common words only names no document, and is read
 * over every document holding both (up to LIBRARY_MAX_DOCUMENTS, timed and
 * counted apart). Vectors are random unit vectors of the
 * embedder's size (--dims, USE-lite's 512): the library path reads none of
 * them; the baseline scans them all. With --store postgres the namespace is
 * built in a fresh schema of that server, dropped at the end; --analyze
 * gives its tables planner statistics once built, as autovacuum would.
 * With --data-dir each namespace is built in DIR/STORE-SIZE (with store
 * postgres, in the schema bench_library_SIZE too) and kept, with its
 * questions, so a later run measures it again without building.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cliHelp, exitOnHelp, type CliOptions } from '../src/cli/help.js';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { adaptiveKSettings, buildContainer, type Container } from '../src/container.js';
import { analyze } from '../src/core/text/analyse.js';
import { cl100k } from '../src/core/tokenizer.js';
import { RetrievalService } from '../src/core/retrieval/service.js';
import { seededRandom } from '../src/core/random.js';
import type { Embedder } from '../src/ports/embedder.js';
import type { DocumentRecord } from '../src/ports/document-store.js';
import type { StoredChunk, VectorStore } from '../src/ports/vector-store.js';
import { median } from './stats.js';

const OPTIONS = {
  sizes: { type: 'string', default: '1000,10000,100000,1000000' },
  queries: { type: 'string', default: '200' },
  'baseline-queries': { type: 'string', default: '20' },
  'baseline-max': { type: 'string', default: '100000' },
  store: { type: 'string', default: 'embedded' },
  postgres: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
  'chunks-per-document': { type: 'string', default: '100' },
  words: { type: 'string', default: '60' },
  dims: { type: 'string', default: '512' },
  seed: { type: 'string', default: '1' },
  analyze: { type: 'boolean', default: false },
  'data-dir': { type: 'string', default: '' },
} satisfies CliOptions;
exitOnHelp(() =>
  cliHelp({
    usage: 'npx tsx bench/library.ts [options]',
    about:
      'Whole-namespace retrieval at scale (1k to 1M chunks): p50/p99 latency, memory and the scaling exponent, against the dense-search baseline in the same run.',
    options: OPTIONS,
    describe: {
      sizes: 'namespace sizes in chunks',
      queries: 'questions per size',
      'baseline-queries': 'questions per size for the baseline',
      'baseline-max': 'largest size the baseline runs',
      store: 'embedded or postgres',
      postgres: 'PostgreSQL URL (store postgres)',
      'chunks-per-document': 'chunks of each synthetic document',
      words: 'words per chunk',
      dims: 'vector dimensions',
      seed: 'random seed',
      'data-dir':
        'build each namespace in DIR/STORE-SIZE (and, for store postgres, the schema bench_library_SIZE) and keep it; a later run with the same options measures it again without building',
      analyze:
        "store postgres: ANALYZE the schema's tables once built, as autovacuum (PostgreSQL's default) would; without it a server with autovacuum off plans with no statistics",
    },
  }),
);
const { values: args } = parseArgs({ options: OPTIONS });

const VOCABULARY = 50_000;
const NS = 'library-bench';

/** Random unit vectors, deterministic per text: the bench measures the store and the service, not a model. */
class RandomEmbedder implements Embedder {
  readonly id = 'random-unit';
  constructor(private readonly dims: number) {}
  async dimensions(): Promise<number> {
    return this.dims;
  }
  async embedDocuments(texts: readonly string[]): Promise<Float32Array[]> {
    return texts.map((t) => this.vector(t));
  }
  async embedQuery(text: string): Promise<Float32Array> {
    return this.vector(text);
  }
  vector(text: string, seed = 0): Float32Array {
    let h = seed;
    for (let i = 0; i < text.length; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0;
    const rnd = seededRandom(h);
    const v = new Float32Array(this.dims);
    let n = 0;
    for (let i = 0; i < v.length; i++) {
      v[i] = rnd() - 0.5;
      n += v[i]! * v[i]!;
    }
    n = Math.sqrt(n);
    for (let i = 0; i < v.length; i++) v[i]! /= n;
    return v;
  }
  async health(): Promise<void> {}
  async close(): Promise<void> {}
}

/** Zipf(1) sampler over ranks 0..n-1 by inverse CDF on the harmonic numbers. */
function zipf(n: number, rnd: () => number): () => number {
  const cdf = new Float64Array(n);
  let s = 0;
  for (let i = 0; i < n; i++) cdf[i] = s += 1 / (i + 1);
  return () => {
    const x = rnd() * s;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

const word = (i: number): string => {
  // Made-up but pronounceable, never an English stopword: consonant-vowel pairs from the rank.
  const c = 'bdfgklmnprstvz';
  const v = 'aeiou';
  let out = '';
  let x = i + 1;
  while (x > 0) {
    out += c[x % c.length]! + v[Math.floor(x / c.length) % v.length]!;
    x = Math.floor(x / (c.length * v.length));
  }
  return out;
};

interface Built {
  container: Container;
  questions: string[];
  /** Questions of common words only, which single out no document: level one reads every document holding them (up to LIBRARY_MAX_DOCUMENTS). */
  vague: string[];
  close(): Promise<void>;
}

async function build(size: number): Promise<Built> {
  const perDoc = Number(args['chunks-per-document']);
  const words = Number(args.words);
  const dims = Number(args.dims);
  const rnd = seededRandom(Number(args.seed) * 1000 + size);
  const draw = zipf(VOCABULARY, rnd);
  const kept = args['data-dir'] ? join(args['data-dir'], `${args.store}-${size}`) : null;
  const dataDir = kept ?? (await mkdtemp(join(tmpdir(), 'bench-library-')));
  // A kept PostgreSQL namespace lives in a schema named after its directory's size, beside the directory's marker.
  const keptSchema = kept && args.store === 'postgres' ? `bench_library_${size}` : null;
  const built = kept ? await readBuilt(kept, keptSchema) : null;
  let schema: string | null = null;
  const overrides: Record<string, string | number> = {
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    REDIS_URL: '',
    VECTOR_STORE: 'embedded',
    DATABASE_URL: '',
    AUTH: 'off',
  };
  if (args.store === 'postgres') {
    schema = keptSchema ?? `bench_${randomUUID().replace(/-/g, '')}`;
    if (!built) await admin(`CREATE SCHEMA ${schema}`);
    const u = new URL(args.postgres!);
    u.searchParams.set('options', `-c search_path=${schema}`);
    Object.assign(overrides, { VECTOR_STORE: 'postgres', DATABASE_URL: u.toString() });
  }
  const config = loadConfig({}, { dotenvPath: null, overrides });
  const embedder = new RandomEmbedder(dims);
  const container = buildContainer(config, createLogger('warn'), { role: 'local', overrides: { embedder } });
  await container.ready();
  const vectors: VectorStore = container.vectors;
  if (built) {
    console.log(`  kept ${size.toLocaleString('en-US')} chunks in ${dataDir}: measured again, not built`);
    return { container, ...built, close: () => container.close() };
  }

  const docs = Math.ceil(size / perDoc);
  const questions: string[] = [];
  const qEvery = Math.max(1, Math.floor(docs / Number(args.queries)));
  const now = new Date().toISOString();
  const started = performance.now();
  let batch: StoredChunk[] = [];
  for (let d = 0; d < docs; d++) {
    const id = `doc-${d}`;
    const version = `v${d}`;
    const topic = [word(VOCABULARY + 2 * d), word(VOCABULARY + 2 * d + 1)];
    const n = Math.min(perDoc, size - d * perDoc);
    const texts: string[] = [];
    for (let c = 0; c < n; c++) {
      const w = Array.from({ length: words }, () => word(draw()));
      if (c % 10 === 0) w.splice(Math.floor(rnd() * words), 0, topic[c % 20 === 0 ? 0 : 1]!);
      texts.push(`${w.join(' ')}.`);
    }
    let at = 0;
    const text = texts.join('\n');
    let docTokens = 0;
    texts.forEach((t, order) => {
      const counted = cl100k.count(t);
      docTokens += counted;
      batch.push({
        id: `${id}:${order}`,
        namespace: NS,
        documentId: id,
        version,
        order,
        start: at,
        end: at + t.length,
        // The real count: assembly takes a one-chunk passage's count from its chunk, as the chunker gives it.
        tokens: counted,
        text: t,
        vector: embedder.vector(t),
      });
      at += t.length + 1;
    });
    const rec: DocumentRecord = {
      namespace: NS,
      id,
      title: `Synthetic ${d}`,
      status: 'ready',
      version,
      pending: null,
      chars: text.length,
      tokens: docTokens,
      chunkCount: n,
      metadata: {},
      source: 'bench',
      error: null,
      createdAt: now,
      updatedAt: now,
    };
    await container.documents.putText(NS, id, version, text);
    await container.documents.put(rec);
    // As the ingestion job records them: level one weights question terms by how many documents hold them.
    await container.documents.putTerms(NS, id, version, [...new Set(analyze(text))]);
    if (batch.length >= 2000) {
      await vectors.upsert(NS, batch);
      batch = [];
    }
    if (d % qEvery === 0 && questions.length < Number(args.queries)) {
      // A question from one chunk's two rarest words, the document's topic and a common word (rank 20–220, in ~1–10% of
      // chunks, as "company" or "revenue" in filings): one right document, and a lexical search that must score many chunks.
      const chunk = texts[Math.floor(rnd() * texts.length)]!.slice(0, -1).split(' ');
      const rare = [...new Set(chunk)].sort((x, y) => y.length - x.length || (x < y ? -1 : 1)).slice(0, 2);
      questions.push(`What does ${topic[0]} say about ${word(20 + Math.floor(rnd() * 200))}, ${rare.join(' and ')}?`);
    }
  }
  if (batch.length > 0) await vectors.upsert(NS, batch);
  if (schema && args.analyze) {
    const client = new pg.Client({ connectionString: args.postgres });
    await client.connect();
    try {
      const tables = await client.query<{ t: string }>('SELECT tablename AS t FROM pg_tables WHERE schemaname = $1', [
        schema,
      ]);
      for (const { t } of tables.rows) await client.query(`ANALYZE ${schema}.${client.escapeIdentifier(t)}`);
    } finally {
      await client.end();
    }
  }
  // Their own random stream, so the named questions stay those of earlier runs.
  const vrnd = seededRandom(Number(args.seed) * 1000 + size + 1);
  const vague = Array.from(
    { length: Number(args.queries) },
    () => `What is said about ${word(20 + Math.floor(vrnd() * 200))} and ${word(20 + Math.floor(vrnd() * 200))}?`,
  );
  if (kept) await writeFile(join(kept, BUILT), JSON.stringify({ key: builtKey(), questions, vague }));
  console.log(
    `  built ${size.toLocaleString('en-US')} chunks in ${docs.toLocaleString('en-US')} documents (${vectors.name}) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  return {
    container,
    questions,
    vague,
    async close() {
      await container.close();
      if (!kept) await rm(dataDir, { recursive: true, force: true });
      if (schema && !keptSchema) await admin(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    },
  };
}

/** Marks a kept namespace as complete, with the options it was built with and its questions. */
const BUILT = 'bench-library.json';

/** Every option the namespace and its questions depend on: a kept one is reused only when all are the same. */
function builtKey(): string {
  return JSON.stringify([args['chunks-per-document'], args.words, args.dims, args.seed, args.queries]);
}

/** The questions of a namespace kept by an earlier run with the same options, or null (none, or another build). */
async function readBuilt(dir: string, schema: string | null): Promise<{ questions: string[]; vague: string[] } | null> {
  const text = await readFile(join(dir, BUILT), 'utf8').catch(() => null);
  if (text === null || (schema !== null && !(await schemaExists(schema)))) {
    // A half-built or different namespace would be measured as if whole: it is built again from nothing.
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    if (schema) await admin(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    return null;
  }
  const saved = JSON.parse(text) as { key: string; questions: string[]; vague: string[] };
  if (saved.key !== builtKey())
    throw new Error(`${dir} holds a namespace built with other options; remove it or give another --data-dir`);
  return saved;
}

async function schemaExists(schema: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: args.postgres });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    return rows.length > 0;
  } finally {
    await client.end();
  }
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: args.postgres });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

const mean = (xs: readonly number[]): number => xs.reduce((a, x) => a + x, 0) / xs.length;

/** The slowest question's latency and how much of it was picking the documents: a tail is then told apart from a stall elsewhere. */
function slowest(latencies: readonly number[], pickMs: readonly number[]): string {
  const i = latencies.indexOf(Math.max(...latencies));
  return `${latencies[i]!.toFixed(0)} ms (picking ${pickMs[i]!.toFixed(0)})`;
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

/** Latencies of retrieving each question over the whole namespace, after two warm-up questions. */
async function measure(
  c: Container,
  questions: readonly string[],
  retrieval: RetrievalService,
  seen?: { pickMs: number[]; documents: number[] },
): Promise<number[]> {
  const method = adaptiveKSettings(c.config);
  const run = (question: string) =>
    retrieval.retrieve({
      namespace: NS,
      question,
      documentIds: null,
      method,
      score: 'bm25',
      hybridAlpha: 0.3,
      denseScores: false,
    });
  for (const q of questions.slice(0, 2)) await run(q);
  const out: number[] = [];
  for (const q of questions) {
    const t = performance.now();
    const r = await run(q);
    out.push(performance.now() - t);
    seen?.pickMs.push(r.library!.pickMs);
    seen?.documents.push(r.scope.documents.length);
  }
  return out;
}

/**
 * The container's retrieval with its library settings, but for what is changed: the store's lexical search hidden
 * (the dense-candidate path the service had before: the baseline) or the documents holding the same terms not read.
 */
function variantService(c: Container, change: { hideText?: boolean; readAlike?: boolean }): RetrievalService {
  const hidden: VectorStore = new Proxy(c.vectors, {
    get: (t, p) => {
      if (p === 'searchText' && change.hideText) return undefined;
      const v: unknown = Reflect.get(t, p, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
  return new RetrievalService({
    documents: c.documents,
    vectors: hidden,
    embedder: c.embedder,
    namespaceCandidates: c.config.NAMESPACE_CANDIDATES,
    library: {
      aggregate: c.config.LIBRARY_DOCUMENT_SCORE,
      termWeights: c.config.LIBRARY_TERM_WEIGHTS,
      phrases: c.config.LIBRARY_TERM_PHRASES,
      maxTokens: c.config.LIBRARY_MAX_TOKENS,
      maxDocuments: c.config.LIBRARY_MAX_DOCUMENTS,
      buffer: c.config.LIBRARY_DOCUMENT_BUFFER,
      readAlike: change.readAlike ?? c.config.LIBRARY_READ_ALIKE,
    },
    logger: c.logger,
    ready: () => c.ready(),
  });
}

async function main(): Promise<void> {
  const sizes = args.sizes!.split(',').map(Number);
  console.log(
    `whole-namespace retrieval (BM25 selection, no dense scores), store ${args.store}${args.store === 'postgres' && args.analyze ? ' (tables ANALYZEd once built)' : ''}; ${args['chunks-per-document']} chunks per document, ${args.words} words per chunk, ${args.dims}-dim vectors; ` +
      `${args.queries} questions per size (baseline ${args['baseline-queries']}, sizes ≤ ${Number(args['baseline-max']).toLocaleString('en-US')})`,
  );
  const rows: Array<{
    size: number;
    p50: number;
    p99: number;
    pick50: number;
    documents: number;
    vague50: number;
    vaguePick50: number;
    cut50: number;
    cut99: number;
    cutDocuments: number;
    vague99: number;
    /** Vague questions' time after picking (level two: reading the documents, selecting, assembling). */
    vagueRead50: number;
    vagueRead99: number;
    p95: number;
    vague95: number;
    slowest: string;
    vagueSlowest: string;
    vagueDocuments: number;
    rss: number;
    heap: number;
    base50: number | null;
    base99: number | null;
    fallback: boolean;
  }> = [];
  for (const size of sizes) {
    const b = await build(size);
    try {
      const hasText = typeof b.container.vectors.searchText === 'function';
      const seen = { pickMs: [] as number[], documents: [] as number[] };
      const lat = await measure(b.container, b.questions, b.container.retrieval, seen);
      const vagueSeen = { pickMs: [] as number[], documents: [] as number[] };
      const vagueLat = await measure(b.container, b.vague, b.container.retrieval, vagueSeen);
      // The same vague questions reading only the documents above the cut: what reading the alike ones costs.
      const cutSeen = { pickMs: [] as number[], documents: [] as number[] };
      const cutLat = await measure(b.container, b.vague, variantService(b.container, { readAlike: false }), cutSeen);
      const base =
        size <= Number(args['baseline-max']) && hasText && Number(args['baseline-queries']) > 0
          ? await measure(
              b.container,
              b.questions.slice(0, Number(args['baseline-queries'])),
              variantService(b.container, { hideText: true }),
            )
          : null;
      const mem = process.memoryUsage();
      rows.push({
        size,
        p50: median(lat),
        p99: quantile(lat, 0.99),
        pick50: median(seen.pickMs),
        documents: mean(seen.documents),
        vague50: median(vagueLat),
        vaguePick50: median(vagueSeen.pickMs),
        cut50: median(cutLat),
        cut99: quantile(cutLat, 0.99),
        cutDocuments: mean(cutSeen.documents),
        vague99: quantile(vagueLat, 0.99),
        vagueRead50: median(vagueLat.map((ms, i) => ms - vagueSeen.pickMs[i]!)),
        vagueRead99: quantile(
          vagueLat.map((ms, i) => ms - vagueSeen.pickMs[i]!),
          0.99,
        ),
        p95: quantile(lat, 0.95),
        vague95: quantile(vagueLat, 0.95),
        slowest: slowest(lat, seen.pickMs),
        vagueSlowest: slowest(vagueLat, vagueSeen.pickMs),
        vagueDocuments: mean(vagueSeen.documents),
        rss: mem.rss / 2 ** 20,
        heap: mem.heapUsed / 2 ** 20,
        base50: base ? median(base) : null,
        base99: base ? quantile(base, 0.99) : null,
        fallback: !hasText,
      });
      const r = rows.at(-1)!;
      console.log(
        `  ${size.toLocaleString('en-US').padStart(9)} chunks: p50 ${r.p50.toFixed(1)} ms (picking the documents ${r.pick50.toFixed(1)}), ${r.documents.toFixed(2)} documents read, p95 ${r.p95.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, slowest ${r.slowest}; vague questions p50 ${r.vague50.toFixed(1)} ms (picking ${r.vaguePick50.toFixed(1)}), p95 ${r.vague95.toFixed(1)} ms, p99 ${r.vague99.toFixed(1)} ms, slowest ${r.vagueSlowest}, after picking p50 ${r.vagueRead50.toFixed(1)} / p99 ${r.vagueRead99.toFixed(1)} ms, ${r.vagueDocuments.toFixed(2)} documents read (reading only the cut's: p50 ${r.cut50.toFixed(1)} ms, p99 ${r.cut99.toFixed(1)} ms, ${r.cutDocuments.toFixed(2)} documents); rss ${r.rss.toFixed(0)} MiB, heap ${r.heap.toFixed(0)} MiB` +
          (r.fallback ? ' (the store has no searchText: this is the fallback path)' : '') +
          (r.base50 !== null
            ? `; baseline (dense top-${b.container.config.NAMESPACE_CANDIDATES} + BM25) p50 ${r.base50.toFixed(1)} ms, p99 ${r.base99!.toFixed(1)} ms: ${(r.base50 / r.p50).toFixed(1)}× faster`
            : ''),
      );
    } finally {
      await b.close();
    }
  }
  // Least squares on log N, log p50 (and p99).
  const exponentOf = (ys: number[]): number => {
    const xs = rows.map((r) => Math.log(r.size));
    const ls = ys.map(Math.log);
    const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
    const my = ls.reduce((a, b) => a + b, 0) / ls.length;
    let num = 0;
    let den = 0;
    xs.forEach((x, i) => {
      num += (x - mx) * (ls[i]! - my);
      den += (x - mx) ** 2;
    });
    return den > 0 ? num / den : Number.NaN;
  };
  console.log(
    '\n| chunks | p50 ms | of which picking documents | documents read | p95 ms | p99 ms | vague: p50 ms | of which picking | p95 ms | p99 ms | after picking: p50 ms | p99 ms | documents read | vague, the cut’s documents only: p50 ms | p99 ms | documents read | RSS MiB | heap MiB | baseline p50 ms | baseline p99 ms | baseline / library p50 |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const r of rows) {
    console.log(
      `| ${r.size.toLocaleString('en-US')} | ${r.p50.toFixed(1)} | ${r.pick50.toFixed(1)} | ${r.documents.toFixed(2)} | ${r.p95.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.vague50.toFixed(1)} | ${r.vaguePick50.toFixed(1)} | ${r.vague95.toFixed(1)} | ${r.vague99.toFixed(1)} | ${r.vagueRead50.toFixed(1)} | ${r.vagueRead99.toFixed(1)} | ${r.vagueDocuments.toFixed(2)} | ${r.cut50.toFixed(1)} | ${r.cut99.toFixed(1)} | ${r.cutDocuments.toFixed(2)} | ${r.rss.toFixed(0)} | ${r.heap.toFixed(0)} | ${r.base50?.toFixed(1) ?? '–'} | ${r.base99?.toFixed(1) ?? '–'} | ${r.base50 !== null ? `${(r.base50 / r.p50).toFixed(1)}×` : '–'} |`,
    );
  }
  if (rows.length >= 2)
    console.log(
      `\nlatency ∝ N^b: b = ${exponentOf(rows.map((r) => r.p50)).toFixed(2)} (p50), ${exponentOf(rows.map((r) => r.p99)).toFixed(2)} (p99)`,
    );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
