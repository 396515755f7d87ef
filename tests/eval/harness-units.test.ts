import { mkdtemp, readFile, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cl100k } from '../../src/core/tokenizer.js';
import { segmentSpans } from '../../eval/lara/evidence.js';
import { cell, readingMetrics, spansRead, summarise } from '../../eval/harness/metrics.js';
import { stratifiedSample } from '../../eval/harness/sample.js';
import { ResultStore, manifestConflict } from '../../eval/harness/store.js';
import { judgeMessages, lexicalJudge, llmJudge, parseVerdict } from '../../eval/judges/llm.js';
import { agreement, laraAccuracies, pearson } from '../../eval/calibrate-judge.js';
import type { ResultRow } from '../../eval/harness/types.js';
import type { LaraPrediction } from '../../eval/lara/dataset.js';
import { startOpenAiServer, type OpenAiFixture } from '../fixtures/openai-server.js';

function row(over: Partial<ResultRow>): ResultRow {
  return {
    key: 'q|rag',
    questionId: 'q',
    order: 0,
    strategy: 'rag',
    length: '32k',
    type: 'book',
    task: 'location',
    file: 'f.txt',
    documentId: 'd',
    question: 'q?',
    groundTruth: 'a',
    chosen: 'rag',
    reasons: [],
    k: 3,
    cutIndex: 1,
    tokensRead: 100,
    documentTokens: 1000,
    tokenRatio: 0.1,
    promptTokens: 120,
    completionTokens: 10,
    llmCalls: 1,
    latency: { totalMs: 5, retrieveMs: 1, answerMs: 3, coaWorkersMs: 0, coaManagerMs: 0, judgeMs: 1 },
    answer: 'a',
    evidenceCoverage: 1,
    answerSupport: 1,
    verdict: { correct: true, score: 1, method: 'lexical-approximate' },
    ...over,
  };
}

describe('evidence metrics of what a strategy read', () => {
  // Ten characters per segment, five segments.
  const doc = 'aaaaaaaaa bbbbbbbbb ccccccccc ddddddddd eeeeeeeee ';
  const segments = segmentSpans('book', doc, 5);

  it('counts a retrieval that touches the evidence segment as covering it, and one that does not as missing it', () => {
    const ev = { gold: [segments[2]!], segments: undefined, nSegments: 5 };
    const hit = spansRead('rag', doc, [{ start: 25, end: 32 }], null);
    const miss = spansRead(
      'rag',
      doc,
      [
        { start: 0, end: 10 },
        { start: 40, end: 50 },
      ],
      null,
    );
    expect(readingMetrics(hit, doc, 'ccccccccc', ev).evidenceCoverage).toBe(1);
    expect(readingMetrics(miss, doc, 'ccccccccc', ev).evidenceCoverage).toBe(0);
  });

  it('needs both compared segments for a comparison question', () => {
    const ev = { gold: [segments[0]!, segments[4]!], segments: undefined, nSegments: 5 };
    expect(readingMetrics([{ start: 0, end: 5 }], doc, 'x', ev).evidenceCoverage).toBe(0);
    expect(
      readingMetrics(
        [
          { start: 0, end: 5 },
          { start: 45, end: 48 },
        ],
        doc,
        'x',
        ev,
      ).evidenceCoverage,
    ).toBe(1);
  });

  it('scores a whole-document question by the share of segments read', () => {
    const ev = { gold: 'full' as const, segments, nSegments: 5 };
    expect(
      readingMetrics(
        [
          { start: 0, end: 10 },
          { start: 20, end: 30 },
        ],
        doc,
        'x',
        ev,
      ).evidenceCoverage,
    ).toBeCloseTo(2 / 5);
    expect(readingMetrics(spansRead('coa', doc, null, null), doc, 'x', ev).evidenceCoverage).toBe(1);
  });

  it('loses the middle segment when full context was middle-truncated', () => {
    const words = Array.from({ length: 300 }, (_, i) => `w${i}`).join(' ');
    const tokens = cl100k.count(words);
    const spans = spansRead(
      'full',
      words,
      null,
      { keptTokens: Math.floor(tokens / 3), droppedTokens: tokens - Math.floor(tokens / 3), droppedShare: 0.67 },
      tokens,
    );
    const segs = segmentSpans('book', words, 3);
    expect(spans.length).toBe(2);
    expect(
      readingMetrics(spans, words, 'w150', { gold: [segs[1]!], segments: undefined, nSegments: 3 }).evidenceCoverage,
    ).toBe(0);
    expect(
      readingMetrics(spans, words, 'w0', { gold: [segs[0]!], segments: undefined, nSegments: 3 }).evidenceCoverage,
    ).toBe(1);
  });

  it('measures answer support over the answer words the document holds', () => {
    const text = 'The keeper burned whale oil. Later the board sent kerosene.';
    const ev = { gold: [{ start: 0, end: text.length }], segments: undefined, nSegments: 1 };
    // "whale" and "oil" are in the document and in the part read; "purple" is in neither and does not count.
    expect(readingMetrics([{ start: 0, end: 28 }], text, 'purple whale oil', ev).answerSupport).toBe(1);
    // Of "whale", "oil", "kerosene" only "kerosene" is read.
    expect(readingMetrics([{ start: 29, end: text.length }], text, 'whale oil kerosene', ev).answerSupport).toBeCloseTo(
      1 / 3,
    );
  });
});

