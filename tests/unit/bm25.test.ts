import { describe, expect, it } from 'vitest';
import { buildBm25Index, buildBm25Part, scoreBm25Parts } from '../../src/core/retrieval/bm25.js';
import { analyze, stem } from '../../src/core/text/analyse.js';

describe('BM25 text analysis', () => {
  it('lowercases, splits on unicode word boundaries and drops stopwords', () => {
    expect(analyze('The Café of Zoë — and what it SERVES!', false)).toEqual(['café', 'zoë', 'serves']);
  });

  it('keeps numbers with separators as one term, without thousands commas', () => {
    expect(analyze('Revenue was $1,234.5 million in 2023.', false)).toEqual(['revenue', '1234.5', 'million', '2023']);
  });

  it('strips plurals, -ing and -ed conservatively so word families meet', () => {
    expect(stem('companies')).toBe('company');
    expect(stem('clients')).toBe('client');
    expect(stem('business')).toBe('business');
    expect(stem('analysis')).toBe('analysis');
    expect(stem('stopped')).toBe('stop');
    expect(stem('reading')).toBe('read');
    expect(stem('being')).toBe('being');
    expect(new Set(['increase', 'increased', 'increasing', 'increases'].map(stem)).size).toBe(1);
    expect(stem('bus')).toBe('bus');
  });
});

describe('buildBm25Index', () => {
  const texts = [
    'The whale surfaced near the ship and the sailors shouted.',
    'Revenue increased by 12 percent as the company signed new clients.',
    'The captain kept a log of every whale sighting, whale after whale.',
    'Nothing here is relevant.',
  ];
  const index = buildBm25Index(texts);

  it('scores every text, zero where no query term occurs', () => {
    const s = index.score('whale');
    expect(s).toHaveLength(4);
    expect(s[1]).toBe(0);
    expect(s[3]).toBe(0);
    expect(s[0]!).toBeGreaterThan(0);
  });

  it('ranks the text with more occurrences of a rare term first', () => {
    const s = index.score('whale sightings');
    expect(s[2]!).toBeGreaterThan(s[0]!);
  });

  it('matches inflected forms through stemming', () => {
    const s = index.score('How many clients did the company sign?');
    expect(Math.max(...s)).toBe(s[1]);
    expect(s[1]!).toBeGreaterThan(0);
  });

  it('matches the Okapi formula with k1 = 1.2 and b = 0.75 on a hand-computed case', () => {
    const idx = buildBm25Index(['apple apple pear', 'pear plum']);
    // "apple": df 1 of 2 → idf = ln(1 + 1.5/1.5) = ln 2; doc 0 has tf 2, dl 3, avgdl 2.5.
    const norm = 1.2 * (1 - 0.75 + (0.75 * 3) / 2.5);
    expect(idx.score('apple')[0]).toBeCloseTo((Math.log(2) * 2 * 2.2) / (2 + norm), 12);
    expect(idx.score('apple')[1]).toBe(0);
  });

  it('gives no score to a query made only of stopwords or unknown words', () => {
    expect([...index.score('what is the')]).toEqual([0, 0, 0, 0]);
    expect([...index.score('zeppelin')]).toEqual([0, 0, 0, 0]);
  });

  it('handles an empty collection', () => {
    expect(buildBm25Index([]).score('anything')).toHaveLength(0);
  });
});

describe('BM25 over parts kept per document', () => {
  const a = ['The orchard keeper pruned the apple trees.', 'Cider from the orchard sold well.', 'Nothing here.'];
  const b = ['Apple blossom came late to the valley.', 'The keeper of the lighthouse counted ships.'];
  const c = ['Ships, ships and more ships passed the orchard.'];

  it('scores any set of parts exactly as one index over their texts (idf and average length over the set)', () => {
    for (const set of [[a], [a, b], [b, c], [a, b, c], [c, a]]) {
      const parts = set.map((texts) => buildBm25Part(texts));
      for (const q of ['apple orchard', 'keeper ships', 'blossom', 'unknown words']) {
        expect([...scoreBm25Parts(parts, q)]).toEqual([...buildBm25Index(set.flat()).score(q)]);
      }
    }
  });

  it('gives nothing for no parts', () => {
    expect(scoreBm25Parts([], 'apple')).toHaveLength(0);
  });
});
