import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { routerSettings } from '../../src/container.js';
import type { RouterSettings } from '../../src/core/routing/settings.js';
import { judgeProbe } from '../../src/core/routing/probe.js';
import {
  crossValidate,
  crossValidatePolicy,
  documentFolds,
  fitAll,
  LIMITS,
  PREFERENCES,
  VARIANTS,
  zoneGrid,
  type ModelAnswers,
} from '../../eval/replay/cv.js';
import type { Answered } from '../../eval/replay/judged.js';
import type { QuestionRecord } from '../../eval/replay/records.js';
import { kindOf, outcomeOfKind, prepare, replayQuestion } from '../../eval/replay/route.js';
import { markFrontier } from '../../eval/replay/summary.js';
import { judgeLexical } from '../../eval/judges/lexical.js';
import { loadPredictions } from '../../eval/lara/dataset.js';
import { buildLaraMini } from '../fixtures/lara-mini.js';
import { ROOT } from '../helpers/paths.js';

const settings: RouterSettings = routerSettings(loadConfig({}, { dotenvPath: null }));

/** A record with signals that the default policy reads as concentrated (gap 0.5) or diffuse (gap 0.02). */
function record(over: {
  id: string;
  doc?: string;
  concentrated?: boolean;
  question?: string;
  fits?: boolean;
  ragFits?: boolean;
  tokens?: { rag: number; full: number; coa: number };
  topCoverage?: number;
}): QuestionRecord {
  const t = over.tokens ?? { rag: 1000, full: 30_000, coa: 30_000 };
  const gap = over.concentrated === false ? 0.02 : 0.5;
  return {
    id: over.id,
    documentId: over.doc ?? 'd1',
    length: '32k',
    type: 'book',
    task: 'location',
    file: 'f.txt',
    question: over.question ?? 'Where was the lamp kept?',
    signals: {
      candidates: 50,
      k: 3,
      cutIndex: 1,
      largestGap: gap,
      relativeGap: gap,
      topScore: 1,
      aboveCut: 2,
      flat: false,
      selectedShare: 0.05,
      spread: 0.1,
    },
    estimates: {
      rag: { feasible: over.ragFits ?? true, promptTokens: t.rag + 100, calls: 1, contextTokens: t.rag },
      full: {
        feasible: true,
        truncated: over.fits === false,
        promptTokens: t.full + 100,
        calls: 1,
        contextTokens: t.full,
      },
      coa: { feasible: true, promptTokens: t.coa + 500, calls: 5, contextTokens: t.coa },
    },
    documentTokens: t.full,
    window: 127_488,
    absentTerms: [],
    topCoverage: over.topCoverage ?? 1,
    denseAgrees: 1,
    tokens: t,
  };
}

const answer = (rag: boolean, full: boolean, ragAnswer: string): Answered => ({
  rag,
  full,
  verdict: judgeProbe(ragAnswer, Infinity),
});
const LONG =
  'Tomas arrived on the ferry in the second winter with a crate of oranges, stayed three weeks at the lighthouse, and spent his evenings in the lamp room with the keepers talking about the ships that passed.';