describe('aggregation', () => {
  it('averages token ratio, coverage and accuracy, and LaRA overall is the mean of the task accuracies', () => {
    const rows = [
      row({
        key: 'a|rag',
        task: 'location',
        tokensRead: 100,
        documentTokens: 1000,
        tokenRatio: 0.1,
        verdict: { correct: true, score: 1, method: 'x' },
      }),
      row({
        key: 'b|rag',
        task: 'location',
        tokensRead: 300,
        documentTokens: 1000,
        tokenRatio: 0.3,
        evidenceCoverage: 0,
        verdict: { correct: true, score: 1, method: 'x' },
      }),
      row({
        key: 'c|rag',
        task: 'hallu',
        tokensRead: 200,
        documentTokens: 400,
        tokenRatio: 0.5,
        answerSupport: null,
        verdict: { correct: false, score: 0, method: 'x' },
      }),
      row({
        key: 'c|full',
        strategy: 'full',
        chosen: 'full',
        k: null,
        task: 'hallu',
        tokensRead: 400,
        documentTokens: 400,
        tokenRatio: 1,
      }),
    ];
    const [rag, full] = summarise(rows, [
      { key: 'rag', label: 'Adaptive-k' },
      { key: 'full', label: 'full' },
    ]);
    expect(rag!.overall.n).toBe(3);
    expect(rag!.overall.accuracy).toBeCloseTo(2 / 3);
    expect(rag!.overall.tokenRatio).toBeCloseTo(0.3);
    expect(rag!.overall.tokensRead).toBeCloseTo(200);
    expect(rag!.overall.evidenceCoverage).toBeCloseTo(2 / 3);
    expect(rag!.overall.answerSupport).toBe(1);
    expect(rag!.overall.supportN).toBe(2);
    expect(rag!.macroAccuracy).toBeCloseTo((1 + 0) / 2);
    expect(Object.keys(rag!.byTask)).toEqual(['location', 'hallu']);
    expect(full!.overall.k).toBeNull();
    expect(full!.overall.chosen).toEqual({ rag: 0, coa: 0, full: 1 });
    expect(cell([]).n).toBe(0);
  });
});

