/**
 * The router's two measurements on a LaRA-style dataset (Li et al., 2025,
 * arXiv 2502.09977), with our own retrieval signals:
 *
 * (a) Coverage at cost: evidence coverage and tokens read per question for
 *     auto, always-RAG (Adaptive-k), always-full and always-CoA, per task.
 *     Full context and CoA read everything; with a window smaller than a
 *     document, full context is middle-truncated (as LaRA did) and its coverage
 *     is that of the kept head and tail.
 * (b) Recorded-answer replay: LaRA ships each model's answers with full
 *     context and with RAG. Per question the router decides (CoA counts as
 *     full), the recorded answer of the chosen route is judged by the
 *     APPROXIMATE lexical judge (eval/judges/lexical.ts), and routed accuracy is
 *     compared with always-RAG, always-full and the oracle (best of both).
 *     Three ways of routing are replayed: the rules alone (src/core/routing/
 *     policy.ts), the rules with Self-Route, and the retrieval probe the
 *     service runs by default with a generative reader (src/core/routing/
 *     probe.ts: the recorded RAG answer is kept when it declines or is short,
 *     judged by the service's own judgeProbe, else the full answer is taken);
 *     with the probe every question costs a retrieval read, and the escalated
 *     ones a whole-text read on top (the "read" column).
 *
 *   npx tsx eval/replay-router.ts --dataset ../shared/datasets/lara --model gpt-4o [--model ...]
 *     [--data-dir data/eval-embed] [--window 128000] [--limit N] [--lengths 32k,128k]
 *     [--sweep] [--tune-for routed|probe] [--min-rag-share 0.4] [--out eval-out/router.json]
 *
 * Documents are chunked and embedded by the in-process core with the default
 * config (the embedding cache under DATA_DIR makes re-runs cheap; the default
 * data dir is the one eval/measure-retrieval.ts uses, so both share it).
 * --sweep searches the thresholds on one length and checks them on the other
 * (documents never cross: each length has its own documents), both ways:
 * the policy's thresholds (--tune-for routed) or the probe's answer-length
 * threshold (--tune-for probe).
 */
import { configuredAdaptiveK } from '../src/core/retrieval/defaults.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from '../src/config.js';
import { buildContainer, type Container } from '../src/container.js';
import { createLogger } from '../src/logger.js';
import { cl100k } from '../src/core/tokenizer.js';
import type { RetrievalSignals } from '../src/core/retrieval/service.js';
import { middleTruncate } from '../src/core/strategies/budget.js';
import { CUE_NAMES, type CueName } from '../src/core/routing/cues.js';
import { decide, type RouterThresholds, type RoutingEstimates } from '../src/core/routing/policy.js';
import { thresholdsFromConfig } from '../src/core/routing/query-service.js';
import { absentTerms, vocabulary } from '../src/core/routing/terms.js';
import { escalationOrder, judgeProbe, keptAt, type ProbeVerdict } from '../src/core/routing/probe.js';
import type { StrategyName } from '../src/core/strategies/types.js';
import { estimatingReader } from './harness/replay.js';
import { loadLara, loadPredictions, type LaraQuery } from './lara/dataset.js';
import { evidenceCoverage, goldSpans, segmentSpans, type Span } from './lara/evidence.js';
import { judgeLexical } from './judges/lexical.js';
import { LARA_NAMESPACE as NAMESPACE, ingestLara as ingest, laraDocumentId as documentId } from './lara/ingest.js';

const { values: args } = parseArgs({
  options: {
    dataset: { type: 'string', default: '../shared/datasets/lara' },
    model: { type: 'string', multiple: true, default: ['gpt-4o'] },
    'data-dir': { type: 'string', default: 'data/eval-embed' },
    window: { type: 'string', default: '128000' },
    limit: { type: 'string' },
    lengths: { type: 'string' },
    sweep: { type: 'boolean', default: false },
    'min-rag-share': { type: 'string', default: '0.4' },
    /** What --sweep tunes: the policy's thresholds ('routed') or the retrieval probe's ROUTER_PROBE_MAX_ANSWER_TOKENS ('probe'). */
    'tune-for': { type: 'string', default: 'routed' },
    out: { type: 'string', default: 'eval-out/router.json' },
  },
});