describe('replaying one question through the service’s plan', () => {
  it('keeps a short or declining retrieval answer and reads only what retrieval reads', () => {
    expect(replayQuestion(record({ id: 'a' }), answer(true, false, 'Whale oil [2].'), settings)).toEqual({
      byRag: true,
      correct: true,
      tokens: 1000,
      escalated: false,
    });
    expect(
      replayQuestion(
        record({ id: 'b', concentrated: false }),
        answer(true, false, 'The text does not mention it.'),
        settings,
      ),
    ).toEqual({ byRag: true, correct: true, tokens: 1000, escalated: false });
  });

  it('escalates a long or empty answer to full context, or to Chain-of-Agents when the text does not fit, reading both', () => {
    expect(replayQuestion(record({ id: 'c' }), answer(false, true, LONG), settings)).toEqual({
      byRag: false,
      correct: true,
      tokens: 31_000,
      escalated: true,
    });
    expect(
      replayQuestion(
        record({ id: 'd', fits: false, tokens: { rag: 1000, full: 120_000, coa: 200_000 } }),
        answer(false, true, ''),
        settings,
      ),
    ).toEqual({ byRag: false, correct: true, tokens: 201_000, escalated: true });
  });

  it('does not probe when retrieval does not fit the window: the policy’s choice answers', () => {
    const o = replayQuestion(
      record({ id: 'e', concentrated: false, ragFits: false }),
      answer(true, false, 'Whale oil.'),
      settings,
    );
    expect(o).toEqual({ byRag: false, correct: false, tokens: 30_000, escalated: false });
  });

  it('follows the preference: at 1 only declines are kept, at 0 a long answer is kept too', () => {
    const r = record({ id: 'f' });
    expect(
      replayQuestion(r, answer(true, false, 'Whale oil, in the lamp.'), settings, { preference: 1 }).escalated,
    ).toBe(true);
    expect(replayQuestion(r, answer(true, false, LONG), settings, { preference: 0 }).escalated).toBe(false);
  });

  it('skips the probe where the zones say the evidence is clear, both ways', () => {
    const zoned: RouterSettings = {
      ...settings,
      zones: { directCues: ['comparison'], directMaxRelativeGap: 0, trustMinRelativeGap: 0.3, trustMinTopCoverage: 1 },
    };
    // Diffuse with a comparison cue: read whole at once, no retrieval read.
    const comp = record({
      id: 'g',
      concentrated: false,
      question: 'How does the first keeper differ from the second?',
    });
    expect(replayQuestion(comp, answer(true, false, 'Short.'), zoned)).toEqual({
      byRag: false,
      correct: false,
      tokens: 30_000,
      escalated: false,
    });
    // Concentrated, every term in the best chunk: the long answer is kept.
    expect(replayQuestion(record({ id: 'h' }), answer(true, false, LONG), zoned)).toEqual({
      byRag: true,
      correct: true,
      tokens: 1000,
      escalated: false,
    });
    // ... but not when the best chunk misses terms.
    expect(replayQuestion(record({ id: 'i', topCoverage: 0.5 }), answer(true, false, LONG), zoned).escalated).toBe(
      true,
    );
  });

  it('decides the same through the fast path the search uses, for every zone setting and limit', () => {
    const recs = [
      record({ id: 'a' }),
      record({ id: 'b', concentrated: false }),
      record({ id: 'c', concentrated: false, question: 'How does the first keeper differ from the second?' }),
      record({ id: 'd', fits: false, tokens: { rag: 1000, full: 120_000, coa: 200_000 } }),
      record({ id: 'e', ragFits: false, concentrated: false }),
      record({ id: 'f', topCoverage: 0.6 }),
    ];
    const answers = [
      answer(true, false, 'Whale oil.'),
      answer(false, true, LONG),
      answer(true, true, ''),
      answer(false, false, 'The text does not say.'),
    ];
    for (const zones of zoneGrid()) {
      for (const balanced of [0, 30, 100]) {
        const s: RouterSettings = { ...settings, zones, probeMaxAnswerTokens: balanced };
        for (const r of recs) {
          const k = kindOf(prepare(r, s), r, zones);
          for (const a of answers) expect(outcomeOfKind(k, r, a, balanced)).toEqual(replayQuestion(r, a, s));
        }
      }
    }
  });
});

describe('cross-validation by document', () => {
  // Eight documents of five questions each; two models. Questions with a comparison cue are answered right only by the whole text.
  const recs: QuestionRecord[] = [];
  for (let d = 0; d < 8; d++) {
    for (let q = 0; q < 5; q++) {
      recs.push(
        record({
          id: `d${d}q${q}`,
          doc: `doc${d}`,
          concentrated: q % 2 === 0,
          question: q === 4 ? 'How does the first keeper differ from the second?' : `Where was lamp ${q} kept?`,
        }),
      );
    }
  }
  const model = (name: string, flip: number): ModelAnswers => ({
    model: name,
    answers: recs.map((r, i) =>
      r.question.includes('differ')
        ? answer(false, true, 'Short.')
        : answer((i + flip) % 3 !== 0, (i + flip) % 2 === 0, i % 4 === 0 ? LONG : 'Short answer.'),
    ),
  });
  const models = [model('m1', 0), model('m2', 1)];

  it('puts every question of a document in the same fold, and every fold gets documents', () => {
    const folds = documentFolds(recs, 4);
    expect(new Set(folds.values())).toEqual(new Set([0, 1, 2, 3]));
    expect([...folds.keys()].sort()).toEqual(
      recs
        .map((r) => r.documentId)
        .filter((d, i, a) => a.indexOf(d) === i)
        .sort(),
    );
  });

  it('scores every answered question once per model, rule set and mode, at every preference', () => {
    const cv = crossValidate(recs, models, settings, { folds: 4 });
    expect(cv.length).toBe(VARIANTS.length * 3 * models.length);
    for (const r of cv) {
      expect(r.outcomes.map((o) => o.question).sort((a, b) => a - b)).toEqual(recs.map((_, i) => i));
      expect(r.outcomes.every((o) => o.byPreference.length === PREFERENCES.length)).toBe(true);
      expect(r.chosen.length).toBe(4);
      expect(r.chosen.every((c) => (LIMITS as readonly number[]).includes(c.balanced))).toBe(true);
    }
  });

  it('chooses thresholds without the test fold: changing its answers changes no choice', () => {
    const base = crossValidate(recs, models, settings, { folds: 4, variants: [VARIANTS[3]!] });
    const folds = documentFolds(recs, 4);
    // Fold 0's answers all flipped: only fold 0's outcomes may change, never what any fold chose.
    const flipped = models.map((m) => ({
      ...m,
      answers: m.answers.map((a, i) =>
        a && folds.get(recs[i]!.documentId) === 0 ? { ...a, rag: !a.rag, full: !a.full } : a,
      ),
    }));
    const again = crossValidate(recs, flipped, settings, { folds: 4, variants: [VARIANTS[3]!] });
    for (let k = 0; k < base.length; k++) expect(again[k]!.chosen[0]).toEqual(base[k]!.chosen[0]);
    // The folds that train on fold 0 do see the flip: some choice moves, so the check above could fail.
    const moved = base.some((b, k) =>
      [1, 2, 3].some((f) => JSON.stringify(again[k]!.chosen[f]) !== JSON.stringify(b.chosen[f])),
    );
    expect(moved).toBe(true);
  });

  it('cross-validates the policy’s rules alone the same way: every answered question once per model and mode', () => {
    const cv = crossValidatePolicy(recs, models, settings, { folds: 4 });
    expect(cv.map((r) => `${r.model}|${r.mode}`).sort()).toEqual([
      'm1|documents',
      'm1|documents+model',
      'm2|documents',
      'm2|documents+model',
    ]);
    for (const r of cv) {
      expect(r.outcomes.map((o) => o.question).sort((a, b) => a - b)).toEqual(recs.map((_, i) => i));
      expect(r.chosen.length).toBe(4);
    }
  });

  it('finds the comparison rule where it pays: reading comparisons whole', () => {
    const chosen = fitAll(recs, models, settings, VARIANTS[1]!);
    expect(chosen.zones.directCues).toContain('comparison');
  });
});

