import { describe, expect, it } from 'vitest';
import { stem } from '../../src/core/text/analyse.js';
import {
  documentScores,
  fuseHits,
  pickDocuments,
  weightByDocumentFrequency,
  analyseCandidates,
  termDistinction,
  termProximity,
  type DocumentScore,
} from '../../src/core/retrieval/library.js';

const cand = (documentId: string, score: number, id = `${documentId}:${score}`) => ({ id, documentId, score });
const curve = (...scores: number[]): DocumentScore[] =>
  scores.map((score, i) => ({ documentId: `d${i}`, score, best: score, chunks: 1 }));

describe('document scores from chunk candidates', () => {
  it('max takes each document its best chunk; top3 sums its three best, best first', () => {
    const cs = [cand('a', 9), cand('b', 5), cand('b', 4), cand('b', 3), cand('b', 2), cand('a', 1)];
    expect(documentScores(cs, 'max').map((d) => [d.documentId, d.score, d.chunks])).toEqual([
      ['a', 9, 2],
      ['b', 5, 4],
    ]);
    // b matches in several places: 5 + 4 + 3 = 12 beats a's 9 + 1.
    expect(documentScores(cs, 'top3').map((d) => [d.documentId, d.score, d.best])).toEqual([
      ['b', 12, 5],
      ['a', 10, 9],
    ]);
  });

  it('orders equal scores by document id, so the curve is the same on every run', () => {
    expect(documentScores([cand('z', 1), cand('m', 1), cand('a', 1)], 'max').map((d) => d.documentId)).toEqual([
      'a',
      'm',
      'z',
    ]);
  });

  it('refuses a candidate without a finite score', () => {
    expect(() => documentScores([cand('a', Number.NaN)], 'max')).toThrow(/finite/);
  });
});

describe('picking documents at the largest gap of their curve (Adaptive-k)', () => {
  it('picks the one document that stands out, and says so', () => {
    const p = pickDocuments(curve(10, 3, 2.5, 2, 1.5, 1));
    expect(p.picked).toEqual(['d0']);
    expect(p.aboveCut).toBe(1);
    expect(p.relativeGap).toBeCloseTo(7 / 9);
    expect(p.reasons[0]).toMatch(/^one document stands out of 6/);
  });

  it('picks every document above the gap, and the buffer adds documents after it', () => {
    expect(pickDocuments(curve(10, 9.5, 9, 2, 1.8, 1.6, 1.4, 1.2, 1, 0.8, 0.6)).picked).toEqual(['d0', 'd1', 'd2']);
    expect(
      pickDocuments(curve(10, 9.5, 9, 2, 1.8, 1.6, 1.4, 1.2, 1, 0.8, 0.6), { buffer: 1, maxDocuments: 8 }).picked,
    ).toEqual(['d0', 'd1', 'd2', 'd3']);
  });

  it('caps the documents at maxDocuments and says what it left out', () => {
    const p = pickDocuments(curve(10, 9.9, 9.8, 9.7, 1, 0.9), { maxDocuments: 2 });
    expect(p.picked).toEqual(['d0', 'd1']);
    expect(p.aboveCut).toBe(4);
    expect(p.capped).toBe(true);
    expect(p.reasons.join(' ')).toMatch(/only the best 2 are read \(at most 2 documents\)/);
  });

  it('a single document is picked; no candidates pick none', () => {
    expect(pickDocuments(curve(3)).picked).toEqual(['d0']);
    const none = pickDocuments([]);
    expect(none.picked).toEqual([]);
    expect(none.reasons).toEqual(['no chunk of the namespace matches the question']);
  });

  it('a flat curve picks as Adaptive-k does (its first document) and says none stands out', () => {
    const p = pickDocuments(curve(2, 2, 2, 2, 2), { maxDocuments: 3 });
    expect(p.picked).toHaveLength(1);
    expect(p.reasons[0]).toMatch(/no document stands out/);
  });

  it('rejects a maxDocuments below 1', () => {
    expect(() => pickDocuments(curve(1, 0), { maxDocuments: 0 })).toThrow(/maxDocuments/);
  });
});

describe('fusing the lexical and dense candidate lists', () => {
  it('normalises each list over its own hits and weighs dense by alpha; a chunk one list lacks gets 0 from it', () => {
    const lexical = [cand('a', 20, 'x'), cand('b', 10, 'y'), cand('c', 0, 'z')];
    const dense = [cand('b', 0.9, 'y'), cand('d', 0.5, 'w')];
    const fused = new Map(fuseHits(lexical, dense, 0.3).map((c) => [c.id, c.score]));
    expect(fused.get('x')).toBeCloseTo(0.7 * 1);
    expect(fused.get('y')).toBeCloseTo(0.7 * 0.5 + 0.3 * 1);
    expect(fused.get('z')).toBeCloseTo(0);
    expect(fused.get('w')).toBeCloseTo(0);
    expect(fused.size).toBe(4);
  });

  it('rejects a weight outside [0, 1]', () => {
    expect(() => fuseHits([], [], 1.5)).toThrow(/alpha/);
  });
});

