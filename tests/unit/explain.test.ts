import { describe, expect, it } from 'vitest';
import { explanation } from '../../src/core/chat/explain.js';
import type { QueryResult } from '../../src/core/routing/query-service.js';

/** The fields explanation() reads, the rest left out: a QueryResult as the query service returns it. */
function result(over: {
  strategy?: QueryResult['strategy'];
  extractive?: boolean;
  requested?: QueryResult['decision']['requested'];
  reasons?: string[];
  documents?: QueryResult['decision']['documents'];
  escalated?: QueryResult['decision']['escalated'];
  truncated?: QueryResult['truncated'];
}): QueryResult {
  return {
    answer: 'A.',
    strategy: over.strategy ?? 'rag',
    extractive: over.extractive ?? false,
    contextTokens: 1_234,
    fullContextTokens: 123_400,
    truncated: over.truncated ?? null,
    totals: { promptTokens: 1_500, completionTokens: 40, calls: 2, latencyMs: 900 },
    decision: {
      requested: over.requested ?? 'auto',
      reasons: over.reasons ?? ['one passage stands out'],
      documents: over.documents ?? null,
      escalated: over.escalated ?? null,
    },
  } as unknown as QueryResult;
}

const lines = (text: string) => text.split('\n\n---\n')[1]!.split('\n\n');

describe('explanation', () => {
  it('says the strategy, who chose it, the tokens read against the whole, the LLM calls and why', () => {
    expect(lines(explanation(result({}), null))).toEqual([
      'Read by retrieval (the Adaptive-k passages), chosen by the router: 1,234 of 123,400 document tokens (1.0%), 2 LLM calls, 1,500 prompt tokens.',
      'Why: one passage stands out.',
    ]);
  });

  it('names the documents read over a namespace, and says when the terms do not single one out, and any fallback', () => {
    const docs = {
      picked: ['q1-10q-acme', 'q1-10q-bolt'],
      namespaceDocuments: 68,
      fallback:
        'no chunk of the namespace shares a term with the question: documents were picked by dense similarity instead',
      singledOut: false,
      alsoHeldBy: ['q1-10q-bolt'],
      reasons: ['read: both'],
    };
    const text = explanation(
      result({ documents: docs, reasons: ['documents: read: both', 'the selection is small'], extractive: true }),
      null,
    );
    expect(lines(text)).toEqual([
      'Read by retrieval (the Adaptive-k passages), chosen by the router: 1,234 of 123,400 document tokens (1.0%), answered by the extractive reader (quoted sentences, no LLM).',
      'Why: the selection is small.',
      'Documents read: q1-10q-acme, q1-10q-bolt (2 of 68 in the namespace).',
      "The question's terms do not single out one document: q1-10q-bolt holds them too; naming the document narrows it.",
      'Fallback: no chunk of the namespace shares a term with the question: documents were picked by dense similarity instead.',
    ]);
  });

  it('says an escalation, a truncated text and the conversation note', () => {
    const text = explanation(
      result({
        strategy: 'full',
        requested: 'full',
        escalated: { from: 'rag', to: 'full', reason: 'the passages did not answer', firstAttempt: {} as never },
        truncated: { keptTokens: 100_000, droppedTokens: 23_400, droppedShare: 0.19 },
      }),
      'the rewritten question was empty or too long; the last user message was read as it is',
    );
    expect(lines(text)).toEqual([
      'Read by full context (the whole text), as asked: 1,234 of 123,400 document tokens (1.0%), 2 LLM calls, 1,500 prompt tokens.',
      'Why: one passage stands out.',
      'Escalated from retrieval: the passages did not answer',
      'The text did not fit the window: 23,400 tokens from its middle were not read.',
      'Note: the rewritten question was empty or too long; the last user message was read as it is.',
    ]);
  });
});
