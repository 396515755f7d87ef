import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jobQueueContract } from './job-queue.contract.js';
import { InProcessQueue } from '../../src/adapters/job-queue/in-process.js';
import { openSqlite, SQLITE_FILE } from '../../src/adapters/sqlite/database.js';
import { SqliteJobStore } from '../../src/adapters/sqlite/job-store.js';
import { BullMqQueue, BullMqRunner } from '../../src/adapters/job-queue/bullmq.js';

jobQueueContract('in-process', async (processors) => {
  const q = new InProcessQueue({ backoffMs: 10 });
  for (const [name, p] of Object.entries(processors)) q.register(name, p);
  await q.start();
  return { queue: q, runner: q, cleanup: () => q.close() };
});

// The same queue on a database file (the embedded server's mode): it must behave the same.
jobQueueContract('in-process, SQLite file', async (processors) => {
  const dir = await mkdtemp(join(tmpdir(), 'air-jobs-'));
  const db = openSqlite(join(dir, SQLITE_FILE));
  const q = new InProcessQueue({ backoffMs: 10, store: new SqliteJobStore({ db }) });
  for (const [name, p] of Object.entries(processors)) q.register(name, p);
  await q.start();
  return {
    queue: q,
    runner: q,
    cleanup: async () => {
      await q.close();
      db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
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
