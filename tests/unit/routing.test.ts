import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import type { RetrievalSignals } from '../../src/core/retrieval/service.js';
import { findCues, parseCueNames } from '../../src/core/routing/cues.js';
import { absentTerms, vocabulary } from '../../src/core/routing/terms.js';
import {
  decide,
  estimateLatencyMs,
  questionWords,
  readEvidence,
  type RouterThresholds,
  type RoutingContext,
  type RoutingEstimates,
} from '../../src/core/routing/policy.js';

const T: RouterThresholds = {
  minRelativeGap: 0.3,
  maxAboveCut: 3,
  maxSelectedShare: 0.5,
  maxSpread: 1,
  diffuseCues: ['comparison', 'aggregation', 'global'],
  maxQuestionWords: 0,
  minAbsentTerms: 0,
  latencyMsPerCall: 1000,
  latencyMsPerKiloToken: 100,
};

/** A curve with one chunk far above the rest. */
function concentrated(over: Partial<RetrievalSignals> = {}): RetrievalSignals {
  return {
    candidates: 100,
    k: 6,
    cutIndex: 0,
    largestGap: 0.4,
    relativeGap: 0.6,
    topScore: 0.9,
    aboveCut: 1,
    flat: false,
    selectedShare: 0.05,
    spread: 0.1,
    ...over,
  };
}

function estimates(over: { docTokens?: number; fits?: boolean } = {}): RoutingEstimates {
  const doc = over.docTokens ?? 20_000;
  return {
    rag: { feasible: true, promptTokens: 2_500, calls: 1, contextTokens: 2_400 },
    full: { feasible: true, promptTokens: doc + 100, calls: 1, contextTokens: doc, truncated: over.fits === false },
    coa: { feasible: true, promptTokens: doc + 3_000, calls: 4, contextTokens: doc },
  };
}

function ctx(over: Partial<RoutingContext> & { fits?: boolean } = {}): RoutingContext {
  const { fits, ...rest } = over;
  return {
    question: 'Who found the key?',
    documentTokens: 20_000,
    window: 120_000,
    budgets: {},
    estimates: estimates({ fits }),
    ...rest,
  };
}

