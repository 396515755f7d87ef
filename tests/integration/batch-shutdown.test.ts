import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { buildContainer, type Container } from '../../src/container.js';
import { AppError } from '../../src/errors.js';
import { HashingEmbedder } from '../contract/llm-test-embedder.js';
import { NEEDLE_Q, needleDocument } from '../helpers/documents.js';
import { ScriptedLlm } from '../helpers/llm.js';
import { StopsAnswering } from '../helpers/stops-answering.js';
import { startServer, waitForJob, type TestServer } from '../helpers/server.js';
import { BullMqQueue, QUEUE_NAME_FOR_TESTS } from './worker-helpers.js';

const QUESTIONS = [NEEDLE_Q, 'Who taught the parrot to whistle?', 'What did visitors ask about?'];

describe('a background query batch stopped by a worker shutdown (BullMQ on a real Redis)', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const f of cleanups.splice(0).reverse()) await f();
  });

  // Where the shutdown lands and what the stopped call throws; the last question (nothing after it to notice the stop) is the hard case.
  const cases = [
    {
      name: 'on the first question, the reader rejecting with CANCELLED (not transient) as the LLM adapters do',
      answered: 0,
      stopWith: (s: AbortSignal) => new AppError('CANCELLED', [], { cause: s.reason }),
    },
    {
      name: 'on the last question, the reader rejecting with the bare abort reason as an aborted fetch does',
      answered: 2,
      stopWith: (s: AbortSignal) => s.reason as unknown,
    },
  ];
  it.each(cases)(
    'is not failed but run again by the next worker, which answers every question: stopped $name',
    async ({ answered, stopWith }) => {
      const redis = {
        REDIS_URL: 'redis://127.0.0.1:6379',
        QUEUE_PREFIX: `air-test-${randomUUID().slice(0, 8)}`,
        AUTH: 'off',
      };
      // One embedder for the API and both workers: the same vectors at ingestion and at query time.
      const embedder = new HashingEmbedder();
      const server: TestServer = await startServer(
        { ...redis, ROUTER_INLINE_BATCH: 0 },
        { embedder, llm: new ScriptedLlm(32_768) },
      );
      cleanups.push(async () => {
        const q = new BullMqQueue({
          url: redis.REDIS_URL,
          queueName: QUEUE_NAME_FOR_TESTS,
          prefix: redis.QUEUE_PREFIX,
        });
        await q.obliterate().catch(() => undefined);
        await q.close();
        await server.close();
      });
      expect(server.container.runner).toBeNull();

      /** A worker as workers/ingest-worker.ts builds it, on the server's data directory, with the given reader. */
      const startWorker = async (llm: StopsAnswering | ScriptedLlm): Promise<Container> => {
        // SHUTDOWN_TIMEOUT_MS of 500: the runner stops its jobs 100 ms before the process would exit.
        const config = loadConfig(
          {},
          {
            dotenvPath: null,
            overrides: { ...redis, DATA_DIR: server.dataDir, LOG_LEVEL: 'silent', SHUTDOWN_TIMEOUT_MS: 500 },
          },
        );
        const w = buildContainer(config, createLogger('silent'), { role: 'worker', overrides: { embedder, llm } });
        cleanups.push(() => w.close());
        await w.ready();
        await w.runner!.start();
        return w;
      };

      const stalled = new StopsAnswering(answered, stopWith);
      const first = await startWorker(stalled);
      const doc = await server.call('POST', '/v1/documents', { id: 'needle', title: 'needle', text: needleDocument() });
      expect(doc.status, JSON.stringify(doc.body)).toBe(202);
      expect((await waitForJob(server, doc.body.jobId)).state).toBe('completed');

      const batch = await server.call('POST', '/v1/query/batch', {
        questions: QUESTIONS,
        documentIds: ['needle'],
        strategy: 'rag',
      });
      expect(batch.status, JSON.stringify(batch.body)).toBe(202);
      const jobId: string = batch.body.jobId;

      // The shutdown lands while a question waits on the reader.
      await stalled.reached;
      await first.close();
      expect(stalled.held).toBe(1);
      const stopped = (await server.call('GET', `/v1/jobs/${jobId}`)).body;
      expect(stopped.state, JSON.stringify(stopped)).not.toBe('failed');
      expect(stopped).toMatchObject({ attempts: 1, error: null, result: null });

      const answering = new ScriptedLlm(32_768);
      await startWorker(answering);
      const done = await waitForJob(server, jobId);
      expect(done.state, JSON.stringify(done.error)).toBe('completed');
      expect(done.attempts).toBe(2);
      expect(done.result.summary).toMatchObject({ questions: 3, answered: 3, failed: 0 });
      expect(done.result.items.map((i: { id: string; ok: boolean }) => [i.id, i.ok])).toEqual([
        ['1', true],
        ['2', true],
        ['3', true],
      ]);
      // Every question was answered by the second worker's reader, the first one included.
      expect(answering.requests).toHaveLength(3);
      for (const [i, q] of QUESTIONS.entries()) expect(answering.prompt(i)).toContain(q);
    },
    60_000,
  );
});
