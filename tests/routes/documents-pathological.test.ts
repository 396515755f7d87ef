import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, waitForJob, type TestServer } from '../helpers/server.js';
import { HashingEmbedder } from '../contract/llm-test-embedder.js';
import { PATHOLOGICAL_KINDS, pathologicalText, type PathologicalKind } from '../helpers/pathological.js';

/** Files under a directory, recursively ([] when it does not exist). */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}

async function until(what: string, ok: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const SIZES: Record<PathologicalKind, number> = {
  'one-letter': 2_000_000,
  'one-cjk-char': 20_000,
  acgt: 1_000_000,
  base64: 1_000_000,
  'minified-js': 1_000_000,
  'cjk-prose': 300_000,
};

describe('uploads of text without spaces (issue 14: they froze the API)', () => {
  let s: TestServer;
  const logLines: string[] = [];
  beforeAll(async () => {
    s = await startServer(
      { BODY_LIMIT_BYTES: 24 * 1024 * 1024, MAX_DOCUMENT_TOKENS: 20_000_000 },
      { embedder: new HashingEmbedder() },
      { logLines },
    );
  });
  afterAll(async () => s?.close());

  for (const kind of PATHOLOGICAL_KINDS) {
    it(`indexes ${SIZES[kind].toLocaleString('en')} characters of ${kind}: 202, then ready with chunks`, async () => {
      const text = pathologicalText(kind, SIZES[kind]);
      const r = await s.call('POST', '/v1/documents', { id: `p-${kind}`, text });
      expect(r.status).toBe(202);
      expect(r.body.document.tokens).toBeGreaterThan(SIZES[kind] / 130);
      expect((await waitForJob(s, r.body.jobId)).state).toBe('completed');
      const doc = (await s.call('GET', `/v1/documents/p-${kind}`)).body;
      expect(doc.status).toBe('ready');
      expect(doc.chunkCount).toBeGreaterThan(0);
    });
  }

  it('answers /healthz while a megabyte of ACGT is being counted: the count is on a thread, not on the event loop', async () => {
    const order: string[] = [];
    const upload = s
      .call('POST', '/v1/documents', { id: 'dna-2', text: pathologicalText('acgt', 1_000_000, 2) })
      .then((r) => (order.push('upload'), r));
    const before = logLines.length;
    await until(
      'the upload to be counted',
      () => logLines.slice(before).some((l) => l.includes('tokenizer call started') && l.includes('"chars":1000000')),
      30_000,
    );
    const health = await s.call('GET', '/healthz').then((r) => (order.push('healthz'), r));
    expect(health.status).toBe(200);
    expect((await upload).status).toBe(202);
    expect(order).toEqual(['healthz', 'upload']);
  });

  it('stops counting when the client leaves: the tokenizer thread is dropped and nothing is stored', async () => {
    const abort = new AbortController();
    const text = pathologicalText('cjk-prose', 6_000_000, 3);
    const before = logLines.length;
    const sent = fetch(`${s.url}/v1/documents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'left', text }),
      signal: abort.signal,
    }).catch((e: unknown) => e);
    // Leave once the server has the whole body and is counting it.
    await until(
      'the server to start counting',
      () =>
        logLines
          .slice(before)
          .some((l) => l.includes('tokenizer call started') && l.includes(`"chars":${text.length}`)),
      60_000,
    );
    abort.abort();
    await sent;
    await until('the count to be cancelled', () =>
      logLines.slice(before).some((l) => l.includes('tokenizer call cancelled')),
    );
    expect((await s.call('GET', '/v1/documents/left')).status).toBe(404);
    expect((await filesUnder(join(s.dataDir, 'documents'))).filter((f) => f.includes('left'))).toEqual([]);
  });
});

describe('a text the tokenizer cannot count within TOKENIZER_TIMEOUT_MS', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer(
      { BODY_LIMIT_BYTES: 24 * 1024 * 1024, MAX_DOCUMENT_TOKENS: 20_000_000, TOKENIZER_TIMEOUT_MS: 100 },
      { embedder: new HashingEmbedder() },
    );
  });
  afterAll(async () => s?.close());

  it('is refused with 422 TEXT_TOO_COMPLEX before anything is stored, and the next upload is served', async () => {
    // Six million characters of CJK prose take seconds of BPE on any machine: far past a 100 ms cap.
    const r = await s.call('POST', '/v1/documents', { id: 'slow', text: pathologicalText('cjk-prose', 6_000_000, 4) });
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe('TEXT_TOO_COMPLEX');
    expect((await s.call('GET', '/v1/documents/slow')).status).toBe(404);
    expect((await s.call('GET', '/v1/documents')).body.total).toBe(0);
    expect(await filesUnder(join(s.dataDir, 'documents'))).toEqual([]);
    const small = await s.call('POST', '/v1/documents', {
      id: 'small',
      text: 'A short note about the harbour. It is small.',
    });
    expect(small.status).toBe(202);
  });
});
