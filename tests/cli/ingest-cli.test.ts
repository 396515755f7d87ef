import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const text = (topic: string) =>
  Array.from({ length: 12 }, (_, i) => `Page ${i} of the ${topic} notes adds one more remark.`).join(' ');

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; out: string }> {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', 'src/cli/ingest.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      timeout: 240_000,
    });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('batch ingestion CLI', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'air-cli-'));
    await mkdir(join(dir, 'corpus', 'sub'), { recursive: true });
    await writeFile(join(dir, 'corpus', 'a.txt'), text('alpine'));
    await writeFile(join(dir, 'corpus', 'sub', 'b.md'), `# B\n\n${text('brook')}`);
    await writeFile(join(dir, 'corpus', 'c.html'), `<p>${text('canyon')}</p><script>x()</script>`);
    await writeFile(join(dir, 'corpus', 'ignored.pdf'), '%PDF');
    await writeFile(
      join(dir, 'batch.jsonl'),
      [
        JSON.stringify({ id: 'j1', text: text('delta') }),
        '{not json',
        JSON.stringify({ id: 'j2', title: 'Two', text: text('estuary') }),
        JSON.stringify({ id: 'j3' }),
      ].join('\n'),
    );
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('ingests a directory in process, then skips everything on a second run (resumable)', async () => {
    const env = { DATA_DIR: join(dir, 'data'), CHUNK_TOKENS: '80', CHUNK_OVERLAP_TOKENS: '8' };
    const first = await cli([join(dir, 'corpus'), '--id-from-path'], env);
    expect(first.out).toContain('done: 3 indexed, 0 already ingested, 0 failed');
    expect(first.code).toBe(0);
    const second = await cli([join(dir, 'corpus'), '--id-from-path'], env);
    expect(second.out).toContain('done: 0 indexed, 3 already ingested');
  });

  describe('against a running server', () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startServer({ CHUNK_TOKENS: 80, CHUNK_OVERLAP_TOKENS: 8 });
    });
    afterAll(async () => s?.close());

    it('sends a JSONL file over HTTP, naming each malformed line by file and line number', async () => {
      const r = await cli([join(dir, 'batch.jsonl'), '--url', s.url, '--namespace', 'cli'], {});
      expect(r.out).toContain('done: 2 indexed');
      expect(r.out).toContain('2 invalid lines');
      expect(r.out).toMatch(/batch\.jsonl:2: malformed line/);
      expect(r.out).toMatch(/batch\.jsonl:4: malformed line: "text" must be a string/);
      expect(r.code).toBe(1);
      const listed = await s.call('GET', '/v1/documents', undefined, { 'x-namespace': 'cli' });
      expect(listed.body.items.map((d: { id: string }) => d.id).sort()).toEqual(['j1', 'j2']);
      expect(listed.body.items.every((d: { status: string }) => d.status === 'ready')).toBe(true);
    });
  });
});