describe('weightByDocumentFrequency', () => {
  it('scores each candidate by BM25 with idf over documents, against a hand computation', () => {
    const candidates = [
      { id: 'a', documentId: 'A', score: 9, text: 'Evelyn walked. Evelyn laughed.' },
      { id: 'b', documentId: 'B', score: 12, text: 'perfume of roses and lavender' },
    ];
    const stats = {
      documents: 10,
      counts: new Map([
        ['evelyn', 1],
        [stem('perfume'), 4],
      ]),
    };
    const out = weightByDocumentFrequency(analyseCandidates(candidates, 'What perfume did Evelyn wear?'), stats);
    // Analysed lengths: a = [evelyn, walk, evelyn, laugh] (4), b = [perfum, rose, lavender] (3); mean 3.5.
    const idf = (df: number) => Math.log(1 + (10 - df + 0.5) / (df + 0.5));
    const bm = (tf: number, dl: number) => (tf * 2.2) / (tf + 1.2 * (0.25 + (0.75 * dl) / 3.5));
    expect(out[0]!.score).toBeCloseTo(idf(1) * bm(2, 4), 10);
    // "wear" is in no document the statistics know: it counts as held by one, and b does not hold it anyway.
    expect(out[1]!.score).toBeCloseTo(idf(4) * bm(1, 3), 10);
    expect(out.map((c) => [c.id, c.documentId])).toEqual([
      ['a', 'A'],
      ['b', 'B'],
    ]);
  });
});

describe('termDistinction', () => {
  const curveOf = (...ids: string[]) =>
    ids.map((documentId, i) => ({ documentId, score: 10 - i, best: 10 - i, chunks: 1 }));
  const candidates = [
    { id: 'a1', documentId: 'A', score: 3, text: 'Blue Star Foods reported a net loss for the quarter.' },
    { id: 'a2', documentId: 'A', score: 2, text: 'The net loss widened in March.' },
    { id: 'b1', documentId: 'B', score: 2, text: 'Genprex had a net loss for the quarter ended March 31.' },
    { id: 'c1', documentId: 'C', score: 1, text: 'Revenue rose; the quarter closed in March.' },
  ];

  it('says when other documents hold every question term the first one holds', () => {
    const d = termDistinction(
      analyseCandidates(candidates, 'What was the net loss for the quarter ended March 31?'),
      curveOf('A', 'B', 'C'),
    );
    // A holds net, loss, quarter, march (not "ended", "31"); B holds all of those; C lacks "net" and "loss".
    expect(d.terms).toEqual(['net', 'loss', 'quarter', 'march']);
    expect(d.alsoHeldBy).toEqual(['B']);
    expect(d.singledOut).toBe(false);
  });

  it('singles the first document out when a term of the question is only in its chunks', () => {
    const d = termDistinction(
      analyseCandidates(candidates, 'What net loss did Blue Star Foods report?'),
      curveOf('A', 'B', 'C'),
    );
    expect(d.terms).toContain('blue');
    expect(d.alsoHeldBy).toEqual([]);
    expect(d.singledOut).toBe(true);
  });

  it('does not single out a document when there is none, or when its chunks hold no question term', () => {
    expect(termDistinction(analyseCandidates([], 'net loss'), [])).toEqual({
      singledOut: false,
      terms: [],
      alsoHeldBy: [],
    });
    const d = termDistinction(analyseCandidates(candidates, 'Who is Evelyn?'), curveOf('C', 'A'));
    expect(d).toEqual({ singledOut: false, terms: [], alsoHeldBy: ['A'] });
  });
});

describe('termProximity (BM25TP, Rasolofo & Savoy 2003)', () => {
  it('adds, for terms at most five words apart, 1/d² times the other term weight, saturated as BM25 does', () => {
    const w = new Map([
      ['china', 0.5],
      ['food', 2],
      ['hold', 3],
    ]);
    // china@0 food@1 hold@2; a second "food" at 9 is more than five words from every other term.
    const at = [
      ['china', 0],
      ['food', 1],
      ['hold', 2],
      ['food', 9],
    ] as const;
    const accChina = 2 * 1 + 3 * (1 / 4);
    const accFood = 0.5 * 1 + 3 * 1;
    const accHold = 0.5 * (1 / 4) + 2 * 1;
    const k1 = 1.2;
    const norm = 1.5;
    const part = (weight: number, acc: number) => (Math.min(1, weight) * acc * (k1 + 1)) / (acc + norm);
    expect(termProximity(at, w, k1, norm)).toBeCloseTo(part(0.5, accChina) + part(2, accFood) + part(3, accHold), 12);
  });

  it('is 0 when no two different question terms stand within five words', () => {
    const w = new Map([
      ['exact', 1],
      ['scienc', 2],
    ]);
    expect(
      termProximity(
        [
          ['exact', 0],
          ['exact', 1],
          ['scienc', 7],
        ],
        w,
        1.2,
        1,
      ),
    ).toBe(0);
    expect(termProximity([], w, 1.2, 1)).toBe(0);
  });

  it('lets a phrase of common words outweigh the same words apart, through weightByDocumentFrequency', () => {
    const candidates = [
      { id: 'a', documentId: 'A', score: 1, text: 'Exact Sciences reported revenue.' },
      { id: 'b', documentId: 'B', score: 1, text: 'Exact figures on revenue are rare in the sciences.' },
    ];
    const stats = {
      documents: 4,
      counts: new Map([
        ['exact', 4],
        [stem('sciences'), 4],
        ['revenue', 4],
      ]),
    };
    const analysed = analyseCandidates(candidates, 'What revenue did Exact Sciences report?');
    const plain = weightByDocumentFrequency(analysed, stats);
    const near = weightByDocumentFrequency(analysed, stats, { proximity: true });
    expect(near[0]!.score).toBeGreaterThan(plain[0]!.score);
    expect(near[0]!.score - plain[0]!.score).toBeGreaterThan(near[1]!.score - plain[1]!.score);
  });
});