const WINDOW = Number(args.window);
const MIN_RAG_SHARE = Number(args['min-rag-share']);
const TUNE_FOR = args['tune-for'];
if (TUNE_FOR !== 'routed' && TUNE_FOR !== 'probe') throw new Error(`--tune-for must be routed or probe, not ${String(TUNE_FOR)}`);

/** What the router sees of one question, plus what the measurements need. */
interface QuestionRecord {
  q: LaraQuery;
  signals: RetrievalSignals;
  /** The question's terms the document never uses (the absent-terms rule). */
  absentTerms: string[];
  selectedTokens: number;
  documentTokens: number;
  estimates: RoutingEstimates;
  coverage: { rag: number; full: number; coa: number };
  tokens: { rag: number; full: number; coa: number };
  promptTokens: { rag: number; full: number; coa: number };
}

async function measureQuestions(c: Container, cfg: Config, queries: Array<{ q: LaraQuery; nSegments: number }>, text: (q: LaraQuery) => string): Promise<QuestionRecord[]> {
  const out: QuestionRecord[] = [];
  const kept = new Map<string, Span[]>();
  const vocabularies = new Map<string, Set<string>>();
  const selection = configuredAdaptiveK(cfg);
  // The extractive reader has no window of its own: estimate as a reader with the stated window would (LaRA's models: 128k).
  const reader = estimatingReader(WINDOW);
  let done = 0;
  for (const { q, nSegments } of queries) {
    const id = documentId(q);
    const docText = text(q);
    const r = await c.retrieval.retrieve({ namespace: NAMESPACE, question: q.question, documentIds: [id], method: selection, score: cfg.RETRIEVAL_SCORE as never, hybridAlpha: 0.5 });
    const docs = await c.retrieval.resolveScope(NAMESPACE, [id]);
    const e = c.answers.estimateCosts(docs, r.tokens.selected, reader, q.question);
    const gold = goldSpans(q, docText, nSegments);
    const segments = gold === 'full' ? segmentSpans(q.type, docText, nSegments) : undefined;
    const cover = (spans: readonly Span[]) => evidenceCoverage(spans, gold, segments);

    // What full context keeps of the document: all of it, or head and tail around a cut middle.
    let spans = kept.get(id);
    if (!spans) {
      const ht = middleTruncate(docText, e.full.contextTokens, (t) => cl100k.count(t), docs[0]!.tokens);
      spans = [ht.head, ...(ht.tail ? [ht.tail] : [])];
      kept.set(id, spans);
    }
    let vocab = vocabularies.get(id);
    if (!vocab) vocabularies.set(id, (vocab = vocabulary(docText)));
    out.push({
      q,
      signals: r.signals,
      absentTerms: absentTerms(q.question, [vocab]),
      selectedTokens: r.tokens.selected,
      documentTokens: r.tokens.documents,
      estimates: e,
      coverage: { rag: cover(r.passages), full: cover(spans), coa: e.coa.feasible ? 1 : 0 },
      tokens: { rag: e.rag.contextTokens, full: e.full.contextTokens, coa: e.coa.contextTokens },
      promptTokens: { rag: e.rag.promptTokens, full: e.full.promptTokens, coa: e.coa.promptTokens },
    });
    if (++done % 100 === 0) console.error(`retrieved ${done}/${queries.length}`);
  }
  return out;
}

function decision(rec: QuestionRecord, t: RouterThresholds): { strategy: StrategyName; answerMayBeAbsent: boolean } {
  return decide(rec.signals, { question: rec.q.question, documentTokens: rec.documentTokens, window: WINDOW, budgets: {}, estimates: rec.estimates, absentTerms: rec.absentTerms }, t);
}

function route(rec: QuestionRecord, t: RouterThresholds): StrategyName {
  return decision(rec, t).strategy;
}

const mean = (xs: readonly number[]): number => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
const pct = (x: number): string => (Number.isNaN(x) ? '   -' : (100 * x).toFixed(1).padStart(5));
const kt = (x: number): string => (Number.isNaN(x) ? '   -' : `${(x / 1000).toFixed(1)}k`.padStart(7));

