import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { buildContainer } from '../../src/container.js';
import { ingestJobId } from '../../src/core/ids.js';
import { HashingEmbedder } from '../contract/llm-test-embedder.js';
import { freePort } from '../helpers/net.js';
import { exited, spawnTs, until } from './helpers.js';

/** A job event a process logged: which run of which job it made. */
interface JobEvent {
  msg: string;
  jobId: string;
  attempt?: number;
  /** The process that logged it. */
  by: string;
}

/** The queue's job events among a child's stdout lines (its JSON log lines), tagged with the child's name. */
function jobEvents(lines: readonly string[], by: string): JobEvent[] {
  const out: JobEvent[] = [];
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line) as Partial<JobEvent>;
      if ((o.msg === 'job started' || o.msg === 'job completed') && typeof o.jobId === 'string')
        out.push({ ...(o as JobEvent), by });
    } catch {
      // a line torn by the kill
    }
  }
  return out;
}

/** No job ran twice: each (job, attempt) started in one process only, and each job completed at most once over all processes. */
function expectEachRunOnce(events: readonly JobEvent[]): void {
  const starts = new Map<string, string[]>();
  const completions = new Map<string, number>();
  for (const e of events) {
    if (e.msg === 'job started') {
      const key = `${e.jobId}#${e.attempt}`;
      starts.set(key, [...(starts.get(key) ?? []), e.by]);
    } else {
      completions.set(e.jobId, (completions.get(e.jobId) ?? 0) + 1);
    }
  }
  for (const [run, by] of starts) expect(by, `run ${run} started by ${by.join(', ')}`).toHaveLength(1);
  for (const [job, n] of completions) expect(n, `${job} completed ${n} times`).toBe(1);
}