describe('the routing policy', () => {
  it('sends concentrated evidence to retrieval and says why in words', () => {
    const d = decide(concentrated(), ctx(), T);
    expect(d.strategy).toBe('rag');
    expect(d.preferred).toBe('rag');
    expect(d.reasons[0]).toMatch(/one passage stands out: the largest score gap is 60% of the score range/);
    expect(d.reasons.join(' ')).toMatch(/retrieval reads 2,400 of 20,000 tokens/);
  });

  it('sends a curve without a clear gap to full context when the documents fit the window', () => {
    const d = decide(concentrated({ relativeGap: 0.1 }), ctx(), T);
    expect(d.strategy).toBe('full');
    expect(d.reasons.join(' ')).toMatch(
      /no passage stands out: the largest score gap is 10% of the score range, below 30%/,
    );
    expect(d.reasons.join(' ')).toMatch(/fit the window/);
  });

  it('sends diffuse evidence to Chain-of-Agents when the documents exceed the window', () => {
    const d = decide(concentrated({ relativeGap: 0.1 }), ctx({ fits: false }), T);
    expect(d.strategy).toBe('coa');
    expect(d.reasons.join(' ')).toMatch(/exceed the window .* Chain-of-Agents reads them in 3 segments/);
  });

  it('treats a flat curve as diffuse whatever its gap', () => {
    expect(decide(concentrated({ flat: true }), ctx(), T).strategy).toBe('full');
  });

  it('puts the relative-gap edge on the concentrated side', () => {
    expect(decide(concentrated({ relativeGap: 0.3 }), ctx(), T).strategy).toBe('rag');
    expect(decide(concentrated({ relativeGap: 0.2999 }), ctx(), T).strategy).toBe('full');
  });

  it('puts the above-cut edge on the concentrated side and reads many chunks above the cut as diffuse', () => {
    expect(decide(concentrated({ aboveCut: 3 }), ctx(), T).strategy).toBe('rag');
    const d = decide(concentrated({ aboveCut: 4 }), ctx(), T);
    expect(d.strategy).toBe('full');
    expect(d.reasons[0]).toMatch(/4 chunks stand above the largest score gap, more than 3/);
  });

  it('reads the whole text when the selection would read more than the share threshold of it', () => {
    expect(decide(concentrated({ selectedShare: 0.5 }), ctx(), T).strategy).toBe('rag');
    const d = decide(concentrated({ selectedShare: 0.51 }), ctx(), T);
    expect(d.strategy).toBe('full');
    expect(d.reasons.join(' ')).toMatch(/would read 51% of the text, more than 50%/);
  });

  it('applies the spread rule only when it is switched on and more than one chunk is read', () => {
    expect(decide(concentrated({ spread: 0.9 }), ctx(), T).strategy).toBe('rag');
    const on = { ...T, maxSpread: 0.5 };
    expect(decide(concentrated({ spread: 0.5 }), ctx(), on).strategy).toBe('rag');
    expect(decide(concentrated({ spread: 0.51 }), ctx(), on).strategy).toBe('full');
    expect(decide(concentrated({ spread: 0.9, k: 1 }), ctx(), on).strategy).toBe('rag');
  });

  it('sends a comparison question to a whole-text strategy even with a clear gap, naming the cue', () => {
    const d = decide(concentrated(), ctx({ question: 'How does the first report compare with the second?' }), T);
    expect(d.strategy).toBe('full');
    expect(d.cues).toEqual([{ name: 'comparison', match: 'compare' }]);
    expect(d.reasons.join(' ')).toMatch(/asks for a comparison \("compare"\)/);
  });

  it('ignores cues that are not configured as diffuse', () => {
    const d = decide(concentrated(), ctx({ question: 'How many ships sailed?' }), {
      ...T,
      diffuseCues: ['comparison'],
    });
    expect(d.strategy).toBe('rag');
    expect(d.cues.map((c) => c.name)).toEqual(['aggregation']);
  });

  it('without an Adaptive-k curve, never calls evidence concentrated', () => {
    const s = concentrated({ relativeGap: null, aboveCut: null, cutIndex: null, largestGap: null, flat: null });
    const d = decide(s, ctx(), T);
    expect(d.strategy).toBe('full');
    expect(d.reasons[0]).toMatch(/gives no score gap/);
    expect(readEvidence(s, [], T).concentrated).toBe(false);
  });

  describe('budgets', () => {
    it('falls back from full to retrieval when the prompt budget excludes both whole-text strategies', () => {
      const diffuse = concentrated({ relativeGap: 0.1 });
      const d = decide(diffuse, ctx({ budgets: { maxPromptTokens: 10_000 } }), T);
      expect(d.preferred).toBe('full');
      expect(d.strategy).toBe('rag');
      expect(d.reasons.join(' ')).toMatch(
        /full needs about 20,100 prompt tokens, more than the budget of 10,000; using rag instead/,
      );
      expect(d.allowed).toEqual(['rag']);
    });

    it('uses Chain-of-Agents for diffuse evidence when full context is out of budget but CoA is not', () => {
      const e = estimates();
      e.full.feasible = false;
      e.full.reason = 'the window holds no document text';
      const d = decide(concentrated({ relativeGap: 0.1 }), ctx({ estimates: e }), T);
      expect(d.strategy).toBe('coa');
    });

    it('replaces retrieval by full context when retrieval is excluded', () => {
      const e = estimates();
      e.rag.feasible = false;
      const d = decide(concentrated(), ctx({ estimates: e }), T);
      expect(d.preferred).toBe('rag');
      expect(d.strategy).toBe('full');
    });

    it('excludes Chain-of-Agents by the call budget at its edge', () => {
      const diffuse = concentrated({ relativeGap: 0.1 });
      expect(decide(diffuse, ctx({ fits: false, budgets: { maxCalls: 4 } }), T).strategy).toBe('coa');
      const d = decide(diffuse, ctx({ fits: false, budgets: { maxCalls: 3 } }), T);
      expect(d.strategy).toBe('full');
      expect(d.reasons.join(' ')).toMatch(/coa needs 4 LLM calls, more than the budget of 3; using full instead/);
      expect(d.reasons.join(' ')).toMatch(/middle-truncated/);
    });

    it('excludes by estimated latency: calls times the per-call time plus tokens times the per-token time', () => {
      expect(estimateLatencyMs({ calls: 4, promptTokens: 23_000 }, T)).toBe(4 * 1000 + 23 * 100);
      const diffuse = concentrated({ relativeGap: 0.1 });
      expect(decide(diffuse, ctx({ fits: false, budgets: { maxLatencyMs: 6_300 } }), T).strategy).toBe('coa');
      expect(decide(diffuse, ctx({ fits: false, budgets: { maxLatencyMs: 6_299 } }), T).strategy).toBe('full');
    });

    it('throws BUDGET_TOO_SMALL with the minimum prompt tokens when no strategy fits the budget', () => {
      try {
        decide(concentrated(), ctx({ budgets: { maxPromptTokens: 100 } }), T);
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(AppError);
        const e = err as AppError;
        expect(e.code).toBe('BUDGET_TOO_SMALL');
        expect(e.statusCode).toBe(400);
        expect(e.message).toMatch(/maxPromptTokens is 100 but the minimum is 2,500 prompt tokens/);
        expect(e.details).toMatchObject({ minimum: { promptTokens: 2500, calls: 1 } });
      }
    });

    it('throws BUDGET_TOO_SMALL naming the call minimum when zero calls are allowed', () => {
      expect(() => decide(concentrated(), ctx({ budgets: { maxCalls: 0 } }), T)).toThrow(
        /maxCalls is 0 but the minimum is 1 LLM call/,
      );
    });

    it('accepts a budget exactly at the estimate', () => {
      expect(decide(concentrated(), ctx({ budgets: { maxPromptTokens: 2_500, maxCalls: 1 } }), T).strategy).toBe('rag');
    });
  });
});