function groupBy<T>(xs: readonly T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    m.set(k, [...(m.get(k) ?? []), x]);
  }
  return m;
}

/** (a) Coverage and tokens read per task, for auto and the three fixed strategies. */
function coverageTable(recs: readonly QuestionRecord[], t: RouterThresholds): { text: string; rows: unknown[] } {
  const lines = [
    `window ${WINDOW} tokens; coverage = share of questions whose evidence segment(s) the context reaches; tokens = document tokens given to the LLM (prompt tokens incl. instructions/notes in brackets)`,
    'task        n  | auto cov  tokens (prompt)   mix rag/full/coa | rag cov  tokens | full cov  tokens | coa cov  tokens (prompt)',
  ];
  const rows: unknown[] = [];
  const groups = [...groupBy(recs, (r) => r.q.task), ['all', [...recs]] as [string, QuestionRecord[]]];
  for (const [task, rs] of groups) {
    const choice = rs.map((r) => route(r, t));
    const auto = rs.map((r, i) => ({ cov: r.coverage[choice[i]!], tok: r.tokens[choice[i]!], prompt: r.promptTokens[choice[i]!] }));
    const mix = (['rag', 'full', 'coa'] as const).map((s) => choice.filter((c) => c === s).length);
    const row = {
      task,
      n: rs.length,
      auto: { coverage: mean(auto.map((a) => a.cov)), tokens: mean(auto.map((a) => a.tok)), promptTokens: mean(auto.map((a) => a.prompt)), mix: { rag: mix[0], full: mix[1], coa: mix[2] } },
      rag: { coverage: mean(rs.map((r) => r.coverage.rag)), tokens: mean(rs.map((r) => r.tokens.rag)) },
      full: { coverage: mean(rs.map((r) => r.coverage.full)), tokens: mean(rs.map((r) => r.tokens.full)) },
      coa: { coverage: mean(rs.map((r) => r.coverage.coa)), tokens: mean(rs.map((r) => r.tokens.coa)), promptTokens: mean(rs.map((r) => r.promptTokens.coa)) },
    };
    rows.push(row);
    lines.push(
      `${task.padEnd(10)} ${String(rs.length).padStart(4)} | ${pct(row.auto.coverage)} ${kt(row.auto.tokens)} (${kt(row.auto.promptTokens)})  ${String(mix[0]).padStart(4)}/${String(mix[1]).padStart(4)}/${String(mix[2]).padStart(3)} |` +
        ` ${pct(row.rag.coverage)} ${kt(row.rag.tokens)} | ${pct(row.full.coverage)} ${kt(row.full.tokens)} | ${pct(row.coa.coverage)} ${kt(row.coa.tokens)} (${kt(row.coa.promptTokens)})`,
    );
  }
  return { text: lines.join('\n'), rows };
}

/** A question with both recorded answers judged. */
interface Judged {
  rec: QuestionRecord;
  rag: boolean;
  full: boolean;
  /**
   * The service's probe verdict on the recorded RAG answer with no length limit: whether it declines in its first
   * sentence (what Self-Route escalates, and the probe keeps), and its length.
   */
  probe: ProbeVerdict;
}


function judgeAll(recs: readonly QuestionRecord[], model: string, root: string): { judged: Judged[]; missing: number } {
  const { predictions } = loadPredictions(root);
  const preds = new Map<string, { rag?: boolean; full?: boolean; probe?: ProbeVerdict }>();
  for (const p of predictions) {
    if (p.model !== model) continue;
    const key = `${p.length}|${p.type}|${p.task}|${p.file ?? ''}|${p.question}`;
    const e = preds.get(key) ?? {};
    e[p.mode] = judgeLexical({ question: p.question, answer: p.groundTruth, prediction: p.prediction, task: p.task }).correct;
    if (p.mode === 'rag') e.probe = judgeProbe(p.prediction, Infinity);
    preds.set(key, e);
  }
  const judged: Judged[] = [];
  let missing = 0;
  for (const rec of recs) {
    const e = preds.get(`${rec.q.length}|${rec.q.type}|${rec.q.task}|${rec.q.file}|${rec.q.question}`);
    if (e?.rag === undefined || e.full === undefined) {
      missing++;
      continue;
    }
    judged.push({ rec, rag: e.rag, full: e.full, probe: e.probe ?? { keep: false, why: 'empty', answerTokens: 0 } });
  }
  return { judged, missing };
}

