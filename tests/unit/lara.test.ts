import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadLara, loadPredictions } from '../../eval/lara/dataset.js';
import { answerSupport, evidenceCoverage, goldSpans, segmentSpans } from '../../eval/lara/evidence.js';

describe('LaRA segments and gold spans', () => {
  it('slices books into n equal character segments, dropping the remainder', () => {
    const text = 'abcdefghij'; // 10 characters, 3 segments of floor(10/3) = 3
    expect(segmentSpans('book', text, 3)).toEqual([
      { start: 0, end: 3 },
      { start: 3, end: 6 },
      { start: 6, end: 9 },
    ]);
    expect(goldSpans({ type: 'financial', contextOrder: 1, compParts: null }, text, 3)).toEqual([{ start: 3, end: 6 }]);
  });

  it('finds paper sections from their <paper N> lines', () => {
    const text = '<paper 0>\nFirst paper.\n<paper 1>\nSecond.\n<paper 2>\nThird';
    const p1 = text.indexOf('<paper 1>');
    const p2 = text.indexOf('<paper 2>');
    expect(segmentSpans('paper', text, 0)).toEqual([
      { start: 0, end: p1 },
      { start: p1, end: p2 },
      { start: p2, end: text.length },
    ]);
    expect(goldSpans({ type: 'paper', contextOrder: null, compParts: [0, 2] }, text, 3)).toEqual([
      { start: 0, end: p1 },
      { start: p2, end: text.length },
    ]);
  });

  it('returns full for whole-document questions and rejects a segment the document lacks', () => {
    expect(goldSpans({ type: 'book', contextOrder: 'full', compParts: null }, 'abc', 3)).toBe('full');
    expect(() => goldSpans({ type: 'paper', contextOrder: 4, compParts: null }, '<paper 0>\nx', 1)).toThrow(
      /segment 4/,
    );
  });
});

describe('evidenceCoverage', () => {
  const gold = [
    { start: 10, end: 20 },
    { start: 40, end: 50 },
  ];

  it('is 1 only when every gold span is touched by a selected span', () => {
    expect(
      evidenceCoverage(
        [
          { start: 0, end: 11 },
          { start: 49, end: 60 },
        ],
        gold,
      ),
    ).toBe(1);
    expect(evidenceCoverage([{ start: 0, end: 11 }], gold)).toBe(0);
    expect(evidenceCoverage([{ start: 0, end: 60 }], gold)).toBe(1);
  });

  it('does not count a span that only borders the gold span', () => {
    expect(
      evidenceCoverage(
        [
          { start: 0, end: 10 },
          { start: 20, end: 40 },
        ],
        [{ start: 10, end: 20 }],
      ),
    ).toBe(0);
  });

  it('gives the share of segments touched for whole-document questions', () => {
    const segments = segmentSpans('book', 'x'.repeat(100), 4);
    expect(
      evidenceCoverage(
        [
          { start: 0, end: 30 },
          { start: 80, end: 90 },
        ],
        'full',
        segments,
      ),
    ).toBe(0.75);
    expect(() => evidenceCoverage([], 'full')).toThrow(/segments/);
  });
});

describe('answerSupport', () => {
  const doc = 'The company had 9 business resource networks and more than 260 clients in 2023.';

  it('is the share of the answer words found in the document that the selection contains', () => {
    // Content words of the answer present in the document: company, 9, business, resource, networks.
    expect(
      answerSupport('The company had 9 business resource networks.', doc, 'company business resource'),
    ).toBeCloseTo(3 / 5, 12);
    expect(answerSupport('The company had 9 business resource networks.', doc, doc)).toBe(1);
  });

  it('ignores answer words absent from the document and is null when none occur', () => {
    expect(answerSupport('The text does not mention any clients.', doc, 'clients')).toBe(1);
    expect(answerSupport('Nothing mentioned.', doc, doc)).toBeNull();
  });
});

describe('loadLara', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lara-'));
    await mkdir(join(root, 'documents', '32k', 'book'), { recursive: true });
    await mkdir(join(root, 'queries'));
    await mkdir(join(root, 'predictions', 'm1'), { recursive: true });
    await writeFile(join(root, 'documents', '32k', 'book', 'Tale.txt'), 'Once upon a time.');
    const ok = { type: 'book', level: 'location', length: '32k', file: 'Tale.txt', question: 'When?', answer: 'Once.' };
    await writeFile(
      join(root, 'queries', '32k_book_location.jsonl'),
      [
        JSON.stringify({ ...ok, context_order: 0 }),
        '{not json',
        JSON.stringify({ ...ok, context_order: 4 }),
        JSON.stringify({ ...ok, question: '', context_order: 1 }),
        '',
        JSON.stringify({ ...ok, file: 'Missing.txt', context_order: 1 }),
        JSON.stringify({ ...ok, context_order: 'half' }),
        JSON.stringify({ ...ok, comp_parts: [0, 2] }),
      ].join('\n'),
    );
    await writeFile(join(root, 'queries', 'notes.jsonl'), '');
    await writeFile(
      join(root, 'predictions', 'm1', 'rag_preds_m1_32k_book_location.jsonl'),
      `${JSON.stringify({ question: 'When?', prediction: 'Once.', ground_truth: 'Once.', file: 'Tale.txt' })}\n[]\n`,
    );
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('parses valid lines with their fields, document path and text', () => {
    const ds = loadLara(root);
    const [g] = ds.groups;
    expect(g).toMatchObject({ length: '32k', type: 'book', task: 'location', queryFile: '32k_book_location.jsonl' });
    expect(g!.queries.map((q) => q.line)).toEqual([1, 3, 8]);
    expect(g!.queries[0]).toMatchObject({
      id: '32k_book_location.jsonl:1',
      contextOrder: 0,
      compParts: null,
      question: 'When?',
    });
    expect(g!.queries[2]!.compParts).toEqual([0, 2]);
    expect(ds.documentText(g!.queries[0]!)).toBe('Once upon a time.');
  });

  it('counts segments as the largest index seen in the file plus one', () => {
    expect(loadLara(root).groups[0]!.nSegments).toBe(5);
  });

  it('reports every malformed line with its file and line number', () => {
    const errs = loadLara(root).errors;
    expect(errs.map((e) => [e.file, e.line])).toEqual([
      ['32k_book_location.jsonl', 2],
      ['32k_book_location.jsonl', 4],
      ['32k_book_location.jsonl', 6],
      ['32k_book_location.jsonl', 7],
      ['notes.jsonl', 0],
    ]);
    expect(errs[0]!.message).toMatch(/JSON/);
    expect(errs[1]!.message).toMatch(/question/);
    expect(errs[2]!.message).toMatch(/document not found/);
    expect(errs[3]!.message).toMatch(/context_order/);
  });

  it('filters by task', () => {
    expect(loadLara(root, { tasks: ['comp'] }).groups).toEqual([]);
  });

  it('reads recorded predictions and reports malformed ones', () => {
    const { predictions, errors } = loadPredictions(root);
    expect(predictions).toEqual([
      expect.objectContaining({
        model: 'm1',
        mode: 'rag',
        length: '32k',
        type: 'book',
        task: 'location',
        prediction: 'Once.',
        line: 1,
      }),
    ]);
    expect(errors).toEqual([expect.objectContaining({ file: 'm1/rag_preds_m1_32k_book_location.jsonl', line: 2 })]);
  });
});