describe('judges', () => {
  let server: OpenAiFixture | null = null;
  afterEach(async () => {
    await server?.close();
    server = null;
  });

  it('lexical: a hallucination answer is right only when it says the information is missing', async () => {
    const j = lexicalJudge();
    const gt = 'The text does not mention the colour of the ferry.';
    expect(
      (
        await j.judge({
          question: 'What colour was the ferry?',
          answer: gt,
          prediction: 'The passage does not specify the colour.',
          task: 'hallu',
        })
      ).correct,
    ).toBe(true);
    expect(
      (
        await j.judge({
          question: 'What colour was the ferry?',
          answer: gt,
          prediction: 'The ferry was blue.',
          task: 'hallu',
        })
      ).correct,
    ).toBe(false);
    expect(
      (
        await j.judge({
          question: 'What fuel?',
          answer: 'Whale oil.',
          prediction: 'It burned whale oil.',
          task: 'location',
        })
      ).correct,
    ).toBe(true);
    expect(
      (await j.judge({ question: 'What fuel?', answer: 'Whale oil.', prediction: 'Kerosene.', task: 'location' }))
        .correct,
    ).toBe(false);
    expect(j.approximate).toBe(true);
  });

  it('parses True/False replies, the first word deciding', () => {
    expect(parseVerdict('True')).toBe(true);
    expect(parseVerdict('false.')).toBe(false);
    expect(parseVerdict('**True**, the answer matches; not false')).toBe(true);
    expect(parseVerdict('I cannot tell')).toBeNull();
  });

  it('LLM judge: sends LaRA rules at temperature 0 to an OpenAI-compatible endpoint and reads the verdict', async () => {
    server = await startOpenAiServer({ model: 'judge-model' });
    server.script(
      { kind: 'answer', text: 'True' },
      { kind: 'answer', text: 'Well...' },
      { kind: 'answer', text: 'hmm' },
    );
    const j = llmJudge({ url: server.baseUrl, model: 'judge-model' });
    const right = await j.judge({
      question: 'What colour was the ferry?',
      answer: 'The text does not mention it.',
      prediction: 'Not mentioned.',
      task: 'hallu',
    });
    expect(right).toMatchObject({ correct: true, method: 'llm:judge-model' });
    const body = server.requests[0]!.body!;
    expect(body.temperature).toBe(0);
    expect(body.messages.at(-1)!.content).toContain('recognises that the text does not contain the information');
    expect(body.messages.at(-1)!.content).toContain('[Ground truth answer] The text does not mention it.');
    // Neither word twice: counted wrong, the reply kept for reading.
    const unsure = await j.judge({ question: 'q', answer: 'a', prediction: 'p', task: 'location' });
    expect(unsure.correct).toBe(false);
    expect(unsure.detail).toContain('unparsed');
    expect(server.requests.length).toBe(3);
    await j.close();
  });

  it('uses the non-hallucination rule for other tasks', () => {
    const m = judgeMessages({ question: 'q', answer: 'a', prediction: 'p', task: 'comp' });
    expect(m.at(-1)!.content).not.toContain('hallucinated');
    expect(m.at(-1)!.content).toContain('True or False');
  });
});

describe('sampling', () => {
  it('gives the same sample for the same seed, spreads a limit over every group, and differs by seed', () => {
    const groups = [
      Array.from({ length: 10 }, (_, i) => `a${i}`),
      Array.from({ length: 10 }, (_, i) => `b${i}`),
      ['c0', 'c1'],
    ];
    const s1 = stratifiedSample(groups, 7, 6);
    expect(stratifiedSample(groups, 7, 6)).toEqual(s1);
    expect(new Set(s1.map((x) => x[0]))).toEqual(new Set(['a', 'b', 'c']));
    expect(stratifiedSample(groups, 8, 22)).not.toEqual(stratifiedSample(groups, 7, 22));
    expect(new Set(stratifiedSample(groups, 8)).size).toBe(22);
  });
});