interface ReplayRow {
  group: string;
  n: number;
  rag: number;
  full: number;
  routed: number;
  oracle: number;
  ragShare: number;
  /** Always-RAG with Self-Route (Li et al., EMNLP 2024): a declined retrieval answer is replaced by the full one. */
  selfRoute: number;
  /** Routed, then Self-Route on the questions routed to retrieval (not those the absent-terms rule sent there), as the service does with ROUTER_SELF_ROUTE on. */
  routedSelfRoute: number;
  /** Share answered from retrieval by routed + Self-Route (escalated questions read both). */
  routedSelfRouteRagShare: number;
  /** The retrieval probe (the service's default with a generative reader): the RAG answer when kept, else the full one. */
  probe: number;
  /** Share answered from retrieval alone by the probe. */
  probeRagShare: number;
  /** Document tokens read per question with the probe: the retrieval read, plus the policy's whole-text read when escalated. */
  probeTokens: number;
}

function replayRow(group: string, js: readonly Judged[], t: RouterThresholds, maxAnswerTokens: number): ReplayRow {
  const ds = js.map((j) => decision(j.rec, t));
  const kept = js.map((j) => keptAt(j.probe, maxAnswerTokens));
  // Escalated, the probe reads what the service would (no budgets here: the first of the order).
  const whole = js.map((j, i) => j.rec.tokens[escalationOrder(ds[i]!.strategy, j.rec.estimates.full.feasible && !j.rec.estimates.full.truncated)[0]!]);
  const toRag = ds.map((d) => d.strategy === 'rag');
  const escalated = js.map((j, i) => toRag[i]! && !ds[i]!.answerMayBeAbsent && j.probe.why === 'declined');
  return {
    group,
    n: js.length,
    rag: mean(js.map((j) => +j.rag)),
    full: mean(js.map((j) => +j.full)),
    routed: mean(js.map((j, i) => +(toRag[i] ? j.rag : j.full))),
    oracle: mean(js.map((j) => +(j.rag || j.full))),
    ragShare: mean(toRag.map((x) => +x)),
    selfRoute: mean(js.map((j) => +(j.probe.why === 'declined' ? j.full : j.rag))),
    routedSelfRoute: mean(js.map((j, i) => +(toRag[i] && !escalated[i] ? j.rag : j.full))),
    routedSelfRouteRagShare: mean(js.map((_, i) => +(toRag[i]! && !escalated[i]))),
    probe: mean(js.map((j, i) => +(kept[i] ? j.rag : j.full))),
    probeRagShare: mean(kept.map((k) => +k)),
    probeTokens: mean(js.map((j, i) => j.rec.tokens.rag + (kept[i] ? 0 : whole[i]!))),
  };
}

function replayTable(js: readonly Judged[], t: RouterThresholds, maxAnswerTokens: number): { text: string; rows: ReplayRow[] } {
  const rows: ReplayRow[] = [];
  for (const [k, g] of groupBy(js, (j) => j.rec.q.task)) rows.push(replayRow(k, g, t, maxAnswerTokens));
  for (const [k, g] of groupBy(js, (j) => j.rec.q.length)) rows.push(replayRow(k, g, t, maxAnswerTokens));
  rows.push(replayRow('all', js, t, maxAnswerTokens));
  const lines = [
    `rules: the policy alone; SR: with Self-Route; probe: the retrieval probe, answers of at most ${maxAnswerTokens} tokens or declining kept; read: document tokens per question`,
    'group        n   always-RAG  always-full  routed  oracle  to-RAG   routed - best | Self-Route  routed+SR  by-RAG |  probe  by-RAG  −best    read',
  ];
  for (const r of rows) {
    lines.push(
      `${r.group.padEnd(10)} ${String(r.n).padStart(4)}   ${pct(r.rag)}       ${pct(r.full)}      ${pct(r.routed)}   ${pct(r.oracle)}   ${pct(r.ragShare)}   ${((r.routed - Math.max(r.rag, r.full)) * 100).toFixed(1).padStart(6)}` +
        `        | ${pct(r.selfRoute)}       ${pct(r.routedSelfRoute)}  ${pct(r.routedSelfRouteRagShare)} |  ${pct(r.probe)}   ${pct(r.probeRagShare)}  ${((r.probe - Math.max(r.rag, r.full)) * 100).toFixed(1).padStart(5)} ${kt(r.probeTokens)}`,
    );
  }
  return { text: lines.join('\n'), rows };
}

