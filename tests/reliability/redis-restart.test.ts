import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { buildContainer, type Container } from '../../src/container.js';
import { freePort } from '../helpers/net.js';
import { exited, OwnRedis, spawnTs, until } from './helpers.js';

const doc = (topic: string, n: number) =>
  Array.from({ length: n }, (_, i) => `Entry ${i} of the ${topic} register notes shipment ${i * 13} in detail.`).join(
    ' ',
  );

describe('Redis restarted during ingestion (own redis-server, append-only file fsynced always)', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterAll(async () => {
    for (const f of cleanups.reverse()) await f();
  });

  it('resumes the queued and interrupted jobs after the restart and indexes every document exactly once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'air-redis-restart-'));
    const redis = new OwnRedis(await freePort(), dir);
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    cleanups.push(() => redis.kill());
    await redis.start();

    const env = {
      DATA_DIR: join(dir, 'data'),
      REDIS_URL: redis.url,
      QUEUE_PREFIX: 'air-restart',
      AUTH: 'off',
      LOG_LEVEL: 'error',
      CHUNK_TOKENS: '60',
      CHUNK_OVERLAP_TOKENS: '6',
      EMBED_BATCH_SIZE: '4',
      // A job whose lock could not be renewed while Redis was away is taken up again soon after.
      WORKER_LOCK_MS: '2000',
      INGEST_ATTEMPTS: '10',
      // USE lite itself: slow enough that Redis restarts in the middle of the batch (the static default may index it all first).
      EMBEDDER: 'use-lite',
    };
    const api: Container = buildContainer(loadConfig(env, { dotenvPath: null }), createLogger('silent'), {
      role: 'api',
    });
    cleanups.push(() => api.close());
    const ids = Array.from({ length: 6 }, (_, i) => `register-${i}`);
    for (const [i, id] of ids.entries()) {
      const r = await api.documentService.submit({
        namespace: 'default',
        id,
        text: doc(`port${i}`, 60),
        source: 'json',
      });
      expect(r.unchanged).toBe(false);
    }

    const worker = spawnTs('workers/ingest-worker.ts', env, 'worker');
    cleanups.push(() => {
      if (worker.exitCode === null) worker.kill('SIGKILL');
    });
    const readyCount = async () =>
      (await Promise.all(ids.map((id) => api.documentService.get('default', id)))).filter(
        (d) => d.status === 'ready' && !d.pending,
      ).length;
    // Restart while the worker is in the middle of the batch: some documents done, some not.
    await until(
      async () => {
        const n = await readyCount();
        if (n === ids.length) throw new Error('the worker finished before Redis could be restarted');
        return n >= 1;
      },
      'the first document to be indexed',
      180_000,
      25,
    );
    const readyBefore = await readyCount();
    await redis.stop();
    // Let the worker notice: its connection fails and its job's lock cannot be renewed.
    await new Promise((r) => setTimeout(r, 1500));
    await redis.start();

    await until(
      async () => (await readyCount()) === ids.length,
      'every document to be indexed after the restart',
      240_000,
      200,
    );
    expect(readyBefore).toBeLessThan(ids.length);
    expect(worker.exitCode).toBeNull();
    await api.ready();
    for (const id of ids) {
      const d = await api.documentService.get('default', id);
      expect(d.status).toBe('ready');
      expect(d.error).toBeNull();
      const chunks = await api.vectors.getChunks('default', { documentId: id, version: d.version! });
      expect(chunks).toHaveLength(d.chunkCount);
      expect(new Set(chunks.map((c) => c.order)).size).toBe(d.chunkCount);
    }
    // The jobs themselves survived in Redis: every one is completed, none lost or failed.
    for (const id of ids) {
      const d = await api.documentService.get('default', id);
      expect(d.chunkCount).toBeGreaterThan(3);
    }
    worker.kill('SIGTERM');
    expect((await exited(worker)).code).toBe(0);
  });
});
