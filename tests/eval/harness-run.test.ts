import { appendFile, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Parser } from 'htmlparser2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { adaptiveKSettings } from '../../src/container.js';
import { HttpBackend, InProcessBackend } from '../../eval/harness/backend.js';
import { EvalInputError, EvalStoppedError, runEval, type EvalOptions } from '../../eval/harness/runner.js';
import type { Backend } from '../../eval/harness/backend.js';
import { strategySpecs } from '../../eval/harness/strategies.js';
import type { Progress } from '../../eval/harness/progress.js';
import type { ResultRow } from '../../eval/harness/types.js';
import { lexicalJudge } from '../../eval/judges/llm.js';
import { buildLaraMini } from '../fixtures/lara-mini.js';
import { startServer, type TestServer } from '../helpers/server.js';

/**
 * The harness end to end on a tiny LaRA-style fixture, with the embedded
 * defaults (USE lite embeddings, the extractive reader, the embedded vector
 * store) and small chunks so the score curves have several points.
 */
const SETTINGS = { CHUNK_TOKENS: 40, CHUNK_OVERLAP_TOKENS: 0, LOG_LEVEL: 'silent' } as const;
const ALL = ['auto', 'rag', 'topk', 'budget', 'coa', 'full'];

let root: string;
let brokenRoot: string;
let dataDir: string;
let config: Config;
let backend: InProcessBackend;
const logger = createLogger('silent');

function specs(keys = ALL) {
  return strategySpecs(keys, { adaptiveK: adaptiveKSettings(config), topK: 2, budgetTokens: 100 });
}

async function run(out: string, over: Partial<EvalOptions> = {}) {
  return runEval({
    dataset: root,
    out,
    strategies: specs(),
    judge: lexicalJudge(),
    backend,
    config,
    logger,
    seed: 3,
    warn: () => {},
    ...over,
  });
}

beforeAll(async () => {
  const base = await mkdtemp(join(tmpdir(), 'eval-run-'));
  root = (await buildLaraMini(join(base, 'lara'))).root;
  brokenRoot = (await buildLaraMini(join(base, 'lara-broken'), { broken: true })).root;
  dataDir = join(base, 'data');
  config = loadConfig({}, { dotenvPath: null, overrides: { ...SETTINGS, DATA_DIR: dataDir } });
  backend = new InProcessBackend({ config, logger, namespace: 'eval-test' });
  await backend.start();
});

afterAll(async () => {
  await backend?.close();
});