/** Threshold grid: few knobs, coarse steps. */
function* grid(base: RouterThresholds): Generator<RouterThresholds> {
  const cueSets: CueName[][] = [[...CUE_NAMES], ['comparison'], ['comparison', 'aggregation'], []];
  for (const minRelativeGap of [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5])
    for (const maxAboveCut of [1, 2, 3, 5, 8, 1_000_000])
      for (const maxSelectedShare of [0.1, 0.2, 0.35, 0.5, 1])
        for (const maxSpread of [1, 0.5, 0.25])
          for (const diffuseCues of cueSets) yield { ...base, minRelativeGap, maxAboveCut, maxSelectedShare, maxSpread, diffuseCues };
}

/** What --sweep tunes: the policy's thresholds, or the probe's answer-length limit. */
interface Tuning {
  t: RouterThresholds;
  maxAnswerTokens: number;
}

const PROBE_LIMITS = [0, 10, 20, 30, 40, 50, 60, 80, 100];

function* candidates(base: Tuning): Generator<Tuning> {
  if (TUNE_FOR === 'probe') for (const maxAnswerTokens of PROBE_LIMITS) yield { ...base, maxAnswerTokens };
  else for (const t of grid(base.t)) yield { ...base, t };
}

/** The accuracy and retrieval share --sweep optimises. */
function objective(row: ReplayRow): { acc: number; share: number } {
  return TUNE_FOR === 'probe' ? { acc: row.probe, share: row.probeRagShare } : { acc: row.routed, share: row.ragShare };
}

/** Best candidate on `tune`: highest accuracy with at least MIN_RAG_SHARE of questions answered by retrieval; ties to the larger share. */
function tuneOn(tune: readonly Judged[], base: Tuning): (Tuning & { row: ReplayRow }) | null {
  if (tune.length === 0) return null;
  let best: (Tuning & { row: ReplayRow }) | null = null;
  for (const c of candidates(base)) {
    const row = replayRow('tune', tune, c.t, c.maxAnswerTokens);
    const o = objective(row);
    if (o.share < MIN_RAG_SHARE) continue;
    const b = best && objective(best.row);
    if (!b || o.acc > b.acc + 1e-9 || (Math.abs(o.acc - b.acc) < 1e-9 && o.share > b.share)) best = { ...c, row };
  }
  return best;
}

const show = (t: RouterThresholds): string =>
  `minRelativeGap=${t.minRelativeGap} maxAboveCut=${t.maxAboveCut} maxSelectedShare=${t.maxSelectedShare} maxSpread=${t.maxSpread} diffuseCues=${t.diffuseCues.join(',') || '(none)'}` +
  ` maxQuestionWords=${t.maxQuestionWords} minAbsentTerms=${t.minAbsentTerms}`;
const showTuning = (c: Tuning): string => (TUNE_FOR === 'probe' ? `ROUTER_PROBE_MAX_ANSWER_TOKENS=${c.maxAnswerTokens}` : show(c.t));

