import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HashingEmbedder } from '../contract/llm-test-embedder.js';
import { NEEDLE_Q, needleDocument } from '../helpers/documents.js';
import { ScriptedLlm } from '../helpers/llm.js';
import { StopsAnswering } from '../helpers/stops-answering.js';
import { startServer, waitForJob, type TestServer } from '../helpers/server.js';

/** An embedder whose document embedding holds until its signal fires: an ingestion in progress at shutdown. */
class StopsEmbedding extends HashingEmbedder {
  private arrived!: () => void;
  readonly reached = new Promise<void>((r) => (this.arrived = r));
  override embedDocuments(_texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]> {
    this.arrived();
    return new Promise((_, reject) => {
      if (signal?.aborted) reject(signal.reason);
      else signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  }
}

const QUESTIONS = [NEEDLE_Q, 'Who taught the parrot to whistle?', 'What did visitors ask about?'];

describe('embedded mode (no Redis): background jobs survive a server restart on the same DATA_DIR', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const f of cleanups.splice(0).reverse()) await f();
  });
  const server = async (dataDir: string, overrides: Parameters<typeof startServer>[1]): Promise<TestServer> => {
    const s = await startServer({ DATA_DIR: dataDir, AUTH: 'off', ROUTER_INLINE_BATCH: 1 }, overrides);
    cleanups.push(() => s.close());
    return s;
  };

  it('finishes a query batch stopped mid-way by a shutdown on the next server, which answers every question; the result outlives another restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'air-restart-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const embedder = new HashingEmbedder();
    const reader = new StopsAnswering(1);
    const first = await server(dataDir, { embedder, llm: reader });
    const doc = await first.call('POST', '/v1/documents', { id: 'needle', title: 'needle', text: needleDocument() });
    expect(doc.status, JSON.stringify(doc.body)).toBe(202);
    expect((await waitForJob(first, doc.body.jobId)).state).toBe('completed');

    const r = await first.call('POST', '/v1/query/batch', { questions: QUESTIONS, documentIds: ['needle'] });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const jobId: string = r.body.jobId;
    await reader.reached;
    await first.close();

    const second = await server(dataDir, { embedder, llm: new ScriptedLlm(32_768) });
    const job = await waitForJob(second, jobId);
    expect(job.state, JSON.stringify(job.error)).toBe('completed');
    expect(job.attempts).toBe(2);
    expect(job.result.items.map((i: { question: string }) => i.question)).toEqual(QUESTIONS);
    expect(job.result.items.every((i: { ok: boolean }) => i.ok)).toBe(true);
    expect(job.result.summary).toMatchObject({ questions: 3, answered: 3, failed: 0 });
    // Reloaded jobs keep their namespace: another tenant still cannot see this one.
    expect((await second.call('GET', `/v1/jobs/${jobId}`, undefined, { 'x-namespace': 'elsewhere' })).status).toBe(404);
    await second.close();

    const third = await server(dataDir, { embedder, llm: new ScriptedLlm(32_768) });
    const again = await third.call('GET', `/v1/jobs/${jobId}`);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ state: 'completed', attempts: 2, result: { summary: { answered: 3 } } });
  });

  it('runs an ingestion stopped by a shutdown once more on the next server, and recoverPending finds it there instead of enqueueing it again', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'air-restart-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const stalling = new StopsEmbedding();
    const first = await server(dataDir, { embedder: stalling, llm: new ScriptedLlm(32_768) });
    const doc = await first.call('POST', '/v1/documents', { id: 'needle', title: 'needle', text: needleDocument() });
    expect(doc.status, JSON.stringify(doc.body)).toBe(202);
    await stalling.reached;
    await first.close();

    const embedder = new HashingEmbedder();
    const second = await server(dataDir, { embedder, llm: new ScriptedLlm(32_768) });
    expect(await second.container.documentService.recoverPending()).toBe(0);
    const job = await waitForJob(second, doc.body.jobId);
    expect(job.state, JSON.stringify(job.error)).toBe('completed');
    expect(job.attempts).toBe(2);
    expect(job.result).toMatchObject({ documentId: 'needle' });
    expect(job.result.skipped).toBeUndefined();
    const d = await second.call('GET', '/v1/documents/needle');
    expect(d.body).toMatchObject({ status: 'ready', pending: null });
  });
});
