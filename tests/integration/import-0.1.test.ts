import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { buildContainer } from '../../src/container.js';
import { createLogger } from '../../src/logger.js';
import { decodeName, IMPORT_01_STEPS, importOnce, type Import01Step } from '../../src/adapters/sqlite/import-0.1.js';
import { freePort } from '../helpers/net.js';
import { ROOT } from '../helpers/paths.js';
import { exited, serveEmbedded, spawnTs, until } from '../reliability/helpers.js';

const FIXTURE = join(ROOT, 'tests/fixtures/data-0.1');
/** What the 0.1 service answered about the fixture (scripts/make-fixture-0.1.ts). */
const expected = JSON.parse(await readFile(`${FIXTURE}.expected.json`, 'utf8'));
const ADMIN = 'import-test-admin';
const sha = (t: string) => createHash('sha256').update(t).digest('hex');

describe('import of a DATA_DIR written by 0.1 (tests/fixtures/data-0.1)', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterEach(async () => {
    for (const f of cleanups.splice(0).reverse()) await f();
  });
  /** A copy of the fixture: the import must never touch the committed files. */
  const copy = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'air-import-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await cp(FIXTURE, dir, { recursive: true });
    return dir;
  };
  const open = (dir: string) => {
    const c = buildContainer(
      loadConfig(
        {},
        { dotenvPath: null, overrides: { DATA_DIR: dir, LOG_LEVEL: 'silent', REDIS_URL: '', DATABASE_URL: '' } },
      ),
      createLogger('silent'),
      { role: 'local' },
    );
    cleanups.push(() => c.close());
    return c;
  };

  it('decodes the names of 0.1 files, and refuses names 0.1 could not have written', () => {
    expect(decodeName('mzuxq5dvojsq')).toBe('fixture');
    expect(decodeName('n5zgg2dbojsa')).toBe('orchard');
    for (const bad of ['', 'ABC', 'a1', 'mzuxq5dvojsr']) expect(decodeName(bad)).toBeNull();
  });

  it('npm run import-0.1 brings every document, text, key and job over as 0.1 served them; a second run finds it done', async () => {
    const dir = await copy();
    const run = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'src/cli/import-0.1.ts', '--data-dir', dir],
      { cwd: ROOT, env: { ...process.env, DATABASE_URL: '', LOG_LEVEL: 'warn' } },
    );
    const summary = JSON.parse(run.stdout);
    expect(summary.steps.documents).toMatchObject({ documents: 3, texts: 3, missingTexts: 0, unreferencedTexts: 0 });
    expect(summary.steps.keys).toMatchObject({ keys: 1 });
    // Four ingestion jobs (one per version) and the query batch.
    expect(summary.steps.jobs).toMatchObject({ jobs: 5, unreadable: 0 });
    const again = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'src/cli/import-0.1.ts', '--data-dir', dir],
      { cwd: ROOT, env: { ...process.env, DATABASE_URL: '' } },
    );
    expect(again.stdout).toMatch(/already imported/);

    const c = open(dir);
    const ns: string = expected.namespace;
    for (const doc of expected.documents) {
      expect(await c.documents.get(ns, doc.id)).toEqual(doc);
      const text = await c.documents.getText(ns, doc.id, doc.version);
      expect(text === null ? null : sha(text)).toBe(expected.texts[doc.id].sha256);
    }
    expect((await c.documents.list(ns, { limit: 10 })).items.map((d) => d.id)).toEqual(
      expected.documents.map((d: { id: string }) => d.id),
    );
    const key = await c.keys.findByHash(sha(expected.apiKey.secret));
    expect(key).toMatchObject(expected.apiKey.record);
    const { data: _data, ...batchView } = (await c.queue.get(expected.batchJob.id))!;
    expect(batchView).toEqual(expected.batchJob);
    // The fixture's files are still there, unchanged: the import only reads them.
    expect(await readFile(join(dir, 'api-keys.json'), 'utf8')).toBe(
      await readFile(join(FIXTURE, 'api-keys.json'), 'utf8'),
    );
  });

  it('the API started on a 0.1 DATA_DIR imports it first: the old key works, its documents answer, its finished batch is readable', async () => {
    const dir = await copy();
    const port = await freePort();
    const { base } = await serveEmbedded(dir, port, { AUTH: 'on', ADMIN_API_KEY: ADMIN }, cleanups);
    const headers = { 'x-api-key': expected.apiKey.secret, 'content-type': 'application/json' };
    const list = (await (await fetch(`${base}/v1/documents?limit=10`, { headers })).json()) as {
      items: Array<{ id: string; version: string }>;
    };
    expect(list.items.map((d) => [d.id, d.version])).toEqual(
      expected.documents.map((d: { id: string; version: string }) => [d.id, d.version]),
    );
    const job = await (await fetch(`${base}/v1/jobs/${expected.batchJob.id}`, { headers })).json();
    expect(job).toMatchObject({ state: 'completed', result: expected.batchJob.result });
    const answer = await fetch(`${base}/v1/query`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ question: 'When is cider pressed?', documentIds: ['orchard'], strategy: 'rag' }),
    });
    expect(answer.status).toBe(200);
    expect(JSON.stringify(await answer.json())).toMatch(/October/);
  });

  it('runs once when two processes start on the same 0.1 DATA_DIR together, and again whole after one died mid-import', async () => {
    const dir = await copy();
    let runs = 0;
    const counting: Import01Step = { name: 'count', run: async () => ({ runs: ++runs }) };
    const a = open(dir);
    const b = open(dir);
    const ctx = (c: ReturnType<typeof open>) => ({
      dataDir: dir,
      documents: c.documents,
      keys: c.stores.keys,
      jobs: c.stores.jobs,
      vectors: c.vectors,
      embeddingCache: c.stores.embeddingCache,
      embedder: c.embedder,
      chunking: { chunkTokens: c.config.CHUNK_TOKENS, overlapTokens: c.config.CHUNK_OVERLAP_TOKENS },
      sqlite: c.stores.sqlite!,
      logger: c.logger,
    });
    const [sa, sb] = await Promise.all([
      importOnce(ctx(a), { steps: [...IMPORT_01_STEPS, counting] }),
      importOnce(ctx(b), { steps: [...IMPORT_01_STEPS, counting] }),
    ]);
    expect(runs).toBe(1);
    expect(sa).toEqual(sb);
    expect(await importOnce(ctx(a), { steps: [counting] })).toBeNull();

    // A process SIGKILLed mid-import: its hold runs out and the next start imports again, whole.
    const fresh = await copy();
    const child = spawnTs(
      'tests/integration/import-dies-child.ts',
      { DATA_DIR: fresh, IMPORT_LEASE_MS: '1000', REDIS_URL: '', DATABASE_URL: '', LOG_LEVEL: 'silent' },
      'import',
    );
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited(child);
    });
    await until(
      () => {
        if (child.exitCode !== null) throw new Error(`the child exited with ${child.exitCode}`);
        return child.lines.includes('HANGING');
      },
      'the child to import the documents and hang',
      60_000,
    );
    child.kill('SIGKILL');
    await exited(child);
    const d = open(fresh);
    expect(await d.stores.jobs.get('import-0.1')).toMatchObject({ state: 'active' });
    const summary = await importOnce({ ...ctx(d), dataDir: fresh }, { leaseMs: 1000 });
    expect(summary?.steps.documents).toMatchObject({ documents: 0, alreadyThere: 3, texts: 0 });
    expect(summary?.steps.keys).toMatchObject({ keys: 1 });
    expect(summary?.steps.jobs).toMatchObject({ jobs: 5 });
    expect(await d.stores.jobs.get('import-0.1')).toMatchObject({ state: 'completed', attempts: 2 });
  });
});
