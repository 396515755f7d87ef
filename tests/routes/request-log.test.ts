import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEDGER_Q, NEEDLE_Q, ledgerDocument, needleDocument } from '../helpers/documents.js';
import { startServer, waitForJob, type TestServer } from '../helpers/server.js';

/** The JSON log lines that carry `msg`. */
function linesWith(logLines: string[], msg: string): Array<Record<string, unknown>> {
  return logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);
}

describe("core services log through the request's logger", () => {
  let s: TestServer;
  const logLines: string[] = [];
  beforeAll(async () => {
    s = await startServer({}, {}, { logLines });
    for (const [id, text] of [
      ['needle', needleDocument()],
      ['ledger', ledgerDocument()],
    ] as const) {
      const r = await s.call('POST', '/v1/documents', { id, title: id, text });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      expect((await waitForJob(s, r.body.jobId)).state).toBe('completed');
    }
  }, 180_000);
  afterAll(async () => s?.close());

  it('every line the query and answer services write for a request carries its request id, and no other request’s', async () => {
    const [a, b] = await Promise.all([
      s.call('POST', '/v1/query', { question: NEEDLE_Q, documentIds: ['needle'] }, { 'x-request-id': 'log-test-a' }),
      s.call('POST', '/v1/query', { question: LEDGER_Q, documentIds: ['ledger'] }, { 'x-request-id': 'log-test-b' }),
    ]);
    expect(a.status, JSON.stringify(a.body)).toBe(200);
    expect(b.status, JSON.stringify(b.body)).toBe(200);

    for (const [reqId, body] of [
      ['log-test-a', a.body],
      ['log-test-b', b.body],
    ] as const) {
      // QueryService's line, bound to the requested strategy, and AnswerService's, bound to the strategy it ran.
      const routed = linesWith(logLines, 'query answered').filter((l) => l.reqId === reqId);
      expect(routed, reqId).toHaveLength(1);
      expect(routed[0]).toMatchObject({ strategy: 'auto', chosen: body.strategy });
      const answered = linesWith(logLines, 'answered').filter((l) => l.reqId === reqId);
      expect(answered, reqId).toHaveLength(1);
      expect(answered[0]).toMatchObject({ strategy: body.strategy });
    }
    // No core line of these queries was written without a request id.
    expect(linesWith(logLines, 'query answered').filter((l) => l.reqId === undefined)).toEqual([]);
    expect(linesWith(logLines, 'answered').filter((l) => l.reqId === undefined)).toEqual([]);
  });

  it('POST /v1/answer logs its answer with the request id', async () => {
    const r = await s.call(
      'POST',
      '/v1/answer',
      { question: NEEDLE_Q, documentIds: ['needle'], strategy: 'rag' },
      { 'x-request-id': 'log-test-c' },
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const answered = linesWith(logLines, 'answered').filter((l) => l.reqId === 'log-test-c');
    expect(answered).toHaveLength(1);
    expect(answered[0]).toMatchObject({ strategy: 'rag' });
  });
});
