/**
 * Chooses how whole-namespace retrieval picks documents (src/core/retrieval/
 * library.ts), by document-level cross-validation on a LaRA-style set, with
 * no LLM and no embedder: every document chunked as the service chunks it,
 * one BM25 index over the namespace's chunks (the store's lexical search),
 * then for each setting the two levels of Adaptive-k as the service runs
 * them, and per question doc@1, evidence coverage and tokens read.
 *
 *   npx tsx eval/library-sweep.ts [--dataset ../shared/datasets/lara] [--folds 5] [--max-tokens 12000] [--max-read 12000]
 *     [--candidates 200] [--out eval-out/library-sweep.json]
 *
 * Cross-validation: the documents (not the questions) are split into folds;
 * for each fold the setting with the best evidence coverage on the other
 * folds' questions, among those reading at most --max-tokens per question on
 * average there, is scored on the fold's questions. A question never helps
 * choose the setting it is scored with, and neither does any question about
 * the same document.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { cliHelp, exitOnHelp, type CliOptions } from '../src/cli/help.js';
import { chunkText } from '../src/core/ingest/chunker.js';
import type { TermDocumentStats } from '../src/ports/document-store.js';
import type { TextChunk } from '../src/ports/token-work.js';
import { assembleContext } from '../src/core/retrieval/assemble.js';
import {
  buildBm25Index,
  buildBm25Part,
  scoreBm25Parts,
  type Bm25Index,
  type Bm25Part,
} from '../src/core/retrieval/bm25.js';
import { analyze } from '../src/core/text/analyse.js';
import { cl100k, type Tokenizer } from '../src/core/tokenizer.js';
import { DEFAULTS } from '../src/core/retrieval/defaults.js';
import {
  analyseCandidates,
  documentScores,
  documentsToRead,
  LIBRARY_DEFAULTS,
  pickDocuments,
  termDistinction,
  weightByDocumentFrequency,
  type DocumentAggregate,
} from '../src/core/retrieval/library.js';
import { capTokens, select, selectPerDocument } from '../src/core/retrieval/select.js';
import { seededRandom } from '../src/core/random.js';
import { Vocabularies } from './harness/identifiable.js';
import { shuffle } from './harness/sample.js';
import { loadLara, type LaraQuery } from './lara/dataset.js';
import { evidenceCoverage, goldSpans, segmentSpans } from './lara/evidence.js';
import { laraDocumentId } from './lara/ingest.js';

const OPTIONS = {
  dataset: { type: 'string', default: '../shared/datasets/lara' },
  folds: { type: 'string', default: '5' },
  'max-tokens': { type: 'string', default: '12000' },
  'max-read': { type: 'string', default: String(LIBRARY_DEFAULTS.maxTokens) },
  candidates: { type: 'string', default: '200' },
  seed: { type: 'string', default: '1' },
  out: { type: 'string', default: 'eval-out/library-sweep.json' },
} satisfies CliOptions;
exitOnHelp(() =>
  cliHelp({
    usage: 'npx tsx eval/library-sweep.ts [options]',
    about:
      'Chooses how whole-namespace retrieval picks documents, by document-level cross-validation on a LaRA-style set (no LLM, no embedder).',
    options: OPTIONS,
    describe: {
      dataset: 'LaRA-style dataset directory',
      folds: 'folds by document',
      'max-tokens': 'most tokens read per question on average (the cross-validation budget)',
      'max-read': "most tokens level two selects for one question, as the service's LIBRARY_MAX_TOKENS (0: no cap)",
      candidates: 'chunks taken from the lexical search',
      seed: 'random seed',
      out: 'JSON report',
    },
  }),
);
const { values: args } = parseArgs({ options: OPTIONS });
const maxRead = Number(args['max-read']);

interface Setting {
  name: string;
  /** Level one's term weights: the chunk-level search's own (`chunk`), or idf over documents (`document`). */
  weights: 'chunk' | 'document';
  /** With document weights: adjacent pairs of question terms scored as terms too (library.ts candidatePhrases). */
  phrases: boolean;
  aggregate: DocumentAggregate;
  buffer: number;
  maxDocuments: number;
  /** When the question's terms do not single out a document: also read every document holding the same terms (library.ts documentsToRead). */
  readAlike: boolean;
  /** Level two: Adaptive-k within each document, their selections read in turns (select.ts selectPerDocument), else one pooled cut. */
  perDocument: boolean;
}

const WEIGHTS = [
  { weights: 'chunk', phrases: false },
  { weights: 'document', phrases: false },
  { weights: 'document', phrases: true },
] as const;

