import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { buildContainer, type Container } from '../../src/container.js';
import { freePort } from '../helpers/net.js';
import { ROOT } from '../helpers/paths.js';
import { BullMqQueue, QUEUE_NAME_FOR_TESTS } from './worker-helpers.js';

/** The value of the sample written exactly as `line` (name and labels). */
function sample(text: string, line: string): number | undefined {
  const hit = text.split('\n').find((l) => l.startsWith(`${line} `));
  return hit === undefined ? undefined : Number(hit.slice(line.length + 1));
}

describe('worker metrics (WORKER_METRICS_PORT), real worker process on a real Redis', () => {
  let worker: ChildProcess | undefined;
  let api: Container | undefined;
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    if (worker && worker.exitCode === null) worker.kill('SIGKILL');
    for (const f of cleanups.reverse()) await f();
  });

  it('serves the durations of the jobs it ran and the chunks it stored at GET /metrics', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'air-worker-metrics-'));
    const port = await freePort();
    const env = {
      DATA_DIR: dataDir,
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: `air-test-${randomUUID().slice(0, 8)}`,
      AUTH: 'off',
      LOG_LEVEL: 'warn',
      CHUNK_TOKENS: '60',
      CHUNK_OVERLAP_TOKENS: '6',
      WORKER_METRICS_PORT: String(port),
    };
    api = buildContainer(loadConfig(env, { dotenvPath: null }), createLogger('silent'), { role: 'api' });
    cleanups.push(async () => {
      const q = new BullMqQueue({ url: env.REDIS_URL, queueName: QUEUE_NAME_FOR_TESTS, prefix: env.QUEUE_PREFIX });
      await q.obliterate().catch(() => undefined);
      await q.close();
      await api!.close();
      await rm(dataDir, { recursive: true, force: true });
    });
    worker = spawn(process.execPath, ['--import', 'tsx', 'workers/ingest-worker.ts'], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'inherit'],
    });

    const text = Array.from(
      { length: 40 },
      (_, i) => `Entry ${i} of the harbour archive describes event ${i * 7} in detail.`,
    ).join(' ');
    await api.documentService.submit({ namespace: 'default', id: 'archive', text, source: 'json' });
    let chunks = 0;
    for (const end = Date.now() + 240_000; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
      const d = await api.documentService.get('default', 'archive');
      if (d.status === 'failed') throw new Error(d.error?.message);
      if (d.status === 'ready' && !d.pending) {
        chunks = d.chunkCount;
        break;
      }
    }
    expect(chunks).toBeGreaterThan(3);

    // The job is marked completed (and timed) just after the version goes live.
    let m = '';
    for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
      m = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      if (sample(m, 'job_duration_seconds_count{name="ingest",outcome="completed"}') === 1) break;
    }
    expect(sample(m, 'job_duration_seconds_count{name="ingest",outcome="completed"}')).toBe(1);
    expect(sample(m, 'ingest_chunks_total')).toBe(chunks);
    expect(sample(m, 'ingest_chunks_per_second_count')).toBe(1);
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
  }, 300_000);
});
