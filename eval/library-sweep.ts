/**
 * Chooses how whole-namespace retrieval picks documents (src/core/retrieval/
 * library.ts), by document-level cross-validation on a LaRA-style set, with
 * no LLM and no embedder: every document chunked as the service chunks it,
 * one BM25 index over the namespace's chunks (the store's lexical search),
 * then for each setting the two levels of Adaptive-k as the service runs
 * them, and per question doc@1, evidence coverage and tokens read.
 *
 *   npx tsx eval/library-sweep.ts [--dataset ../shared/datasets/lara] [--folds 5] [--max-tokens 12000]
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
import type { TextChunk } from '../src/ports/token-work.js';
import { assembleContext } from '../src/core/retrieval/assemble.js';
import { buildBm25Index, buildBm25Part, scoreBm25Parts } from '../src/core/retrieval/bm25.js';
import { analyze } from '../src/core/text/analyse.js';
import { cl100k, type Tokenizer } from '../src/core/tokenizer.js';
import { DEFAULTS } from '../src/core/retrieval/defaults.js';
import {
  documentScores,
  pickDocuments,
  weightByDocumentFrequency,
  type DocumentAggregate,
} from '../src/core/retrieval/library.js';
import { select } from '../src/core/retrieval/select.js';
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
      'max-tokens': 'most tokens read per question',
      candidates: 'chunks taken from the lexical search',
      seed: 'random seed',
      out: 'JSON report',
    },
  }),
);
const { values: args } = parseArgs({ options: OPTIONS });

interface Setting {
  name: string;
  /** Level one's term weights: the chunk-level search's own (`chunk`), or idf over documents (`document`). */
  weights: 'chunk' | 'document';
  aggregate: DocumentAggregate;
  buffer: number;
  maxDocuments: number;
}

const SETTINGS: Setting[] = (['chunk', 'document'] as const).flatMap((weights) =>
  (['max', 'top3'] as const).flatMap((aggregate) =>
    [0, 1].flatMap((buffer) =>
      [1, 2, 3, 8].map((maxDocuments) => ({
        name: `${weights}/${aggregate}/B${buffer}/max${maxDocuments}`,
        weights,
        aggregate,
        buffer,
        maxDocuments,
      })),
    ),
  ),
);

interface Row {
  setting: string;
  /** No other document holds every question term that the question's own document holds (./harness/identifiable.ts). */
  identifiable: boolean;
  doc: string;
  task: string;
  docAt1: number;
  picked: number;
  coverage: number;
  tokens: number;
}

interface NsChunk extends TextChunk {
  doc: string;
}

const mean = (xs: readonly number[]): number =>
  xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;