const SETTINGS: Setting[] = WEIGHTS.flatMap(({ weights, phrases }) =>
  (['max', 'top3'] as const).flatMap((aggregate) =>
    [0, 1].flatMap((buffer) =>
      [1, 2, 3, 8, 16].flatMap((maxDocuments) =>
        [false, true].flatMap((readAlike) =>
          [false, true].map((perDocument) => ({
            name: `${weights}${phrases ? '+phr' : ''}/${aggregate}/B${buffer}/max${maxDocuments}${readAlike ? '/alike' : ''}${perDocument ? '/each' : ''}`,
            weights,
            phrases,
            aggregate,
            buffer,
            maxDocuments,
            readAlike,
            perDocument,
          })),
        ),
      ),
    ),
  ),
);

interface Row {
  setting: string;
  /** No other document holds every question term that the question's own document holds (./harness/identifiable.ts). */
  identifiable: boolean;
  /** The service's own view, with no gold: the question's terms single out the first document (library.ts termDistinction). */
  singledOut: boolean;
  doc: string;
  task: string;
  docAt1: number;
  picked: number;
  /** 1 when the question's own document is among those read. */
  inPicked: number;
  coverage: number;
  tokens: number;
}

interface NsChunk extends TextChunk {
  doc: string;
}

const mean = (xs: readonly number[]): number =>
  xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;

type Aggregate = ReturnType<typeof aggregate>;

function aggregate(rs: readonly Row[]) {
  return {
    n: rs.length,
    docAt1: mean(rs.map((r) => r.docAt1)),
    coverage: mean(rs.map((r) => r.coverage)),
    tokens: mean(rs.map((r) => r.tokens)),
    picked: mean(rs.map((r) => r.picked)),
    inPicked: mean(rs.map((r) => r.inPicked)),
  };
}

const f = (x: number) => x.toFixed(3);

/** The dataset's documents chunked as the service chunks them, and the indexes both levels read. */
interface Namespace {
  texts: Map<string, string>;
  chunks: NsChunk[];
  byDoc: Map<string, NsChunk[]>;
  /** The store's lexical search: one BM25 index over every chunk of the namespace. */
  index: Bm25Index;
  /** How many documents hold each term, as the document store keeps it for the service. */
  termStats: TermDocumentStats;
  vocabularies: Vocabularies;
  /** Level two's term statistics per document (scoreBm25Parts), so a set of documents is scored without indexing again. */
  parts: Map<string, Bm25Part>;
}

function indexNamespace(texts: Map<string, string>): Namespace {
  const chunks: NsChunk[] = [];
  const byDoc = new Map<string, NsChunk[]>();
  for (const [doc, text] of texts) {
    const cs = chunkText(text, { chunkTokens: 400, overlapTokens: 40 }).map((c) => ({ ...c, doc }));
    chunks.push(...cs);
    byDoc.set(doc, cs);
  }
  const counts = new Map<string, number>();
  for (const text of texts.values()) for (const t of new Set(analyze(text))) counts.set(t, (counts.get(t) ?? 0) + 1);
  return {
    texts,
    chunks,
    byDoc,
    index: buildBm25Index(chunks.map((c) => c.text)),
    termStats: { documents: texts.size, counts },
    vocabularies: new Vocabularies(texts),
    parts: new Map([...byDoc].map(([doc, cs]) => [doc, buildBm25Part(cs.map((c) => c.text))])),
  };
}

/**
 * Level two over the picked documents, as the service reads them (BM25 over just them, Adaptive-k, passages merged
 * as assembleContext merges them): the tokens read and the evidence coverage of the question's own document.
 * Passages' cl100k counts are cached in `passageTokens`, since settings often read the same ones.
 */