describe('result store', () => {
  it('drops a torn last line, keeps one row per key, and appends on a fresh line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'eval-store-'));
    const store = await ResultStore.open(dir);
    await store.append(row({ key: 'q1|rag', questionId: 'q1' }));
    await store.append(row({ key: 'q2|rag', questionId: 'q2', order: 1 }));
    await appendFile(join(dir, 'results.jsonl'), '{"key":"q3|rag","questionId":"q3","ord');
    const reopened = await ResultStore.open(dir);
    expect(reopened.repaired).toBe(1);
    expect(reopened.has('q3|rag')).toBe(false);
    await reopened.append(row({ key: 'q3|rag', questionId: 'q3', order: 2 }));
    await reopened.append(row({ key: 'q1|rag', questionId: 'q1', answer: 'again' }));
    const lines = (await readFile(join(dir, 'results.jsonl'), 'utf8')).trim().split('\n');
    expect(lines.every((l) => JSON.parse(l))).toBe(true);
    const third = await ResultStore.open(dir);
    expect(third.rows().map((r) => r.key)).toEqual(['q1|rag', 'q2|rag', 'q3|rag']);
    expect(third.rows()[0]!.answer).toBe('again');
  });

  it('keeps a failure only until the pair succeeds', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'eval-store-'));
    const store = await ResultStore.open(dir);
    await store.fail({
      key: 'q1|rag',
      questionId: 'q1',
      strategy: 'rag',
      code: 'LLM_TIMEOUT',
      message: 'slow',
      at: 'now',
    });
    expect((await ResultStore.open(dir)).failures().map((f) => f.code)).toEqual(['LLM_TIMEOUT']);
    await store.append(row({ key: 'q1|rag', questionId: 'q1' }));
    expect((await ResultStore.open(dir)).failures()).toEqual([]);
  });

  it('names what differs when a directory was made with another judge or settings', () => {
    const base = {
      dataset: 'd',
      judge: 'lexical-approximate',
      reader: 'r',
      embedder: 'e',
      settings: { CHUNK_TOKENS: 400 },
    };
    expect(manifestConflict(base, { ...base })).toBeNull();
    expect(manifestConflict(base, { ...base, judge: 'llm:x', settings: { CHUNK_TOKENS: 200 } })).toMatch(
      /judge.*CHUNK_TOKENS: 400 → 200/,
    );
  });

  it('rewrites a file that lost its final newline', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'eval-store-'));
    await writeFile(join(dir, 'results.jsonl'), JSON.stringify(row({ key: 'q1|rag' })));
    const store = await ResultStore.open(dir);
    await store.append(row({ key: 'q2|rag', order: 1 }));
    expect((await readFile(join(dir, 'results.jsonl'), 'utf8')).trim().split('\n').length).toBe(2);
  });
});

describe('calibration arithmetic', () => {
  it('computes sign agreement, correlation and mean absolute difference of gaps', () => {
    const a = agreement([
      { ours: 10, published: 20 },
      { ours: -5, published: -10 },
      { ours: 3, published: -1 },
    ]);
    expect(a.n).toBe(3);
    expect(a.signAgree).toBe(2);
    expect(a.meanAbsDiff).toBeCloseTo((10 + 5 + 4) / 3);
    expect(a.pearson).toBeCloseTo(pearson([10, -5, 3], [20, -10, -1])!);
    expect(pearson([1, 2, 3], [2, 4, 6])).toBeCloseTo(1);
    expect(pearson([1, 2], [2, 4])).toBeNull();
  });

  it('averages accuracy per document type before per task, as LaRA scores', () => {
    const p = (type: string, correct: boolean, i: number): { p: LaraPrediction; correct: boolean } => ({
      p: {
        model: 'm',
        mode: 'full',
        length: '32k',
        type,
        task: 'location',
        question: `q${i}`,
        prediction: '',
        groundTruth: '',
        line: i,
        predictionFile: 'x',
      },
      correct,
    });
    // book 1/1, paper 1/3: LaRA's task accuracy is (1 + 1/3) / 2, not 2/4.
    const acc = laraAccuracies([p('book', true, 1), p('paper', true, 2), p('paper', false, 3), p('paper', false, 4)]);
    expect(acc.get('m|full|32k|location')!.acc).toBeCloseTo((1 + 1 / 3) / 2);
    expect(acc.get('m|full|32k|location')!.n).toBe(4);
  });
});
