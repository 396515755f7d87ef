import { randomUUID } from 'node:crypto';
import { jobQueueContract } from './job-queue.contract.js';
import { InProcessQueue } from '../../src/adapters/job-queue/in-process.js';
import { BullMqQueue, BullMqRunner } from '../../src/adapters/job-queue/bullmq.js';

jobQueueContract('in-process', async (processors) => {
  const q = new InProcessQueue({ backoffMs: 10 });
  for (const [name, p] of Object.entries(processors)) q.register(name, p);
  await q.start();
  return { queue: q, runner: q, cleanup: () => q.close() };
});

// Real Redis on 127.0.0.1:6379 (.ci/run starts it); each test gets its own queue name.
const REDIS_URL = 'redis://127.0.0.1:6379';
jobQueueContract('bullmq (real Redis)', async (processors) => {
  const opts = { url: REDIS_URL, queueName: `test-${randomUUID()}`, prefix: 'air-test' };
  const queue = new BullMqQueue(opts);
  const runner = new BullMqRunner({ ...opts, concurrency: 1 });
  for (const [name, p] of Object.entries(processors)) runner.register(name, p);
  await runner.start();
  return {
    queue,
    runner,
    cleanup: async () => {
      await runner.close();
      await queue.obliterate();
      await queue.close();
    },
  };
});
