/**
 * Writes tests/fixtures/data-0.1/: a small DATA_DIR as release 0.1 leaves it
 * (the file stores: documents and texts, vectors, embedding cache, API keys,
 * jobs), made through the service's own HTTP routes on the embedded defaults.
 * The importer of 0.1 data is tested on it. It only makes 0.1 data when run
 * on the code of 0.1 (main at 3fca061, before the file stores were replaced by
 * SQLite): the committed fixture is kept, never regenerated.
 *
 * Beside it, tests/fixtures/data-0.1.expected.json holds what the 0.1 service
 * answered about that data (records, texts' hashes, the job, the key's secret),
 * which the import must reproduce.
 *
 * Usage: npx tsx scripts/make-fixture-0.1.ts [out-dir]
 */
import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { buildContainer } from '../src/container.js';
import { buildApp } from '../src/app.js';
import { cliHelp, exitOnHelp } from '../src/cli/help.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
exitOnHelp(() =>
  cliHelp({
    usage: 'npx tsx scripts/make-fixture-0.1.ts [OUT_DIR]',
    about:
      'Writes a small DATA_DIR as the 0.1 file stores left it, and what the 0.1 service answered about it (OUT_DIR.expected.json). OUT_DIR defaults to tests/fixtures/data-0.1.',
    options: {},
  }),
);
const out = resolve(process.argv[2] ?? join(ROOT, 'tests/fixtures/data-0.1'));
const expectedPath = `${out}.expected.json`;
const ADMIN = 'fixture-admin-key';

const DOCS = {
  lighthouse:
    'The lighthouse on Gull Point was built in 1871 from granite quarried on the island.\n\n' +
    'Its keeper, Ada Pennick, kept the lamp lit through the storm of 1893, when three ships sheltered in the bay.\n\n' +
    'The light was automated in 1962 and the keeper’s cottage is now a small museum about the coast guard.',
  orchard:
    'The Halvorsen orchard grows forty varieties of apple on a south-facing slope.\n\n' +
    'Harvest starts in late August with the early Discovery apples and ends in November with the Bramleys.\n\n' +
    'Cider is pressed in the old barn every October; the press dates from 1908.',
  tides:
    'Tides at Gull Point rise about four metres at springs. The harbour dries at low water, so boats wait outside the bar.',
} as const;
/** The second version of `orchard`: the document replaced. */
const ORCHARD_V2 =
  'The Halvorsen orchard now grows fifty-two varieties of apple on its south-facing slope.\n\n' +
  'Harvest starts in mid August with Discovery and ends in November with the Bramleys and the late Winter Banana.\n\n' +
  'Cider is pressed in the old barn every October on a press built in 1908 and restored in 2019.';

async function main(): Promise<void> {
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const config = loadConfig(
    {},
    {
      dotenvPath: null,
      overrides: {
        DATA_DIR: out,
        LOG_LEVEL: 'silent',
        PORT: 0,
        RATE_LIMIT_PER_MINUTE: 0,
        AUTH: 'on',
        ADMIN_API_KEY: ADMIN,
        ROUTER_INLINE_BATCH: 0,
        TOKENIZER_THREADS: 0,
      },
    },
  );
  const container = buildContainer(config, createLogger('silent'), { role: 'api' });
  const app = await buildApp(container);
  app.addHook('onClose', async () => container.close());
  await container.runner?.start();

  const call = async (method: 'GET' | 'POST', url: string, key: string, body?: unknown) => {
    const res = await app.inject({
      method,
      url,
      headers: { 'x-api-key': key },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    const json = res.json() as any;
    if (res.statusCode >= 400) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`);
    return json;
  };
  const waitJob = async (key: string, jobId: string) => {
    for (;;) {
      const job = await call('GET', `/v1/jobs/${jobId}`, key);
      if (job.state === 'completed') return job;
      if (job.state === 'failed') throw new Error(`job ${jobId} failed: ${JSON.stringify(job.error)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  try {
    const created = await call('POST', '/v1/admin/keys', ADMIN, { namespace: 'fixture', name: 'fixture tenant' });
    const key: string = created.key;
    for (const [id, text] of Object.entries(DOCS)) {
      const r = await call('POST', '/v1/documents', key, {
        id,
        title: `The ${id}`,
        text,
        metadata: { topic: id, year: 2026 },
      });
      await waitJob(key, r.jobId);
    }
    const replaced = await call('POST', '/v1/documents', key, {
      id: 'orchard',
      title: 'The orchard (revised)',
      text: ORCHARD_V2,
      metadata: { topic: 'orchard', revision: 2 },
    });
    await waitJob(key, replaced.jobId);

    const batch = await call('POST', '/v1/query/batch', key, {
      questions: [{ id: 'q1', question: 'Who kept the lighthouse lamp lit in 1893?' }, 'When is cider pressed?'],
      strategy: 'rag',
    });
    const job = await waitJob(key, batch.jobId);

    const documents = [];
    for (const id of Object.keys(DOCS)) {
      const doc = await call('GET', `/v1/documents/${id}`, key);
      documents.push(doc);
    }
    const texts: Record<string, { version: string; sha256: string }> = {};
    for (const d of documents) {
      const text = await container.documents.getText('fixture', d.id, d.version);
      if (text === null) throw new Error(`no text for ${d.id}`);
      texts[d.id] = { version: d.version, sha256: createHash('sha256').update(text).digest('hex') };
    }
    const expected = {
      note: 'What the 0.1 service answered about tests/fixtures/data-0.1 (written by scripts/make-fixture-0.1.ts). Never regenerate: the 0.1 code is gone.',
      namespace: 'fixture',
      apiKey: { secret: key, record: created.record },
      documents,
      texts,
      replaced: { id: 'orchard', newVersion: replaced.document?.pending?.version ?? null },
      batchJob: job,
    };
    await writeFile(expectedPath, `${JSON.stringify(expected, null, 2)}\n`);
  } finally {
    await app.close();
  }
  console.log(`wrote ${out} and ${expectedPath}`);
}

await main();