describe('several processes on one DATA_DIR', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterEach(async () => {
    for (const f of cleanups.splice(0).reverse()) await f();
  });
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'air-shared-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  };
  const spawn = (entry: string, env: Record<string, string>, tag: string) => {
    const child = spawnTs(entry, env, tag);
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited(child);
    });
    return child;
  };
  // A lease short enough that a killed process's job is taken over within the test, long enough that a live
  // process on a loaded machine (2 cores shared by the whole CI) always renews in time.
  const base = (dataDir: string) => ({
    DATA_DIR: dataDir,
    REDIS_URL: '',
    DATABASE_URL: '',
    VECTOR_STORE: 'embedded',
    AUTH: 'off',
    WORKER_LOCK_MS: '6000',
    CHUNK_TOKENS: '60',
    CHUNK_OVERLAP_TOKENS: '6',
    EMBED_BATCH_SIZE: '4',
  });

  it('two processes ingest into one DATA_DIR at once and one is SIGKILLed: nothing lost, nothing duplicated, no job run twice', async () => {
    const dataDir = await tempDir();
    const a = spawn(
      'tests/reliability/ingest-child.ts',
      { ...base(dataDir), LOG_LEVEL: 'silent', JOB_LOG: '1', DOC_PREFIX: 'a' },
      'ingest-a',
    );
    const b = spawn(
      'tests/reliability/ingest-child.ts',
      { ...base(dataDir), LOG_LEVEL: 'silent', JOB_LOG: '1', DOC_PREFIX: 'b' },
      'ingest-b',
    );
    const indexed = (c: typeof a, p: string) => c.lines.filter((l) => l.startsWith(`INDEXED ${p}-`)).length;
    await until(
      () => {
        for (const c of [a, b]) if (c.exitCode !== null) throw new Error(`a child exited with ${c.exitCode}`);
        return indexed(a, 'a') >= 6 && indexed(b, 'b') >= 6;
      },
      'both children to index documents',
      120_000,
      5,
    );
    a.kill('SIGKILL');
    expect((await exited(a)).signal).toBe('SIGKILL');
    const submittedA = a.lines.filter((l) => l.startsWith('SUBMITTED ')).map((l) => l.split(' ')[1]!);

    // The survivor takes over what the killed one had accepted (its job store is the same): every acknowledged
    // submission of the killed process gets indexed while the survivor goes on with its own.
    const c = buildContainer(loadConfig(base(dataDir), { dotenvPath: null }), createLogger('silent'), {
      role: 'local',
      overrides: { embedder: new HashingEmbedder() },
    });
    cleanups.push(() => c.close());
    // As the process entries do before using the stores.
    await c.ready();
    const ready = async (id: string) => {
      const d = await c.documents.get('default', id);
      return d !== null && d.status === 'ready' && !d.pending;
    };
    await until(
      async () => {
        if (b.exitCode !== null) throw new Error(`the survivor exited with ${b.exitCode}`);
        return (await Promise.all(submittedA.map(ready))).every(Boolean);
      },
      'the survivor to index every document the killed process accepted',
      120_000,
      50,
    );
    const bBefore = indexed(b, 'b');
    await until(() => indexed(b, 'b') >= bBefore + 3, 'the survivor to go on with its own', 60_000, 5);
    b.kill('SIGKILL');
    await exited(b);
    const submittedB = b.lines.filter((l) => l.startsWith('SUBMITTED ')).map((l) => l.split(' ')[1]!);

    // Nothing lost: every acknowledged document is stored, and whole once the last jobs are finished.
    await c.runner!.start();
    await c.documentService.recoverPending();
    const submitted = [...submittedA, ...submittedB];
    await until(
      async () => (await Promise.all(submitted.map(ready))).every(Boolean),
      'every acknowledged document to be indexed',
      120_000,
      50,
    );
    // Nothing duplicated: one record per id, each version's chunks once each.
    // Every record in one page: a quiet machine lets the children submit more than a thousand before the kills.
    const page = await c.documents.list('default', { limit: 1_000_000 });
    expect(new Set(page.items.map((d) => d.id)).size).toBe(page.total);
    // A document may be stored just before its acknowledgement was printed (one per process at most), never the reverse.
    expect(page.total).toBeLessThanOrEqual(submitted.length + 2);
    for (const d of page.items) {
      if (!submitted.includes(d.id)) continue;
      const chunks = await c.vectors.getChunks('default', { documentId: d.id, version: d.version! });
      expect(chunks, d.id).toHaveLength(d.chunkCount);
      expect(new Set(chunks.map((ch) => ch.order)).size, d.id).toBe(d.chunkCount);
      expect(new Set(chunks.map((ch) => ch.id)).size, d.id).toBe(d.chunkCount);
    }
    // No job run twice: the children's logs and the store agree.
    const events = [...jobEvents(a.lines, 'a'), ...jobEvents(b.lines, 'b')];
    expect(events.filter((e) => e.msg === 'job completed').length).toBeGreaterThan(12);
    expectEachRunOnce(events);
    // Both ran jobs the other accepted: one queue, shared.
    const jobsOf = (prefix: string) =>
      new Set(
        page.items
          .filter((d) => d.id.startsWith(`${prefix}-`) && d.version !== null)
          .map((d) => ingestJobId('default', d.id, d.version!)),
      );
    const aJobs = jobsOf('a');
    expect(events.some((e) => e.msg === 'job started' && e.by === 'b' && aJobs.has(e.jobId))).toBe(true);
    // Only the runs the two kills cut short ran a second time.
    const retried = events.filter((e) => e.msg === 'job started' && (e.attempt ?? 1) > 1);
    expect(retried.length).toBeLessThanOrEqual(2);
  });

  it('two API servers on one DATA_DIR: a job accepted by one is read by the other, and each job runs once (issue 14, item 5)', async () => {
    const dataDir = await tempDir();
    const servers: Array<{ url: string; child: ReturnType<typeof spawn> }> = [];
    for (const name of ['one', 'two']) {
      const port = await freePort();
      const child = spawn(
        'src/server.ts',
        {
          ...base(dataDir),
          HOST: '127.0.0.1',
          PORT: String(port),
          LOG_LEVEL: 'debug',
          RATE_LIMIT_PER_MINUTE: '0',
          ROUTER_INLINE_BATCH: '0',
        },
        `api-${name}`,
      );
      servers.push({ url: `http://127.0.0.1:${port}`, child });
    }
    for (const s of servers) {
      await until(
        async () => {
          if (s.child.exitCode !== null) throw new Error(`a server exited with ${s.child.exitCode}`);
          return (
            (await fetch(`${s.url}/healthz`).then(
              (r) => r.status,
              () => 0,
            )) === 200
          );
        },
        'the servers to listen',
        120_000,
        100,
      );
    }
    const post = (url: string, path: string, body: unknown) =>
      fetch(url + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
    const getJob = (url: string, id: string) =>
      fetch(`${url}/v1/jobs/${id}`).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
    const finished = async (id: string) => {
      let job: any;
      await until(
        async () => {
          job = (await getJob(servers[0]!.url, id)).body;
          return job.state === 'completed' || job.state === 'failed';
        },
        `job ${id}`,
        120_000,
        50,
      );
      return job;
    };

    // Documents submitted through both, alternately.
    const jobIds: string[] = [];
    for (let i = 0; i < 8; i++) {
      const text = Array.from(
        { length: 20 },
        (_, j) => `Entry ${j} of log ${i}: the ferry carried ${i * 10 + j} passengers across the fjord.`,
      ).join(' ');
      const r = await post(servers[i % 2]!.url, '/v1/documents', { id: `log-${i}`, text });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      jobIds.push(r.body.jobId);
    }
    for (const id of jobIds) expect((await finished(id)).state).toBe('completed');
    const batch = await post(servers[0]!.url, '/v1/query/batch', {
      questions: ['How many passengers in entry 3?', 'What crossed the fjord?'],
      strategy: 'rag',
    });
    expect(batch.status, JSON.stringify(batch.body)).toBe(202);
    jobIds.push(batch.body.jobId);
    const done = await finished(batch.body.jobId);
    expect(done).toMatchObject({ state: 'completed', attempts: 1, result: { summary: { questions: 2, answered: 2 } } });
    // The job accepted by the first server is read, whole, from the second.
    const fromTwo = await getJob(servers[1]!.url, batch.body.jobId);
    expect(fromTwo.status).toBe(200);
    expect(fromTwo.body).toEqual(done);

    const events = servers.flatMap((s, i) => jobEvents(s.child.lines, `api-${i}`));
    // Both servers ran jobs: one queue, shared.
    expect(new Set(events.map((e) => e.by)).size).toBe(2);
    for (const id of jobIds)
      expect(
        events.filter((e) => e.jobId === id && e.msg === 'job completed'),
        id,
      ).toHaveLength(1);
    expectEachRunOnce(events);
    expect(events.filter((e) => e.msg === 'job started').every((e) => e.attempt === 1)).toBe(true);
  });
});