async function main(): Promise<void> {
  const ds = loadLara(resolve(args.dataset!));
  const queries = ds.groups.flatMap((g) => g.queries.map((q) => ({ q, nSegments: g.nSegments })));
  const texts = new Map<string, string>();
  for (const { q } of queries) if (!texts.has(laraDocumentId(q))) texts.set(laraDocumentId(q), ds.documentText(q));

  const started = Date.now();
  const chunks: NsChunk[] = [];
  const byDoc = new Map<string, NsChunk[]>();
  for (const [doc, text] of texts) {
    const cs = chunkText(text, { chunkTokens: 400, overlapTokens: 40 }).map((c) => ({ ...c, doc }));
    chunks.push(...cs);
    byDoc.set(doc, cs);
  }
  const namespace = buildBm25Index(chunks.map((c) => c.text));
  // How many documents hold each term, as the document store keeps it for the service.
  const termDocs = new Map<string, number>();
  for (const text of texts.values())
    for (const t of new Set(analyze(text))) termDocs.set(t, (termDocs.get(t) ?? 0) + 1);
  const vocabularies = new Vocabularies(texts);
  const termStats = { documents: texts.size, counts: termDocs };
  console.error(
    `${texts.size} documents, ${chunks.length} chunks, indexed in ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );

  // Level two reads the picked documents' chunks with BM25 over just them, as the service does: from term statistics
  // kept per document (scoreBm25Parts), so a set of documents is scored without indexing its texts again.
  const parts = new Map([...byDoc].map(([doc, cs]) => [doc, buildBm25Part(cs.map((c) => c.text))]));
  const setScores = (docs: readonly string[], question: string): Array<{ c: NsChunk; score: number }> => {
    const scores = scoreBm25Parts(
      docs.map((d) => parts.get(d)!),
      question,
    );
    return docs.flatMap((d) => byDoc.get(d)!).map((c, i) => ({ c, score: scores[i]! }));
  };
  const passageTokens = new Map<string, number>();

  const m = Number(args.candidates);
  const method = { kind: 'adaptive-k' as const, ...DEFAULTS.adaptiveK };
  const rows: Row[] = [];
  let done = 0;
  for (const { q, nSegments } of queries) {
    const gold = laraDocumentId(q);
    const text = texts.get(gold)!;
    const spans = goldSpans(q, text, nSegments);
    const segments = spans === 'full' ? segmentSpans(q.type, text, nSegments) : undefined;
    const s = namespace.score(q.question);
    const top = Array.from(s.keys())
      .filter((i) => s[i]! > 0)
      .sort((x, y) => s[y]! - s[x]! || x - y)
      .slice(0, m);
    const candidates = top.map((i) => ({ id: String(i), documentId: chunks[i]!.doc, score: s[i]! }));
    const identifiable = vocabularies.identifiable(q.question, gold);
    const byDocuments = weightByDocumentFrequency(
      top.map((i) => ({ id: String(i), documentId: chunks[i]!.doc, score: s[i]!, text: chunks[i]!.text })),
      q.question,
      termStats,
    );
    for (const st of SETTINGS) {
      const pick = pickDocuments(documentScores(st.weights === 'chunk' ? candidates : byDocuments, st.aggregate), {
        buffer: st.buffer,
        maxDocuments: st.maxDocuments,
      });
      let coverage = 0;
      let tokens = 0;
      if (pick.picked.length > 0) {
        const scored = setScores(pick.picked, q.question);
        const sel = select(
          scored.map((x) => ({
            id: `${x.c.doc}#${x.c.order}`,
            order: x.c.order,
            tokens: x.c.tokens,
            score: x.score,
            c: x.c,
          })),
          method,
        );
        // Passages as assembleContext merges them; their cl100k counts are cached, since settings often read the same ones.
        const ctx = assembleContext(
          sel.selected.map((x) => ({
            documentId: x.c.doc,
            chunkId: x.id,
            start: x.c.start,
            end: x.c.end,
            text: x.c.text,
            order: x.c.order,
          })),
          { getText: (id) => texts.get(id), tokenizer: { count: () => 0 } as unknown as Tokenizer },
        );
        for (const p of ctx.passages) {
          const key = `${p.documentId}:${p.start}:${p.end}`;
          let t = passageTokens.get(key);
          if (t === undefined) {
            t = cl100k.count(p.text);
            passageTokens.set(key, t);
          }
          tokens += t;
        }
        coverage = evidenceCoverage(
          ctx.passages.filter((p) => p.documentId === gold),
          spans,
          segments,
        );
      }
      rows.push({
        setting: st.name,
        identifiable,
        doc: gold,
        task: q.task,
        docAt1: pick.picked[0] === gold ? 1 : 0,
        picked: pick.picked.length,
        coverage,
        tokens,
      });
    }
    if (++done % 100 === 0)
      console.error(`${done}/${queries.length} questions, ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }

  const agg = (rs: readonly Row[]) => ({
    n: rs.length,
    docAt1: mean(rs.map((r) => r.docAt1)),
    coverage: mean(rs.map((r) => r.coverage)),
    tokens: mean(rs.map((r) => r.tokens)),
    picked: mean(rs.map((r) => r.picked)),
  });
  const f = (x: number) => x.toFixed(3);
  console.log(
    `\n${queries.length} questions, ${texts.size} documents in one namespace; ${m} lexical candidates; chunks: Adaptive-k ${JSON.stringify(DEFAULTS.adaptiveK)}\n`,
  );
  console.log(
    `${'setting'.padEnd(26)} ${'doc@1'.padStart(6)} ${'cov'.padStart(6)} ${'tokens'.padStart(7)} ${'docs'.padStart(5)}`,
  );
  for (const st of SETTINGS) {
    const a = agg(rows.filter((r) => r.setting === st.name));
    console.log(
      `${st.name.padEnd(26)} ${f(a.docAt1).padStart(6)} ${f(a.coverage).padStart(6)} ${Math.round(a.tokens).toString().padStart(7)} ${a.picked.toFixed(2).padStart(5)}`,
    );
  }

  // Document-level cross-validation.
  const folds = Number(args.folds);
  const maxTokens = Number(args['max-tokens']);
  const docs = shuffle([...texts.keys()].sort(), seededRandom(Number(args.seed)));
  const foldOf = new Map(docs.map((d, i) => [d, i % folds]));
  const held: Row[] = [];
  const chosen: string[] = [];
  for (let k = 0; k < folds; k++) {
    const train = rows.filter((r) => foldOf.get(r.doc) !== k);
    const ok = SETTINGS.map((st) => ({ st, a: agg(train.filter((r) => r.setting === st.name)) })).filter(
      (x) => x.a.tokens <= maxTokens,
    );
    const best = ok.sort((x, y) => y.a.coverage - x.a.coverage || x.a.tokens - y.a.tokens)[0];
    if (!best) throw new Error(`fold ${k}: no setting reads at most ${maxTokens} tokens on average`);
    chosen.push(best.st.name);
    held.push(...rows.filter((r) => foldOf.get(r.doc) === k && r.setting === best.st.name));
  }
  const h = agg(held);
  console.log(
    `\ndocument-level ${folds}-fold cross-validation (best coverage at ≤ ${maxTokens} tokens on the other folds): chosen ${chosen.join(', ')}`,
  );
  console.log(
    `held out: doc@1 ${f(h.docAt1)}, coverage ${f(h.coverage)}, tokens ${Math.round(h.tokens)}, documents read ${h.picked.toFixed(2)}`,
  );
  const tasks = [...new Set(held.map((r) => r.task))];
  for (const t of tasks) {
    const a = agg(held.filter((r) => r.task === t));
    console.log(
      `  ${t.padEnd(10)} n ${String(a.n).padStart(4)}  doc@1 ${f(a.docAt1)}  coverage ${f(a.coverage)}  tokens ${Math.round(a.tokens)}`,
    );
  }

  // Questions that do not name their document: when another document holds every question term that the question's
  // own document holds, no term says which of them is meant (LaRA's questions were written for one document at a time:
  // "What was the company's net loss for the three months ended March 31, 2024?" over fifteen first-quarter filings).
  for (const [label, rs] of [
    ['identifiable by its terms', held.filter((r) => r.identifiable)],
    ['another document holds all its terms', held.filter((r) => !r.identifiable)],
  ] as const) {
    const a = agg(rs);
    console.log(
      `  ${label.padEnd(38)} n ${String(a.n).padStart(4)}  doc@1 ${f(a.docAt1)}  coverage ${f(a.coverage)}  tokens ${Math.round(a.tokens)}`,
    );
  }

  const out = resolve(args.out!);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ settings: SETTINGS, chosen, heldOut: h, rows }, null, 0)}\n`);
  console.log(`\nwritten ${out}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