function readPicked(
  ns: Namespace,
  picked: readonly string[],
  question: string,
  gold: string,
  evidence: { spans: ReturnType<typeof goldSpans>; segments: ReturnType<typeof segmentSpans> | undefined },
  passageTokens: Map<string, number>,
  perDocument: boolean,
): { coverage: number; tokens: number } {
  if (picked.length === 0) return { coverage: 0, tokens: 0 };
  const scores = scoreBm25Parts(
    picked.map((d) => ns.parts.get(d)!),
    question,
  );
  const scored = picked.flatMap((d) => ns.byDoc.get(d)!).map((c, i) => ({ c, score: scores[i]! }));
  const candidates = scored.map((x) => ({
    id: `${x.c.doc}#${x.c.order}`,
    documentId: x.c.doc,
    order: x.c.order,
    tokens: x.c.tokens,
    score: x.score,
    c: x.c,
  }));
  const method = { kind: 'adaptive-k' as const, ...DEFAULTS.adaptiveK };
  const read = capTokens(
    perDocument ? selectPerDocument(candidates, method, picked) : select(candidates, method),
    maxRead,
  );
  const ctx = assembleContext(
    read.selected.map((x) => ({
      documentId: x.c.doc,
      chunkId: x.id,
      start: x.c.start,
      end: x.c.end,
      text: x.c.text,
      order: x.c.order,
    })),
    { getText: (id) => ns.texts.get(id), tokenizer: { count: () => 0 } as unknown as Tokenizer },
  );
  let tokens = 0;
  for (const p of ctx.passages) {
    const key = `${p.documentId}:${p.start}:${p.end}`;
    let t = passageTokens.get(key);
    if (t === undefined) {
      t = cl100k.count(p.text);
      passageTokens.set(key, t);
    }
    tokens += t;
  }
  const coverage = evidenceCoverage(
    ctx.passages.filter((p) => p.documentId === gold),
    evidence.spans,
    evidence.segments,
  );
  return { coverage, tokens };
}

/** One row per setting for one question: the namespace's best `m` chunks, both levels, what was read. */
function questionRows(
  ns: Namespace,
  q: LaraQuery,
  nSegments: number,
  m: number,
  passageTokens: Map<string, number>,
): Row[] {
  const gold = laraDocumentId(q);
  const text = ns.texts.get(gold)!;
  const spans = goldSpans(q, text, nSegments);
  const evidence = { spans, segments: spans === 'full' ? segmentSpans(q.type, text, nSegments) : undefined };
  const s = ns.index.score(q.question);
  const top = Array.from(s.keys())
    .filter((i) => s[i]! > 0)
    .sort((x, y) => s[y]! - s[x]! || x - y)
    .slice(0, m);
  const candidates = top.map((i) => ({ id: String(i), documentId: ns.chunks[i]!.doc, score: s[i]! }));
  const analysed = analyseCandidates(
    top.map((i) => ({ id: String(i), documentId: ns.chunks[i]!.doc, score: s[i]!, text: ns.chunks[i]!.text })),
    q.question,
  );
  const byDocuments = weightByDocumentFrequency(analysed, ns.termStats);
  const byDocumentsPhrased = weightByDocumentFrequency(analysed, ns.termStats, { phrases: true });
  const identifiable = ns.vocabularies.identifiable(q.question, gold);
  return SETTINGS.map((st) => {
    const scored = st.weights === 'chunk' ? candidates : st.phrases ? byDocumentsPhrased : byDocuments;
    const curve = documentScores(scored, st.aggregate);
    const pick = pickDocuments(curve, { buffer: st.buffer, maxDocuments: st.maxDocuments });
    const distinction = termDistinction(analysed, curve);
    const picked = st.readAlike ? documentsToRead(pick.picked, distinction, st.maxDocuments).read : pick.picked;
    const { coverage, tokens } = readPicked(ns, picked, q.question, gold, evidence, passageTokens, st.perDocument);
    return {
      setting: st.name,
      identifiable,
      singledOut: distinction.singledOut,
      doc: gold,
      task: q.task,
      docAt1: picked[0] === gold ? 1 : 0,
      picked: picked.length,
      inPicked: picked.includes(gold) ? 1 : 0,
      coverage,
      tokens,
    };
  });
}

/**
 * Document-level cross-validation: in each fold the setting with the best coverage on the other folds' questions,
 * among those reading at most `maxTokens` per question there, scored on the fold's questions.
 */
function crossValidate(
  rows: readonly Row[],
  documents: readonly string[],
  folds: number,
  maxTokens: number,
  seed: number,
): { held: Row[]; chosen: string[] } {
  const docs = shuffle([...documents].sort(), seededRandom(seed));
  const foldOf = new Map(docs.map((d, i) => [d, i % folds]));
  const held: Row[] = [];
  const chosen: string[] = [];
  for (let k = 0; k < folds; k++) {
    const train = rows.filter((r) => foldOf.get(r.doc) !== k);
    const ok = SETTINGS.map((st) => ({ st, a: aggregate(train.filter((r) => r.setting === st.name)) })).filter(
      (x) => x.a.tokens <= maxTokens,
    );
    const best = ok.sort((x, y) => y.a.coverage - x.a.coverage || x.a.tokens - y.a.tokens)[0];
    if (!best) throw new Error(`fold ${k}: no setting reads at most ${maxTokens} tokens on average`);
    chosen.push(best.st.name);
    held.push(...rows.filter((r) => foldOf.get(r.doc) === k && r.setting === best.st.name));
  }
  return { held, chosen };
}

