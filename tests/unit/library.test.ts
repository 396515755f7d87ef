import { describe, expect, it } from 'vitest';
import { stem } from '../../src/core/text/analyse.js';
import {
  documentScores,
  fuseHits,
  pickDocuments,
  weightByDocumentFrequency,
  analyseCandidates,
  documentsToRead,
  termDistinction,
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

describe('weightByDocumentFrequency with phrases', () => {
  const stats = { documents: 10, counts: new Map<string, number>() };

  it("adds each adjacent pair of question terms as a term, with its idf over the candidates' documents", () => {
    const candidates = [
      { id: 'a', documentId: 'A', score: 1, text: 'table understanding matters' },
      { id: 'b', documentId: 'B', score: 1, text: 'the table shows understanding' },
    ];
    const analysed = analyseCandidates(candidates, 'How is table understanding trained?');
    expect(analysed.pairs).toEqual(['tabl understand', 'understand train']);
    const plain = weightByDocumentFrequency(analysed, stats);
    const phrased = weightByDocumentFrequency(analysed, stats, { phrases: true });
    // Both candidates are 3 terms long (norm = k1 = 1.2); only A holds the pair side by side: df 1 of 2 documents,
    // so A gains ln(1 + 1.5 / 1.5) · 1 · 2.2 / (1 + 1.2) = ln 2, and B nothing (stopwords do not part a pair, other words do).
    expect(phrased[0]!.score - plain[0]!.score).toBeCloseTo(Math.log(2), 12);
    expect(phrased[1]!.score).toBe(plain[1]!.score);
  });

  it('gives a pair that every candidate document holds the least weight', () => {
    const candidates = [
      { id: 'a', documentId: 'A', score: 1, text: 'net loss rose' },
      { id: 'b', documentId: 'B', score: 1, text: 'net loss fell' },
    ];
    const analysed = analyseCandidates(candidates, 'What was the net loss?');
    const gain = (i: number) =>
      weightByDocumentFrequency(analysed, stats, { phrases: true })[i]!.score -
      weightByDocumentFrequency(analysed, stats)[i]!.score;
    expect(gain(0)).toBeCloseTo(Math.log(1 + 0.5 / 2.5), 12);
    expect(gain(1)).toBeCloseTo(gain(0), 12);
  });
});

describe('a phrase of common words', () => {
  it('outweighs the same words apart once pairs count, though every document holds each word', () => {
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
    const phrased = weightByDocumentFrequency(analysed, stats, { phrases: true });
    expect(phrased[0]!.score).toBeGreaterThan(plain[0]!.score);
    expect(phrased[1]!.score).toBe(plain[1]!.score);
  });
});

describe('documentsToRead', () => {
  const distinction = (alsoHeldBy: string[]) => ({
    singledOut: alsoHeldBy.length === 0,
    terms: ['net', 'loss'],
    alsoHeldBy,
  });

  it('reads the picked documents alone when the terms single out the first', () => {
    expect(documentsToRead(['A', 'B'], distinction([]), 16)).toEqual({ read: ['A', 'B'], alike: [] });
  });

  it('adds the documents holding the same terms after the picked ones, best first, once each', () => {
    expect(documentsToRead(['A', 'C'], distinction(['B', 'C', 'D']), 16)).toEqual({
      read: ['A', 'C', 'B', 'D'],
      alike: ['B', 'D'],
    });
  });

  it('reads at most maxDocuments in all, and never drops a picked one', () => {
    expect(documentsToRead(['A', 'B'], distinction(['C', 'D', 'E']), 3)).toEqual({
      read: ['A', 'B', 'C'],
      alike: ['C'],
    });
    expect(documentsToRead(['A', 'B'], distinction(['C']), 2)).toEqual({ read: ['A', 'B'], alike: [] });
  });
});