describe('the question rules', () => {
  const Q: RouterThresholds = { ...T, maxQuestionWords: 8, minAbsentTerms: 2 };

  it('reads a question longer than maxQuestionWords whole, counting its words, with the edge on the retrieval side', () => {
    const eight = 'Who found the key in the old house?';
    expect(questionWords(eight)).toBe(8);
    expect(decide(concentrated(), ctx({ question: eight }), Q).strategy).toBe('rag');
    const nine = 'Who found the key in the old stone house?';
    const d = decide(concentrated(), ctx({ question: nine }), Q);
    expect(d.strategy).toBe('full');
    expect(d.reasons.join(' ')).toMatch(/the question is long \(9 words, more than 8\)/);
    expect(decide(concentrated(), ctx({ question: nine }), { ...Q, maxQuestionWords: 0 }).strategy).toBe('rag');
  });

  it('sends a question with enough terms the documents never use to retrieval even when the evidence is diffuse, naming them', () => {
    const d = decide(concentrated({ relativeGap: 0.05 }), ctx({ absentTerms: ['quantum', 'pediatr'] }), Q);
    expect(d.strategy).toBe('rag');
    expect(d.answerMayBeAbsent).toBe(true);
    expect(d.reasons.join(' ')).toMatch(
      /uses 2 terms the documents never do \("quantum", "pediatr"\), at least 2: its answer may not be in the text/,
    );
  });

  it('leaves a question with fewer absent terms than the threshold, or the rule off, to the evidence', () => {
    const one = decide(concentrated({ relativeGap: 0.05 }), ctx({ absentTerms: ['quantum'] }), Q);
    expect(one.strategy).toBe('full');
    expect(one.answerMayBeAbsent).toBe(false);
    expect(
      decide(concentrated({ relativeGap: 0.05 }), ctx({ absentTerms: ['quantum', 'pediatr'] }), {
        ...Q,
        minAbsentTerms: 0,
      }).strategy,
    ).toBe('full');
    expect(decide(concentrated({ relativeGap: 0.05 }), ctx(), Q).strategy).toBe('full');
  });

  it('does not flag a possibly absent answer when the budgets force another strategy', () => {
    const d = decide(
      concentrated(),
      ctx({
        absentTerms: ['quantum', 'pediatr'],
        budgets: { maxPromptTokens: 100_000 },
        estimates: {
          ...estimates(),
          rag: { feasible: false, reason: 'no', promptTokens: 0, calls: 1, contextTokens: 0 },
        },
      }),
      Q,
    );
    expect(d.strategy).toBe('full');
    expect(d.answerMayBeAbsent).toBe(false);
  });

  it('finds the question terms no document uses, as BM25 analyses them, whichever document has the others', () => {
    const docs = [vocabulary('The admiral found the keys in a drawer.'), vocabulary('Pimento sailed home.')];
    expect(absentTerms('What colour were the keys Pimento found with the lantern?', docs)).toEqual([
      'colour',
      'lantern',
    ]);
    expect(absentTerms('Who found the key?', docs)).toEqual([]);
  });
});

describe('question cues', () => {
  it('finds comparison, aggregation and global cues and what matched', () => {
    expect(findCues('What is the difference between the two methods?')).toEqual([
      { name: 'comparison', match: 'difference' },
    ]);
    expect(findCues('How many times does Anna visit the harbour?')).toEqual([
      { name: 'aggregation', match: 'How many' },
    ]);
    expect(findCues('How does her view of him evolve throughout the novel?').map((c) => c.name)).toEqual(['global']);
    expect(findCues('Is revenue higher than costs in both years?').map((c) => c.name)).toEqual(['comparison']);
    expect(findCues('Summarize the list all of the risks in total').map((c) => c.name)).toEqual([
      'aggregation',
      'global',
    ]);
  });

  it('finds nothing in a question about one fact', () => {
    expect(findCues('Who wrote the letter that Mr. Rhodes received in Florence?')).toEqual([]);
    expect(findCues('What was the net income in 2023?')).toEqual([]);
  });

  it('parses configured cue names and rejects unknown ones', () => {
    expect(parseCueNames('comparison, global,comparison')).toEqual(['comparison', 'global']);
    expect(parseCueNames('')).toEqual([]);
    expect(() => parseCueNames('comparison,vibes')).toThrow(/unknown cue "vibes"/);
  });
});
