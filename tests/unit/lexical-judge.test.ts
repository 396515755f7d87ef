import { describe, expect, it } from 'vitest';
import { declines, judgeLexical, numbersOf, overlapScore, saysMissing } from '../../eval/judges/lexical.js';

// Cases written after LaRA's questions and recorded answers, checked by hand.
describe('the lexical judge', () => {
  it('accepts a verbose prediction that contains a short ground truth', () => {
    const v = judgeLexical({
      question: 'What does Evelyn believe is impossible to find in Philip Rhodes by the river?',
      answer: 'Chivalry.',
      prediction: 'Evelyn believes it is impossible to find "chivalry" in Philip Rhodes by the river.',
      task: 'location',
    });
    expect(v).toEqual({ correct: true, score: 1, method: 'lexical-approximate', rule: 'overlap' });
  });

  it('rejects a prediction that only restates the question', () => {
    const v = judgeLexical({
      question: 'What does Evelyn believe is impossible to find in Philip Rhodes by the river?',
      answer: 'Chivalry.',
      prediction:
        'Evelyn believes it is impossible to find in Philip Rhodes a love more mysterious than passion requited by the river.',
      task: 'location',
    });
    expect(v.correct).toBe(false);
    expect(v.score).toBe(0);
  });

  it('gives no credit for the words the ground truth shares with the question', () => {
    // "fresco", "Santa", "Croce" are in the question; only "Ascension" and "John" count.
    expect(
      overlapScore(
        'Which fresco in Santa Croce did he criticise?',
        'The Ascension of St. John fresco in Santa Croce.',
        'A fresco in Santa Croce.',
      ),
    ).toBe(0);
    expect(
      overlapScore(
        'Which fresco in Santa Croce did he criticise?',
        'The Ascension of St. John fresco in Santa Croce.',
        'The Ascension of St. John.',
      ),
    ).toBe(1);
  });

  it('matches numbers at the coarser precision but never confuses different years', () => {
    expect(numbersOf('$1,234.50 and 6% in 2023')).toEqual(['1234.50', '6', '2023']);
    const q = 'How did the adjusted EBITDA of the segment change?';
    expect(overlapScore(q, 'It increased by $34 million.', 'It increased by $33.972 million.')).toBe(1);
    expect(overlapScore(q, 'It rose in 2022.', 'It rose in 2023.')).toBe(0.5);
  });

  it('needs both the words and the numbers of an answer that has both', () => {
    const q = 'What was the net revenue of the company?';
    const a = 'Net revenue was $4.2 billion, driven by subscriptions.';
    expect(
      judgeLexical({
        question: q,
        answer: a,
        prediction: 'Revenue was $4.2 billion thanks to subscriptions.',
        task: 'location',
      }).correct,
    ).toBe(true);
    expect(
      judgeLexical({ question: q, answer: a, prediction: 'Revenue was $3.1 billion.', task: 'location' }).correct,
    ).toBe(false);
  });

  it('recognises the phrasings by which a text is said to lack the information', () => {
    for (const t of [
      'The text does not provide the name of the tavern.',
      "The chunks provided don't mention a horse.",
      'This is not explicitly mentioned in the document.',
      'There is no information about his childhood.',
      'It cannot be determined from the statement.',
      'UNANSWERABLE',
    ]) {
      expect(saysMissing(t), t).toBe(true);
    }
    for (const t of [
      'The tavern was called the Blue Boar.',
      'Revenue did not increase in 2023.',
      'Notably, she mentioned the river.',
    ]) {
      expect(saysMissing(t), t).toBe(false);
    }
  });

  it('counts a reply as declining (what Self-Route escalates) only when its first sentence says the information is missing', () => {
    expect(declines('The passages do not mention the tavern. It may be the Blue Boar.')).toBe(true);
    expect(declines('The tavern was the Blue Boar. Its owner is not mentioned.')).toBe(false);
    expect(declines('UNANSWERABLE')).toBe(true);
  });

  it('on a hallucination question, accepts exactly the predictions that say the information is missing', () => {
    const base = {
      question: 'What was the name of the tavern where Hartman enjoyed dining during the summer months?',
      answer: 'The text does not provide the name of the tavern where Hartman enjoyed dining during the summer months.',
      task: 'hallu',
    };
    expect(
      judgeLexical({ ...base, prediction: 'The name of the tavern is not mentioned in the provided chunks.' }),
    ).toMatchObject({ correct: true, rule: 'refusal-expected' });
    expect(
      judgeLexical({ ...base, prediction: 'Hartman dined at the Golden Fleece, a tavern near the river.' }),
    ).toMatchObject({ correct: false, rule: 'refusal-expected' });
  });

  it('rejects a prediction that declines a question the ground truth answers, unless it still gives most of the answer', () => {
    const base = {
      question: 'Why did Lucy break off her engagement with Cecil?',
      answer: 'She found him controlling and incompatible with her desire for independence.',
      task: 'reasoning',
    };
    expect(judgeLexical({ ...base, prediction: 'The text provided does not mention Lucy or Cecil.' })).toMatchObject({
      correct: false,
      rule: 'refusal-unexpected',
    });
    expect(
      judgeLexical({
        ...base,
        prediction:
          'The excerpt does not say so directly, but she found him controlling and incompatible with her desire for independence.',
      }),
    ).toMatchObject({ correct: true, rule: 'refusal-unexpected' });
  });

  it('is deterministic and bounded', () => {
    const input = { question: 'Who?', answer: 'Anna Karenina and Vronsky', prediction: 'Vronsky', task: 'location' };
    const a = judgeLexical(input);
    expect(judgeLexical(input)).toEqual(a);
    expect(a.score).toBeGreaterThanOrEqual(0);
    expect(a.score).toBeLessThanOrEqual(1);
    // anna, karenina, vronsky: one of three.
    expect(a.score).toBeCloseTo(1 / 3);
    expect(a.correct).toBe(false);
  });
});
