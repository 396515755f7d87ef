import { describe, expect, it } from 'vitest';
import { Vocabularies } from '../../eval/harness/identifiable.js';

describe('Vocabularies.identifiable', () => {
  const v = new Vocabularies([
    ['acme', 'Acme Corp reported a net loss for the quarter ended March 31.'],
    ['bolt', 'Bolt Inc reported a net loss for the quarter ended March 31, and a new factory.'],
    ['novel', 'Evelyn walked in the garden.'],
  ]);

  it('is false when another document holds every question term its own document holds', () => {
    // "company" is in neither; every term Acme holds (net, loss, quarter, march, 31) Bolt holds too.
    expect(v.identifiable("What was the company's net loss for the quarter ended March 31?", 'acme')).toBe(false);
  });

  it('is true when a term of its own document is missing from every other', () => {
    expect(v.identifiable('What was the net loss of Acme?', 'acme')).toBe(true);
    expect(v.identifiable('What did the new factory cost?', 'bolt')).toBe(true);
    expect(v.identifiable('Where did Evelyn walk?', 'novel')).toBe(true);
  });

  it('refuses a document it has no text for', () => {
    expect(() => v.identifiable('anything', 'missing')).toThrow(/no text for document missing/);
  });
});
