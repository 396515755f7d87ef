import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import type { CompletionRequest } from '../../src/ports/llm.js';
import { lighthouseDocument } from '../helpers/documents.js';
import { ScriptedLlm } from '../helpers/llm.js';
import { startServer, waitForJob, type TestServer } from '../helpers/server.js';

/** GET /metrics scraped over HTTP after real requests, ingestion and LLM calls. */

const ADMIN = 'admin-secret-for-metrics-tests-0123456789';
const PARROT_Q = 'What is the name of the lighthouse keeper’s parrot?';

/** A generative reader (a remote API cannot run here) that is down for questions that say so. */
class FlakyLlm extends ScriptedLlm {
  override async complete(req: CompletionRequest) {
    if (req.messages.some((m) => m.content.includes('UPSTREAM DOWN')))
      throw new AppError('LLM_UNAVAILABLE', ['connection refused']);
    return super.complete(req);
  }
}

/** The value of one sample, by metric name and exact labels; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (
      Object.keys(got).length === Object.keys(labels).length &&
      Object.entries(labels).every(([k, v]) => got[k] === v)
    )
      return Number(m[3]);
  }
  return undefined;
}

describe('GET /metrics', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer(
      { LLM_CONTEXT_WINDOW: 32_768, ROUTER_PROBE: false },
      { llm: new FlakyLlm(32_768, () => 'Admiral Pimento.') },
    );
    const r = await s.call('POST', '/v1/documents', { id: 'lighthouse', text: lighthouseDocument() });
    expect((await waitForJob(s, r.body.jobId)).state).toBe('completed');
  }, 180_000);
  afterAll(async () => s?.close());

  it('reports latency by route pattern and status, decisions, document tokens, LLM calls and errors, jobs, queue depth and ingestion', async () => {
    expect(
      (await s.call('POST', '/v1/query', { question: PARROT_Q, documentIds: ['lighthouse'], strategy: 'rag' })).status,
    ).toBe(200);
    expect(
      (await s.call('POST', '/v1/query', { question: PARROT_Q, documentIds: ['lighthouse'], strategy: 'full' })).status,
    ).toBe(200);
    expect(
      (await s.call('POST', '/v1/query', { question: 'UPSTREAM DOWN?', documentIds: ['lighthouse'], strategy: 'rag' }))
        .status,
    ).toBe(502);
    expect((await s.call('GET', '/v1/documents/not-a-document-id-xyz')).status).toBe(404);
    const streamed = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'rag', messages: [{ role: 'user', content: PARROT_Q }], stream: true }),
    });
    expect(await streamed.text()).toMatch(/\[DONE\]/);

    const r = await fetch(`${s.url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = await r.text();

    expect(
      sample(m, 'http_request_duration_seconds_count', { method: 'POST', route: '/v1/query', status: '200' }),
    ).toBe(2);
    expect(
      sample(m, 'http_request_duration_seconds_count', { method: 'POST', route: '/v1/query', status: '502' }),
    ).toBe(1);
    expect(
      sample(m, 'http_request_duration_seconds_count', { method: 'GET', route: '/v1/documents/:id', status: '404' }),
    ).toBe(1);
    expect(
      sample(m, 'http_request_duration_seconds_count', {
        method: 'POST',
        route: '/v1/chat/completions',
        status: '200',
      }),
    ).toBe(1);
    expect(m).not.toContain('not-a-document-id-xyz');

    expect(sample(m, 'router_decisions_total', { requested: 'rag', strategy: 'rag' })).toBe(2);
    expect(sample(m, 'router_decisions_total', { requested: 'full', strategy: 'full' })).toBe(1);
    const read = sample(m, 'document_tokens_total', { strategy: 'rag', kind: 'read' })!;
    const whole = sample(m, 'document_tokens_total', { strategy: 'rag', kind: 'whole' })!;
    expect(read).toBeGreaterThan(0);
    expect(whole).toBeGreaterThanOrEqual(read);
    expect(sample(m, 'document_tokens_total', { strategy: 'full', kind: 'read' })).toBeGreaterThan(0);

    expect(sample(m, 'llm_calls_total', { provider: 'scripted', role: 'answer', outcome: 'ok' })).toBe(3);
    expect(sample(m, 'llm_calls_total', { provider: 'scripted', role: 'answer', outcome: 'error' })).toBe(1);
    expect(sample(m, 'llm_errors_total', { provider: 'scripted', code: 'LLM_UNAVAILABLE' })).toBe(1);
    expect(sample(m, 'llm_tokens_total', { provider: 'scripted', kind: 'prompt' })).toBeGreaterThan(0);

    expect(sample(m, 'job_duration_seconds_count', { name: 'ingest', outcome: 'completed' })).toBe(1);
    expect(sample(m, 'ingest_chunks_total')).toBeGreaterThan(0);
    expect(sample(m, 'ingest_chunks_per_second_count')).toBe(1);
    expect(sample(m, 'queue_jobs', { state: 'waiting' })).toBe(0);
    expect(sample(m, 'queue_jobs', { state: 'active' })).toBe(0);
    expect(sample(m, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });
});

describe('GET /metrics with auth on', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ AUTH: 'on', ADMIN_API_KEY: ADMIN });
  });
  afterAll(async () => s?.close());

  it('is scraped with the admin key only', async () => {
    expect((await s.call('GET', '/metrics')).status).toBe(401);
    const key = (await s.call('POST', '/v1/admin/keys', { namespace: 'team-a', name: 'alice' }, { 'x-api-key': ADMIN }))
      .body.key;
    expect((await s.call('GET', '/metrics', undefined, { 'x-api-key': key })).status).toBe(403);
    const r = await s.call('GET', '/metrics', undefined, { authorization: `Bearer ${ADMIN}` });
    expect(r.status).toBe(200);
    expect(
      sample(r.body, 'http_request_duration_seconds_count', { method: 'POST', route: '/v1/admin/keys', status: '201' }),
    ).toBe(1);
    expect(
      sample(r.body, 'http_request_duration_seconds_count', { method: 'GET', route: '/metrics', status: '401' }),
    ).toBe(1);
  });
});
