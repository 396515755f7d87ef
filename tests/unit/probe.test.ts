import { describe, expect, it } from 'vitest';
import { answerTokens, judgeProbe } from '../../src/core/routing/probe.js';
import { cl100k } from '../../src/core/tokenizer.js';

describe('the retrieval probe verdict', () => {
  it('keeps an answer that says the text does not hold what was asked, however long', () => {
    const long =
      'The provided passages do not mention the colour of the umbrella. ' +
      'They describe the lighthouse, its keeper and his parrot at length. '.repeat(5);
    expect(answerTokens(long)).toBeGreaterThan(30);
    expect(judgeProbe(long, 30)).toEqual({ keep: true, why: 'declined', answerTokens: answerTokens(long) });
    // Declines are kept even when every other answer is escalated.
    expect(judgeProbe(long, 0).keep).toBe(true);
  });

  it('keeps an answer of at most the threshold in tokens and escalates one token more', () => {
    const answer = 'The parrot was called Admiral Pimento, after a captain.';
    const n = cl100k.count(answer);
    expect(judgeProbe(answer, n)).toEqual({ keep: true, why: 'short', answerTokens: n });
    expect(judgeProbe(answer, n - 1)).toEqual({ keep: false, why: 'long', answerTokens: n });
    expect(judgeProbe(answer, 0).keep).toBe(false);
  });

  it('does not count passage citations as answer length', () => {
    expect(answerTokens('Admiral Pimento [1][2, 3].')).toBe(cl100k.count('Admiral Pimento.'));
    expect(answerTokens('In 1882 [4], the keeper bought him [5–7].')).toBe(
      cl100k.count('In 1882, the keeper bought him.'),
    );
  });

  it('escalates an empty answer', () => {
    expect(judgeProbe('  ', 30)).toEqual({ keep: false, why: 'empty', answerTokens: 0 });
    expect(judgeProbe('[1]', 30)).toEqual({ keep: false, why: 'empty', answerTokens: 0 });
  });

  it('reads a decline only in the first sentence: an answer that gives the fact and notes a missing detail is judged by length', () => {
    const answer = 'The parrot was Admiral Pimento. The passages do not say who named him.';
    expect(judgeProbe(answer, 30).why).toBe('short');
    expect(judgeProbe(answer, 5).why).toBe('long');
  });
});