describe('the evaluation harness on a LaRA-style fixture', () => {
  let rows: ResultRow[];
  let out: string;

  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'eval-out-'));
    const res = await run(out, { replayModels: ['mini-model'] });
    rows = res.rows;
  });

  it('runs every strategy on every question and records what each read and chose', () => {
    expect(rows.length).toBe(8 * ALL.length);
    for (const key of ALL) expect(rows.filter((r) => r.strategy === key).length).toBe(8);
    for (const r of rows) {
      expect(r.answer.startsWith('[extractive] ')).toBe(true);
      expect(r.tokensRead).toBeGreaterThan(0);
      expect(r.tokenRatio).toBeCloseTo(r.tokensRead / r.documentTokens);
      expect(r.reasons.length).toBeGreaterThan(0);
      expect(['lexical-approximate']).toContain(r.verdict.method);
    }
    expect(rows.filter((r) => r.strategy === 'topk').every((r) => r.k === 2 && r.chosen === 'rag')).toBe(true);
    expect(
      rows
        .filter((r) => r.strategy === 'coa')
        .every((r) => r.llmCalls >= 2 && r.k === null && r.evidenceCoverage === 1),
    ).toBe(true);
    expect(
      rows
        .filter((r) => r.strategy === 'full')
        .every((r) => r.tokenRatio === 1 && r.evidenceCoverage === 1 && r.answerSupport !== 0),
    ).toBe(true);
    expect(rows.filter((r) => r.strategy === 'budget').every((r) => r.tokensRead <= 100)).toBe(true);
    // Adaptive-k records its cut, and the sample questions carry their curves.
    expect(rows.filter((r) => r.strategy === 'rag').every((r) => r.cutIndex !== null && r.k !== null)).toBe(true);
    expect(rows.filter((r) => r.scoreCurve).length).toBeGreaterThanOrEqual(6);
  });

  it('writes the summary, the reports and one results line per pair', async () => {
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
    expect(summary.pairs).toMatchObject({ expected: 48, answered: 48, failed: 0 });
    expect(summary.results.map((r: { strategy: string }) => r.strategy)).toEqual(ALL);
    const lines = (await readFile(join(out, 'results.jsonl'), 'utf8')).trim().split('\n');
    expect(new Set(lines.map((l) => JSON.parse(l).key)).size).toBe(48);
    const md = await readFile(join(out, 'report.md'), 'utf8');
    expect(md).toContain('APPROXIMATE');
    expect(md).toContain('## Recorded-answer replay');
  });

  it('replays the recorded answers by route: always-RAG, always-full, routed and oracle as hand-checked', async () => {
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
    const replay = summary.replay[0];
    expect(replay.model).toBe('mini-model');
    expect(replay.questions).toBe(8);
    const loc = replay.rows.find((r: { group: string }) => r.group === 'location');
    // Full: whale oil ✓, schooner Alba ✓, guitar ✗, 28 species ✓. RAG: whale oil ✓, "does not say" ✗, violin ✓, 28 species ✓.
    expect(loc.alwaysFull).toBeCloseTo(3 / 4);
    expect(loc.alwaysRag).toBeCloseTo(3 / 4);
    expect(loc.oracle).toBe(1);
    const hallu = replay.rows.find((r: { group: string }) => r.group === 'hallu');
    expect(hallu).toMatchObject({ alwaysRag: 1, alwaysFull: 0 });
    const all = replay.rows.find((r: { group: string }) => r.group === 'all');
    // Routed accuracy is the recorded answer of the chosen route: between the two fixed routes' mix and the oracle.
    expect(all.routed).toBeLessThanOrEqual(all.oracle);
    expect(all.policy).toBeLessThanOrEqual(all.oracle);
    expect(all.ragShare).toBeGreaterThanOrEqual(0);
    expect(all.ragShare).toBeLessThanOrEqual(1);
  });

  it('routes the replay as the service does, absent-terms rule included', async () => {
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
    // The rules alone (no escalation), as the extractive reader's auto routes.
    const share = (g: string) => summary.replay[0].rows.find((r: { group: string }) => r.group === g).policyRagShare;
    // The fixture's retrieval signals send every question to full; with ROUTER_MIN_ABSENT_TERMS = 2 the questions using two or more
    // terms their document never does go to retrieval: location "fuel, befor" and "instrument, bring" (2 of 4), reasoning "keep, record,
    // over, whol, career" (1 of 2), comp "differ, favour, use", hallu "colour, brought".
    expect(config.ROUTER_MIN_ABSENT_TERMS).toBe(2);
    expect([share('location'), share('reasoning'), share('comp'), share('hallu'), share('all')]).toEqual([
      0.5,
      0.5,
      1,
      1,
      5 / 8,
    ]);
  });

  it('replays the retrieval probe on the recorded RAG answers and reports it', async () => {
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
    const replay = summary.replay[0];
    // Every recorded RAG answer of the fixture declines ("The text does not say.", "The text does not mention...") or is under 30 tokens:
    // the probe (on by default) keeps them all, so routed scores as always-RAG and reads only what retrieval reads.
    for (const r of replay.rows)
      expect(r).toMatchObject({ routed: r.alwaysRag, ragShare: 1, tokensRouted: r.tokensRag });
    const loc = replay.rows.find((r: { group: string }) => r.group === 'location');
    expect(loc.routed).toBeCloseTo(3 / 4);
    const all = replay.rows.find((r: { group: string }) => r.group === 'all');
    expect(all.tokensRouted).toBeGreaterThan(0);
    expect(all.tokensRouted).toBeLessThanOrEqual(all.tokensFull);
    const md = await readFile(join(out, 'report.md'), 'utf8');
    expect(md).toContain("the model's recorded answers stand in for the reader");
    expect(md).toMatch(
      /\| all \| 8 \| [\d.]+% \| [\d.]+% \| [\d.]+% \| [\d.]+% \| [+−][\d.]+ \| [\d.]+% \| 100\.0% \|/,
    );
    const html = await readFile(join(out, 'report.html'), 'utf8');
    expect(html).toContain('<th>tokens routed</th>');
  });

  it('replays what the config runs: with the probe off, routed is the rules alone', async () => {
    const off = await run(await mkdtemp(join(tmpdir(), 'eval-out-')), {
      replayOnly: true,
      replayModels: ['mini-model'],
      config: { ...config, ROUTER_PROBE: false },
    });
    const first = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
    const rows = off.summary.replay[0]!.rows;
    expect(rows.map((r) => [r.routed, r.ragShare])).toEqual(
      first.replay[0].rows.map((r: { policy: number; policyRagShare: number }) => [r.policy, r.policyRagShare]),
    );
    // The fixture's rules send some questions whole, which the probe answered from retrieval: the two runs differ.
    expect(rows.find((r) => r.group === 'all')!.ragShare).toBeLessThan(1);
  });

  it('renders a self-contained HTML report whose charts are there', async () => {
    const html = await readFile(join(out, 'report.html'), 'utf8');
    const charts = new Map<string, { circles: number; cuts: number; polylines: number }>();
    let current: string | null = null;
    let scripts = 0;
    const external: string[] = [];
    const parser = new Parser(
      {
        onopentag(name, attrs) {
          if (name === 'script') scripts++;
          for (const a of ['src', 'href']) if (attrs[a] && /^(https?:)?\/\//.test(attrs[a]!)) external.push(attrs[a]!);
          if (name === 'svg') {
            current = `${attrs['data-chart']}#${charts.size}`;
            charts.set(current, { circles: 0, cuts: 0, polylines: 0 });
          }
          if (current && name === 'circle' && attrs['data-series']) charts.get(current)!.circles++;
          if (current && name === 'line' && attrs['data-cut'] !== undefined) charts.get(current)!.cuts++;
          if (current && name === 'polyline') charts.get(current)!.polylines++;
        },
        onclosetag(name) {
          if (name === 'svg') current = null;
        },
      },
      { decodeEntities: true },
    );
    parser.write(html);
    parser.end();
    const byId = (id: string) => [...charts].filter(([k]) => k.startsWith(`${id}#`)).map(([, v]) => v);
    expect(scripts).toBe(0);
    expect(external).toEqual([]);
    expect(byId('accuracy-vs-tokens')[0]!.circles).toBe(ALL.length);
    expect(byId('coverage-vs-tokens')[0]!.circles).toBe(ALL.length);
    for (const t of ['location', 'reasoning', 'comp', 'hallu']) {
      expect(byId(`accuracy-vs-tokens-${t}`).length).toBe(1);
      expect(byId(`coverage-vs-tokens-${t}`)[0]!.circles).toBe(ALL.length);
    }
    const curves = byId('score-curve');
    expect(curves.length).toBeGreaterThanOrEqual(1);
    expect(curves.every((c) => c.polylines === 1)).toBe(true);
    expect(curves.some((c) => c.cuts === 1)).toBe(true);
    expect(byId('replay-mini-model').length).toBe(1);
  });

  it('gives the same numbers for the same inputs and seed, whatever the concurrency', async () => {
    const again = await run(await mkdtemp(join(tmpdir(), 'eval-out-')), {
      concurrency: 3,
      replayModels: ['mini-model'],
    });
    const first = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
    const second = JSON.parse(JSON.stringify(again.summary));
    expect(second.results).toEqual(first.results);
    expect(second.replay).toEqual(first.replay);
  });
});