const heldLine = (label: string, width: number, a: Aggregate): string =>
  `  ${label.padEnd(width)} n ${String(a.n).padStart(4)}  doc@1 ${f(a.docAt1)}  coverage ${f(a.coverage)}  tokens ${Math.round(a.tokens)}`;

function printSettings(rows: readonly Row[]): void {
  console.log(
    `${'setting'.padEnd(33)} ${'doc@1'.padStart(6)} ${'picked'.padStart(6)} ${'cov'.padStart(6)} ${'tokens'.padStart(7)} ${'docs'.padStart(5)}`,
  );
  for (const st of SETTINGS) {
    const a = aggregate(rows.filter((r) => r.setting === st.name));
    console.log(
      `${st.name.padEnd(33)} ${f(a.docAt1).padStart(6)} ${f(a.inPicked).padStart(6)} ${f(a.coverage).padStart(6)} ${Math.round(a.tokens).toString().padStart(7)} ${a.picked.toFixed(2).padStart(5)}`,
    );
  }
}

function printHeldOut(held: readonly Row[], chosen: readonly string[], folds: number, maxTokens: number): Aggregate {
  const h = aggregate(held);
  console.log(
    `\ndocument-level ${folds}-fold cross-validation (best coverage at ≤ ${maxTokens} tokens on the other folds): chosen ${chosen.join(', ')}`,
  );
  console.log(
    `held out: doc@1 ${f(h.docAt1)}, coverage ${f(h.coverage)}, tokens ${Math.round(h.tokens)}, documents read ${h.picked.toFixed(2)}`,
  );
  for (const t of [...new Set(held.map((r) => r.task))])
    console.log(heldLine(t, 10, aggregate(held.filter((r) => r.task === t))));
  // Questions that do not name their document: when another document holds every question term that the question's
  // own document holds, no term says which of them is meant (LaRA's questions were written for one document at a time:
  // "What was the company's net loss for the three months ended March 31, 2024?" over fifteen first-quarter filings).
  console.log(heldLine('identifiable by its terms', 38, aggregate(held.filter((r) => r.identifiable))));
  console.log(heldLine('another document holds all its terms', 38, aggregate(held.filter((r) => !r.identifiable))));
  // The same split as the service makes it, without the gold document: library.distinction.singledOut.
  console.log(heldLine('service: the terms single out a document', 38, aggregate(held.filter((r) => r.singledOut))));
  console.log(heldLine('service: they do not', 38, aggregate(held.filter((r) => !r.singledOut))));
  return h;
}

async function main(): Promise<void> {
  const ds = loadLara(resolve(args.dataset!));
  const queries = ds.groups.flatMap((g) => g.queries.map((q) => ({ q, nSegments: g.nSegments })));
  const texts = new Map<string, string>();
  for (const { q } of queries) if (!texts.has(laraDocumentId(q))) texts.set(laraDocumentId(q), ds.documentText(q));

  const started = Date.now();
  const ns = indexNamespace(texts);
  console.error(
    `${texts.size} documents, ${ns.chunks.length} chunks, indexed in ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );

  const m = Number(args.candidates);
  const passageTokens = new Map<string, number>();
  const rows: Row[] = [];
  for (const [done, { q, nSegments }] of queries.entries()) {
    rows.push(...questionRows(ns, q, nSegments, m, passageTokens));
    if ((done + 1) % 100 === 0)
      console.error(`${done + 1}/${queries.length} questions, ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }

  console.log(
    `\n${queries.length} questions, ${texts.size} documents in one namespace; ${m} lexical candidates; chunks: Adaptive-k ${JSON.stringify(DEFAULTS.adaptiveK)}, at most ${maxRead || 'any number of'} tokens selected a question\n`,
  );
  printSettings(rows);
  const folds = Number(args.folds);
  const maxTokens = Number(args['max-tokens']);
  const { held, chosen } = crossValidate(rows, [...texts.keys()], folds, maxTokens, Number(args.seed));
  const h = printHeldOut(held, chosen, folds, maxTokens);

  const out = resolve(args.out!);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ settings: SETTINGS, chosen, heldOut: h, rows }, null, 0)}\n`);
  console.log(`\nwritten ${out}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
