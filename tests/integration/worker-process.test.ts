import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { buildContainer, type Container } from '../../src/container.js';
import { BullMqQueue, QUEUE_NAME_FOR_TESTS } from './worker-helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Real worker processes on a real Redis, sharing a data directory with the API side. */
function spawnWorker(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'workers/ingest-worker.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr!.on('data', (d: Buffer) => process.stderr.write(`[worker ${child.pid}] ${d}`));
  return child;
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null
    ? Promise.resolve(child.exitCode)
    : new Promise((r) => child.once('exit', (code) => r(code)));
}

const doc = (topic: string, n: number) =>
  Array.from({ length: n }, (_, i) => `Entry ${i} of the ${topic} archive describes event ${i * 7} in detail.`).join(
    ' ',
  );

describe('ingestion through BullMQ with real worker processes', () => {
  const children: ChildProcess[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
    for (const f of cleanups.splice(0).reverse()) await f();
  });

  async function setup(lockMs: number): Promise<{ env: Record<string, string>; api: Container }> {
    const dataDir = await mkdtemp(join(tmpdir(), 'air-worker-'));
    const env = {
      DATA_DIR: dataDir,
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: `air-test-${randomUUID().slice(0, 8)}`,
      AUTH: 'off',
      LOG_LEVEL: 'warn',
      CHUNK_TOKENS: '60',
      CHUNK_OVERLAP_TOKENS: '6',
      EMBED_BATCH_SIZE: '4',
      WORKER_LOCK_MS: String(lockMs),
      INGEST_ATTEMPTS: '5',
    };
    const api = buildContainer(loadConfig(env, { dotenvPath: null }), createLogger('silent'), { role: 'api' });
    cleanups.push(async () => {
      const q = new BullMqQueue({ url: env.REDIS_URL, queueName: QUEUE_NAME_FOR_TESTS, prefix: env.QUEUE_PREFIX });
      await q.obliterate().catch(() => undefined);
      await q.close();
      await api.close();
      await rm(dataDir, { recursive: true, force: true });
    });
    return { env, api };
  }

  async function waitReady(api: Container, ids: string[], ms = 240_000): Promise<void> {
    await api.ready();
    const end = Date.now() + ms;
    for (;;) {
      const docs = await Promise.all(ids.map((id) => api.documentService.get('default', id)));
      if (docs.every((d) => d.status === 'ready' && !d.pending)) return;
      const failed = docs.find((d) => d.status === 'failed');
      if (failed) throw new Error(`${failed.id} failed: ${failed.error?.message}`);
      if (Date.now() > end)
        throw new Error(
          `not ready: ${docs
            .filter((d) => d.status !== 'ready')
            .map((d) => `${d.id}:${d.status}`)
            .join(', ')}`,
        );
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it('lets the API enqueue and a separate worker process chunk, embed and store', async () => {
    const { env, api } = await setup(30_000);
    expect(api.runner).toBeNull();
    expect(api.queue.name).toBe('bullmq');
    children.push(spawnWorker(env));
    const r = await api.documentService.submit({
      namespace: 'default',
      id: 'archive',
      text: doc('harbour', 40),
      source: 'json',
    });
    await waitReady(api, ['archive']);
    const d = await api.documentService.get('default', 'archive');
    expect(d.chunkCount).toBeGreaterThan(3);
    const chunks = await api.vectors.getChunks('default', { documentId: 'archive', version: d.version! });
    expect(chunks).toHaveLength(d.chunkCount);
    // The version goes live just before the job returns: give the job a moment to be marked completed.
    let job = await api.queue.get(r.jobId);
    for (let i = 0; i < 100 && job?.state !== 'completed'; i++) {
      await new Promise((res) => setTimeout(res, 50));
      job = await api.queue.get(r.jobId);
    }
    expect(job?.state).toBe('completed');
    expect(job?.progress).toBe(100);
  });

  it('indexes every document exactly once when a worker is SIGKILLed mid-batch and a new one takes over', async () => {
    const { env, api } = await setup(2000);
    const ids = Array.from({ length: 6 }, (_, i) => `doc-${i}`);
    for (const [i, id] of ids.entries())
      await api.documentService.submit({ namespace: 'default', id, text: doc(`topic${i}`, 60), source: 'json' });
    const first = spawnWorker(env);
    children.push(first);
    // Kill it once it is in the middle of the batch: some documents done, some not.
    const end = Date.now() + 180_000;
    for (;;) {
      const docs = await Promise.all(ids.map((id) => api.documentService.get('default', id)));
      const ready = docs.filter((d) => d.status === 'ready').length;
      if (ready >= 1 && ready < ids.length) break;
      if (ready === ids.length || Date.now() > end)
        throw new Error(`could not catch the worker mid-batch (ready ${ready})`);
      await new Promise((r) => setTimeout(r, 50));
    }
    first.kill('SIGKILL');
    expect(await exited(first)).toBeNull();
    children.push(spawnWorker(env));
    await waitReady(api, ids);
    for (const id of ids) {
      const d = await api.documentService.get('default', id);
      const chunks = await api.vectors.getChunks('default', { documentId: id, version: d.version! });
      // Exactly once: as many chunks as the chunker made, each order present once.
      expect(chunks).toHaveLength(d.chunkCount);
      expect(new Set(chunks.map((c) => c.order)).size).toBe(d.chunkCount);
      expect(new Set(chunks.map((c) => c.id)).size).toBe(d.chunkCount);
    }
  });

  it('finishes the active job on SIGTERM and exits cleanly', async () => {
    const { env, api } = await setup(30_000);
    const w = spawnWorker({ ...env, SHUTDOWN_TIMEOUT_MS: '120000' });
    children.push(w);
    await api.documentService.submit({ namespace: 'default', id: 'long', text: doc('glacier', 200), source: 'json' });
    const end = Date.now() + 120_000;
    while ((await api.documentService.get('default', 'long')).status !== 'indexing') {
      if (Date.now() > end) throw new Error('never started');
      await new Promise((r) => setTimeout(r, 25));
    }
    w.kill('SIGTERM');
    expect(await exited(w)).toBe(0);
    const d = await api.documentService.get('default', 'long');
    expect(d.status).toBe('ready');
  });
});