async function main(): Promise<void> {
  const root = resolve(args.dataset!);
  const lengths = args.lengths?.split(',').map((s) => s.trim());
  const ds = loadLara(root, lengths ? { lengths } : {});
  for (const e of ds.errors) console.error(`malformed: ${e.file}:${e.line}: ${e.message}`);
  const limit = args.limit === undefined ? Infinity : Number(args.limit);
  const queries = ds.groups.flatMap((g) => g.queries.slice(0, limit).map((q) => ({ q, nSegments: g.nSegments })));

  const cfg = loadConfig(process.env, {
    dotenvPath: null,
    overrides: { DATA_DIR: resolve(args['data-dir']!), LLM_PROVIDER: 'extractive', LOG_LEVEL: 'warn' },
  });
  const c = buildContainer(cfg, createLogger('warn'), { role: 'local' });
  await c.runner?.start();
  const out: Record<string, unknown> = { window: WINDOW, dataDir: args['data-dir'], questions: queries.length, judge: 'lexical-approximate' };
  try {
    const text = (q: LaraQuery) => ds.documentText(q);
    await ingest(c, queries.map((x) => x.q), text);
    const recs = await measureQuestions(c, cfg, queries, text);
    const configured = thresholdsFromConfig(cfg);
    const maxAnswerTokens = cfg.ROUTER_PROBE_MAX_ANSWER_TOKENS;
    out.thresholds = { ...configured, probeMaxAnswerTokens: maxAnswerTokens };

    console.log(`\n== (a) Coverage at cost, ${recs.length} questions, thresholds: ${show(configured)}`);
    const cov = coverageTable(recs, configured);
    console.log(cov.text);
    out.coverage = cov.rows;

    const models: Record<string, unknown> = {};
    for (const model of args.model!) {
      const { judged, missing } = judgeAll(recs, model, root);
      console.log(`\n== (b) Recorded-answer replay, ${model}: ${judged.length} questions with both answers (${missing} without), lexical judge (approximate)`);
      const rt = replayTable(judged, configured, maxAnswerTokens);
      console.log(rt.text);
      const m: Record<string, unknown> = { questions: judged.length, missing, configured: rt.rows };
      if (args.sweep) {
        for (const [tuneLen, checkLen] of [['32k', '128k'], ['128k', '32k']] as const) {
          const tune = judged.filter((j) => j.rec.q.length === tuneLen);
          const check = judged.filter((j) => j.rec.q.length === checkLen);
          const best = tuneOn(tune, { t: configured, maxAnswerTokens });
          if (!best || check.length === 0) continue;
          const o = objective(best.row);
          console.log(`\n-- tuned for ${TUNE_FOR} on ${tuneLen} (${pct(o.acc)}, to RAG ${pct(o.share)}): ${showTuning(best)}\n   checked on ${checkLen}:`);
          const held = replayTable(check, best.t, best.maxAnswerTokens);
          console.log(held.text);
          m[`tuned-on-${tuneLen}`] = { thresholds: best.t, maxAnswerTokens: best.maxAnswerTokens, tune: best.row, check: held.rows };
        }
        const all = tuneOn(judged, { t: configured, maxAnswerTokens });
        if (all) {
          const o = objective(all.row);
          console.log(`\n-- tuned for ${TUNE_FOR} on all dev: ${pct(o.acc)}, to RAG ${pct(o.share)}: ${showTuning(all)}`);
          m['tuned-on-all'] = { thresholds: all.t, maxAnswerTokens: all.maxAnswerTokens, row: all.row };
        }
        if (TUNE_FOR === 'probe') {
          console.log(`\n-- probe answer-length limits (all dev): accuracy − best fixed @ share answered by retrieval, document tokens read`);
          for (const limit of PROBE_LIMITS) {
            const row = replayRow('all', judged, configured, limit);
            console.log(`   ${String(limit).padStart(3)} tokens: ${((row.probe - Math.max(row.rag, row.full)) * 100).toFixed(1).padStart(5)} @ ${pct(row.probeRagShare)}%  ${kt(row.probeTokens)}`);
          }
        }
      }
      models[model] = m;
    }
    out.replay = models;
    out.signals = recs.map((r) => ({
      id: r.q.id,
      question: r.q.question,
      file: r.q.file,
      task: r.q.task,
      length: r.q.length,
      type: r.q.type,
      signals: r.signals,
      absentTerms: r.absentTerms,
      selectedTokens: r.selectedTokens,
      documentTokens: r.documentTokens,
      estimates: r.estimates,
      coverage: r.coverage,
    }));
    mkdirSync(dirname(resolve(args.out!)), { recursive: true });
    writeFileSync(resolve(args.out!), JSON.stringify(out, null, 1));
    console.error(`\nwrote ${args.out}`);
  } finally {
    await c.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
