import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lighthouseDocument } from '../helpers/documents.js';
import { ScriptedLlm, declining } from '../helpers/llm.js';
import { startServer, waitForJob, type TestServer } from '../helpers/server.js';

/**
 * The absent-terms rule end to end: a question naming things the document
 * never mentions is read by retrieval once, without the Self-Route decline
 * instruction and escalation that would hand it to a whole-text reader.
 */

describe('a question about things the documents never mention', () => {
  let s: TestServer;
  let llm: ScriptedLlm;
  beforeAll(async () => {
    llm = new ScriptedLlm(32_768, declining);
    // Gap rules that would read this question whole, so only the absent-terms rule can send it to retrieval.
    s = await startServer(
      { ROUTER_MIN_RELATIVE_GAP: 1, ROUTER_MIN_ABSENT_TERMS: 2, ROUTER_MAX_QUESTION_WORDS: 0, ROUTER_SELF_ROUTE: true },
      { llm },
    );
    const r = await s.call('POST', '/v1/documents', {
      id: 'lighthouse',
      title: 'lighthouse',
      text: lighthouseDocument(),
    });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect((await waitForJob(s, r.body.jobId)).state).toBe('completed');
  }, 180_000);
  afterAll(async () => s?.close());

  it('is read by retrieval once, without Self-Route escalation, saying why', async () => {
    const r = await s.call('POST', '/v1/query', {
      question: 'What colour was the umbrella of the lighthouse keeper?',
      documentIds: ['lighthouse'],
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const d = r.body.decision;
    expect(d.strategy).toBe('rag');
    expect(d.reasons.join(' ')).toMatch(
      /uses 2 terms the documents never do \("colour", "umbrella"\), at least 2: its answer may not be in the text/,
    );
    expect(d.selfRoute).toEqual({
      requested: true,
      active: false,
      note: expect.stringMatching(/its answer may not be in the text/),
    });
    expect(d.escalated).toBeNull();
    // One reading of the retrieved passages, with the ordinary prompt: the reader says what it finds there.
    expect(llm.requests).toHaveLength(1);
    expect(llm.requests[0]!.messages[0]!.content).not.toMatch(/UNANSWERABLE/);
    expect(r.body.strategy).toBe('rag');
  });

  it('leaves a question whose terms the document uses to the evidence rules', async () => {
    const r = await s.call('POST', '/v1/query', {
      question: 'What was the name of the lighthouse keeper’s parrot?',
      documentIds: ['lighthouse'],
      selfRoute: false,
      probe: false,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.decision.strategy).toBe('full');
    expect(r.body.decision.reasons.join(' ')).not.toMatch(/never do/);
  });
});