describe('the frontier', () => {
  it('marks the points no other point dominates', () => {
    const pts = markFrontier([
      { accuracy: 0.5, tokens: 1000, onFrontier: false },
      { accuracy: 0.6, tokens: 30_000, onFrontier: false },
      { accuracy: 0.55, tokens: 40_000, onFrontier: false },
      { accuracy: 0.62, tokens: 20_000, onFrontier: false },
    ]);
    expect(pts.map((p) => p.onFrontier)).toEqual([true, false, false, true]);
  });
});

describe('npm run replay on the mini fixture', () => {
  let out: string;
  let dataset: string;
  beforeAll(async () => {
    dataset = await mkdtemp(join(tmpdir(), 'replay-data-'));
    await buildLaraMini(dataset);
    await buildLaraMini(dataset, { model: 'mini-two' });
    out = await mkdtemp(join(tmpdir(), 'replay-out-'));
    const dataDir = await mkdtemp(join(tmpdir(), 'replay-embed-'));
    await promisify(execFile)(
      'npx',
      [
        'tsx',
        'eval/replay/cli.ts',
        '--dataset',
        dataset,
        '--model',
        'mini-model',
        '--model',
        'mini-two',
        '--out',
        out,
        '--data-dir',
        dataDir,
        '--folds',
        '2',
      ],
      { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'silent' } },
    );
  }, 120_000);

  it('writes per model the default operating point and the frontier, the fixed strategies as the judge scores them', async () => {
    const s = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
    expect(Object.keys(s.models)).toEqual(['mini-model', 'mini-two']);
    const preds = loadPredictions(dataset).predictions.filter((p) => p.model === 'mini-model');
    const acc = (mode: 'rag' | 'full') => {
      const ps = preds.filter((p) => p.mode === mode);
      return (
        ps.filter(
          (p) =>
            judgeLexical({ question: p.question, answer: p.groundTruth, prediction: p.prediction, task: p.task })
              .correct,
        ).length / ps.length
      );
    };
    const m = s.models['mini-model'];
    for (const k of ['n', 'alwaysRag', 'alwaysFull', 'routed', 'oracle', 'ragShare', 'tokensRead', 'tokensFull'])
      expect(typeof m[k]).toBe('number');
    expect(m.n).toBe(8);
    expect(m.alwaysRag).toBeCloseTo(acc('rag'));
    expect(m.alwaysFull).toBeCloseTo(acc('full'));
    expect(m.routed).toBeLessThanOrEqual(m.oracle);
    expect(m.frontier.map((p: { label: string }) => p.label)).toEqual([
      'always-rag',
      'always-full',
      ...PREFERENCES.map((p) => `preference=${p}`),
    ]);
    const html = await readFile(join(out, 'report.html'), 'utf8');
    expect(html).toContain('data-chart="frontier-mini-model"');
    const svg = await readFile(join(out, 'frontier-mini-model.svg'), 'utf8');
    expect(svg).toMatch(/^<svg[^>]*><style>/);
    expect(svg.match(/data-series="preference 0→1"/g)).toHaveLength(PREFERENCES.length);
    expect(m.rulesAlone.routed).toBeLessThanOrEqual(m.oracle);
    expect(await readFile(join(out, 'report.md'), 'utf8')).toContain('## Cost–accuracy frontier');
  });
});