describe('resume', () => {
  it('finishes an interrupted run without duplicated or missing pairs', async () => {
    const out = await mkdtemp(join(tmpdir(), 'eval-resume-'));
    const abort = new AbortController();
    let ticks = 0;
    let phase = '';
    const progress: Progress = {
      start(p) {
        phase = p;
      },
      tick() {
        if (phase === 'answer' && ++ticks === 7) abort.abort();
      },
      stop() {},
    };
    const first = await run(out, { progress, signal: abort.signal });
    expect(first.summary.interrupted).toBe(true);
    const done = first.summary.pairs.answered;
    expect(done).toBeGreaterThanOrEqual(6);
    expect(done).toBeLessThan(48);
    const before = new Map(first.rows.map((r) => [r.key, r.answer]));

    // A kill mid-write leaves a torn line: it is dropped and its pair run again.
    await appendFile(join(out, 'results.jsonl'), '{"key":"32k_book_hallu.jsonl:1|zzz","questi');
    const second = await run(out);
    expect(second.summary.interrupted).toBe(false);
    expect(second.summary.timing.pairsRun).toBe(48 - done);
    const lines = (await readFile(join(out, 'results.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as ResultRow);
    expect(lines.length).toBe(48);
    expect(new Set(lines.map((l) => l.key)).size).toBe(48);
    for (const [key, answer] of before) expect(lines.find((l) => l.key === key)!.answer).toBe(answer);

    // A third run has nothing left to do.
    const third = await run(out);
    expect(third.summary.timing.pairsRun).toBe(0);
    expect(third.summary.pairs.answered).toBe(48);
  });

  it('refuses to mix results of another judge in one directory', async () => {
    const out = await mkdtemp(join(tmpdir(), 'eval-resume-'));
    await run(out, { strategies: specs(['full']), limit: 1 });
    const other = { ...lexicalJudge(), name: 'llm:other', approximate: false };
    await expect(run(out, { strategies: specs(['full']), limit: 1, judge: other })).rejects.toThrow(
      /judge: "lexical-approximate" → "llm:other"/,
    );
  });
});

describe('bad input', () => {
  it('names the file and line of malformed lines and missing references, and never counts them as answered', async () => {
    const out = await mkdtemp(join(tmpdir(), 'eval-bad-'));
    const res = await runEval({
      dataset: brokenRoot,
      out,
      strategies: specs(['rag']),
      judge: lexicalJudge(),
      backend,
      config,
      logger,
      warn: () => {},
    });
    const where = res.summary.broken.items.map((b) => `${b.file}:${b.line}`);
    expect(where).toEqual([
      'queries/32k_book_location.jsonl:4',
      'queries/32k_book_location.jsonl:5',
      'queries/32k_paper_location.jsonl:2',
    ]);
    expect(res.summary.broken.items[0]!.message).toMatch(/not valid JSON/);
    expect(res.summary.broken.items[1]!.message).toMatch(/document not found: documents\/32k\/book\/missing.txt/);
    expect(res.summary.broken.items[2]!.message).toMatch(/segment 7 does not exist/);
    expect(res.summary.questions.selected).toBe(8);
    expect(res.summary.pairs.answered).toBe(8);
    expect(res.rows.some((r) => r.questionId === '32k_paper_location.jsonl:2')).toBe(false);
    expect(await readFile(join(out, 'report.md'), 'utf8')).toContain('`queries/32k_book_location.jsonl:4`');
  });

  it('stops before answering anything when asked to stop on bad input', async () => {
    const out = await mkdtemp(join(tmpdir(), 'eval-bad-'));
    const p = runEval({
      dataset: brokenRoot,
      out,
      strategies: specs(['rag']),
      judge: lexicalJudge(),
      backend,
      config,
      logger,
      onError: 'stop',
    });
    await expect(p).rejects.toBeInstanceOf(EvalInputError);
    await expect(p).rejects.toThrow(/queries\/32k_book_location.jsonl:4: not valid JSON/);
  });

  it('counts failed answers apart and retries them; stops on the first one when asked', async () => {
    // The service failing Chain-of-Agents answers (as an LLM outage would): the answer call throws.
    const failing: Backend = Object.assign(Object.create(backend) as Backend, {
      answer: (...args: Parameters<Backend['answer']>) =>
        args[2] === 'coa'
          ? Promise.reject(Object.assign(new Error('upstream unavailable'), { code: 'LLM_UNAVAILABLE' }))
          : backend.answer(...args),
    });
    const out = await mkdtemp(join(tmpdir(), 'eval-fail-'));
    const skipped = await run(out, { backend: failing, strategies: specs(['coa', 'full']) });
    expect(skipped.summary.pairs).toMatchObject({ expected: 16, answered: 8, failed: 8 });
    expect(skipped.summary.failures.items[0]).toMatchObject({ strategy: 'coa', code: 'LLM_UNAVAILABLE' });
    expect(skipped.summary.results.find((r) => r.strategy === 'coa')!.overall.n).toBe(0);
    // The next run retries the failed pairs only.
    const retried = await run(out, { strategies: specs(['coa', 'full']) });
    expect(retried.summary.timing.pairsRun).toBe(8);
    expect(retried.summary.pairs).toMatchObject({ answered: 16, failed: 0 });

    const stopOut = await mkdtemp(join(tmpdir(), 'eval-fail-'));
    await expect(
      run(stopOut, { backend: failing, strategies: specs(['coa']), onError: 'stop' }),
    ).rejects.toBeInstanceOf(EvalStoppedError);
    const summary = JSON.parse(await readFile(join(stopOut, 'summary.json'), 'utf8'));
    expect(summary.pairs.failed).toBe(1);
    expect(summary.pairs.answered).toBe(0);
  });

  it('says which folder is missing', async () => {
    await expect(run(await mkdtemp(join(tmpdir(), 'eval-bad-')), { dataset: join(root, 'nope') })).rejects.toThrow(
      /dataset folder not found: .*nope/,
    );
  });
});

describe('over HTTP', () => {
  let server: TestServer;
  afterAll(async () => {
    await server?.app.close();
  });

  it('replays against a running server and gets the numbers it gets in process', async () => {
    server = await startServer({ ...SETTINGS });
    const http = new HttpBackend({ url: server.url, namespace: 'eval-http' });
    const keys = ['auto', 'rag', 'topk', 'full'];
    const viaHttp = await run(await mkdtemp(join(tmpdir(), 'eval-http-')), {
      backend: http,
      strategies: specs(keys),
      limit: 4,
      concurrency: 2,
    });
    const inProcess = await run(await mkdtemp(join(tmpdir(), 'eval-http-')), { strategies: specs(keys), limit: 4 });
    expect(viaHttp.summary.backend.mode).toBe('http');
    expect(viaHttp.summary.pairs.answered).toBe(16);
    const strip = (rs: ResultRow[]) => rs.map(({ latency: _l, ...r }) => r);
    expect(strip(viaHttp.rows)).toEqual(strip(inProcess.rows));
  });
});
