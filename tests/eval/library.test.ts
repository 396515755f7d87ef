import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { adaptiveKSettings } from '../../src/container.js';
import { HttpBackend, InProcessBackend } from '../../eval/harness/backend.js';
import { silentProgress } from '../../eval/harness/progress.js';
import { quantile, runLibraryEval, type LibraryRow } from '../../eval/library.js';
import { buildLaraMini } from '../fixtures/lara-mini.js';
import { startServer, type TestServer } from '../helpers/server.js';

/** The library evaluation on the two-document LaRA-style fixture: both documents in one namespace, no document ids asked. */
const SETTINGS = { CHUNK_TOKENS: 40, CHUNK_OVERLAP_TOKENS: 0, LOG_LEVEL: 'silent' } as const;

let root: string;
let base: string;
let backend: InProcessBackend;
const config = () => loadConfig({}, { dotenvPath: null, overrides: { ...SETTINGS, DATA_DIR: join(base, 'data') } });

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'eval-library-'));
  root = (await buildLaraMini(join(base, 'lara'))).root;
  backend = new InProcessBackend({ config: config(), logger: createLogger('silent'), namespace: 'library-test' });
  await backend.start();
});
afterAll(async () => backend?.close());

describe('the library evaluation (npm run eval -- --library)', () => {
  let rows: LibraryRow[];
  let summary: Awaited<ReturnType<typeof runLibraryEval>>;
  const out = () => join(base, 'out');

  beforeAll(async () => {
    summary = await runLibraryEval({
      dataset: root,
      filters: {},
      seed: 1,
      backend,
      selection: adaptiveKSettings(config()),
      queries: 3,
      out: out(),
      progress: silentProgress,
    });
    rows = (await readFile(join(out(), 'results.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
  }, 120_000);

  it('asks every question over the namespace of every document and finds each question its document', async () => {
    expect(summary.documents).toBe(2);
    expect(rows).toHaveLength(summary.questions);
    expect(rows.length).toBeGreaterThanOrEqual(8);
    // The two documents share no topic: every answerable question's document comes first.
    for (const r of rows.filter((x) => x.task === 'location'))
      expect(r, r.id).toMatchObject({ docAt1: 1, inPicked: 1 });
    expect(summary.overall.docAt1).toBe(rows.filter((r) => r.docAt1 === 1).length / rows.length);
    // Coverage is counted on the question's document only: a question whose document was not picked covers nothing.
    for (const r of rows) if (r.inPicked === 0) expect(r.coverage).toBe(0);
    expect(rows.filter((r) => r.coverage === 1).length).toBeGreaterThan(rows.length / 2);
    const location = rows.filter((r) => r.task === 'location');
    expect(summary.byTask.location!.coverage).toBeCloseTo(
      location.reduce((a, r) => a + r.coverage, 0) / location.length,
    );
    for (const r of rows) {
      expect(r.tokens).toBeGreaterThan(0);
      expect(r.ms).toBeGreaterThan(0);
    }
  });

  it('asks the sample through /v1/query too and reports its latency, reader tokens and strategies', () => {
    const asked = rows.filter((r) => r.query);
    expect(asked).toHaveLength(3);
    expect(summary.query).toMatchObject({ n: 3 });
    expect(Object.values(summary.query!.strategies).reduce((a, b) => a + b, 0)).toBe(3);
  });

  it('writes a report with one row per task and the per-(length, type) table', async () => {
    const md = await readFile(join(out(), 'report.md'), 'utf8');
    expect(md).toMatch(/asked without document ids/);
    for (const t of Object.keys(summary.byTask)) expect(md).toContain(`| ${t} |`);
    expect(md).toContain('| 32k book |');
    expect(md).toContain('| **all** |');
    // The split the service makes itself, each row counting its own questions.
    const singled = rows.filter((r) => r.singledOut);
    expect(summary.bySingledOut['service: its terms single out a document']?.n ?? 0).toBe(singled.length);
    expect(summary.bySingledOut['service: its terms do not single one out']?.n ?? 0).toBe(rows.length - singled.length);
    for (const name of Object.keys(summary.bySingledOut)) expect(md).toContain(`| ${name} |`);
  });

  it('gets the same documents and passages over HTTP as in process', async () => {
    let s: TestServer | undefined;
    try {
      s = await startServer({ CHUNK_TOKENS: 40, CHUNK_OVERLAP_TOKENS: 0 });
      const http = new HttpBackend({ url: s.url, namespace: 'library-test' });
      const over = await runLibraryEval({
        dataset: root,
        filters: {},
        seed: 1,
        backend: http,
        selection: adaptiveKSettings(config()),
        out: join(base, 'out-http'),
        progress: silentProgress,
      });
      const httpRows: LibraryRow[] = (await readFile(join(base, 'out-http', 'results.jsonl'), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(httpRows.map((r) => [r.id, r.first, r.coverage, r.tokens, r.singledOut])).toEqual(
        rows.map((r) => [r.id, r.first, r.coverage, r.tokens, r.singledOut]),
      );
      expect(over.overall.docAt1).toBe(summary.overall.docAt1);
    } finally {
      await s?.close();
    }
  }, 120_000);
});

describe('quantile', () => {
  it('is the nearest-rank quantile', () => {
    expect(quantile([5, 1, 3, 2, 4], 0.5)).toBe(3);
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9)).toBe(9);
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.95)).toBe(10);
    expect(quantile([], 0.5)).toBeNaN();
  });
});
