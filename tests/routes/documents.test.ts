import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, waitForJob, type TestServer } from '../helpers/server.js';
import { cl100k } from '../../src/core/tokenizer.js';

const story = (topic: string, n = 30) =>
  Array.from(
    { length: n },
    (_, i) => `In chapter ${i}, the ${topic} story goes on with a new scene and another careful detail about ${topic}.`,
  ).join(' ');

describe('documents API over HTTP (embedded store, in-process queue, real USE-lite embedder)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ CHUNK_TOKENS: 120, CHUNK_OVERLAP_TOKENS: 10, BODY_LIMIT_BYTES: 64 * 1024 });
  });
  afterAll(async () => s?.close());

  it('ingests a JSON document: 202 with a job, then the document is ready with its sizes and chunks', async () => {
    const text = story('lighthouse');
    const r = await s.call('POST', '/v1/documents', {
      id: 'lighthouse',
      title: 'The Lighthouse',
      text,
      metadata: { year: 1927 },
    });
    expect(r.status).toBe(202);
    expect(r.body.document.id).toBe('lighthouse');
    // Nothing is live yet: the sizes are the submitted text's, on the document and on its pending version.
    const sizes = { chars: text.length, tokens: cl100k.count(text) };
    expect(r.body.document).toMatchObject({
      status: 'pending',
      version: null,
      ...sizes,
      pending: { jobId: r.body.jobId, ...sizes },
    });
    expect(r.body.unchanged).toBe(false);
    expect(r.headers.get('x-request-id')).toBeTruthy();
    const job = await waitForJob(s, r.body.jobId);
    expect(job.state).toBe('completed');
    expect(job.progress).toBe(100);
    const d = await s.call('GET', '/v1/documents/lighthouse');
    expect(d.status).toBe(200);
    expect(d.body).toMatchObject({
      id: 'lighthouse',
      title: 'The Lighthouse',
      status: 'ready',
      chars: text.length,
      tokens: cl100k.count(text),
      metadata: { year: 1927 },
    });
    expect(d.body.chunkCount).toBeGreaterThan(2);
    const chunks = await s.container.vectors.getChunks('default', {
      documentId: 'lighthouse',
      version: d.body.version,
    });
    expect(chunks).toHaveLength(d.body.chunkCount);
    for (const c of chunks) expect(text.slice(c.start, c.end)).toBe(c.text);
  });

  it('treats the same content again as a no-op returning the existing document', async () => {
    const text = story('orchard', 10);
    const first = await s.call('POST', '/v1/documents', { text });
    await waitForJob(s, first.body.jobId);
    const again = await s.call('POST', '/v1/documents', { text });
    expect(again.status).toBe(200);
    expect(again.body.unchanged).toBe(true);
    expect(again.body.document.id).toBe(first.body.document.id);
    expect(again.body.document.status).toBe('ready');
  });

  it('replaces a document re-submitted under its id with new content, leaving no old chunks', async () => {
    const river = story('river', 12);
    const mountain = story('mountain', 20);
    const v1 = await s.call('POST', '/v1/documents', { id: 'replace-me', text: river });
    await waitForJob(s, v1.body.jobId);
    const old = (await s.call('GET', '/v1/documents/replace-me')).body.version as string;
    const v2 = await s.call('POST', '/v1/documents', { id: 'replace-me', text: mountain });
    expect(v2.status).toBe(202);
    // Until the new text is indexed the document's sizes are those of the live text; the new text's are on `pending`.
    expect(v2.body.document).toMatchObject({
      version: old,
      chars: river.length,
      tokens: cl100k.count(river),
      pending: { jobId: v2.body.jobId, chars: mountain.length, tokens: cl100k.count(mountain) },
    });
    await waitForJob(s, v2.body.jobId);
    const d = await s.call('GET', '/v1/documents/replace-me');
    expect(d.body.version).not.toBe(old);
    expect(d.body).toMatchObject({ pending: null, chars: mountain.length, tokens: cl100k.count(mountain) });
    expect(await s.container.vectors.getChunks('default', { documentId: 'replace-me', version: old })).toEqual([]);
    const fresh = await s.container.vectors.getChunks('default', { documentId: 'replace-me', version: d.body.version });
    expect(fresh.every((c) => c.text.includes('mountain') || !c.text.includes('river'))).toBe(true);
    expect(fresh.length).toBe(d.body.chunkCount);
  });

  it('accepts .txt, .md and .html uploads, reducing HTML to its text', async () => {
    const upload = async (name: string, content: string, type: string) => {
      const form = new FormData();
      form.append('title', `upload ${name}`);
      form.append('file', new Blob([content], { type }), name);
      return s.call('POST', '/v1/documents', form);
    };
    const txt = await upload('notes.txt', story('harbour', 5), 'text/plain');
    const md = await upload('notes.md', `# Title\n\n${story('garden', 5)}`, 'text/markdown');
    const html = await upload(
      'page.html',
      `<html><head><style>p{color:red}</style><script>alert(1)</script></head><body><h1>Report</h1><p>${story('bridge', 5)}</p></body></html>`,
      'text/html',
    );
    for (const r of [txt, md, html]) expect(r.status).toBe(202);
    await waitForJob(s, html.body.jobId);
    const doc = html.body.document;
    expect(doc.source).toBe('page.html');
    const text = await s.container.documents.getText('default', doc.id, doc.pending.version);
    expect(text).toContain('bridge story');
    expect(text).not.toMatch(/<|alert|color:red/);
  });

  it('lists documents page by page with a cursor', async () => {
    const ns = { 'x-namespace': 'paging' };
    for (const t of ['alpha', 'beta', 'gamma']) await s.call('POST', '/v1/documents', { id: t, text: story(t, 3) }, ns);
    const p1 = await s.call('GET', '/v1/documents?limit=2', undefined, ns);
    expect(p1.body.total).toBe(3);
    expect(p1.body.items.map((d: any) => d.id)).toHaveLength(2);
    const p2 = await s.call('GET', `/v1/documents?limit=2&cursor=${encodeURIComponent(p1.body.next)}`, undefined, ns);
    expect(p2.body.next).toBeNull();
    expect([...p1.body.items, ...p2.body.items].map((d: any) => d.id).sort()).toEqual(['alpha', 'beta', 'gamma']);
  });

  it('scopes documents by namespace: another namespace does not see them', async () => {
    const r = await s.call(
      'POST',
      '/v1/documents',
      { id: 'secret', text: story('vault', 3) },
      { 'x-namespace': 'team-a' },
    );
    expect(r.status).toBe(202);
    expect((await s.call('GET', '/v1/documents/secret', undefined, { 'x-namespace': 'team-b' })).status).toBe(404);
    expect((await s.call('GET', `/v1/jobs/${r.body.jobId}`, undefined, { 'x-namespace': 'team-b' })).status).toBe(404);
    expect((await s.call('GET', '/v1/documents/secret', undefined, { 'x-namespace': 'team-a' })).status).toBe(200);
  });

  it('deletes a document and all its chunks', async () => {
    const r = await s.call('POST', '/v1/documents', { id: 'doomed', text: story('ember', 8) });
    await waitForJob(s, r.body.jobId);
    const version = (await s.call('GET', '/v1/documents/doomed')).body.version;
    expect((await s.call('DELETE', '/v1/documents/doomed')).status).toBe(204);
    expect((await s.call('GET', '/v1/documents/doomed')).status).toBe(404);
    expect(await s.container.vectors.getChunks('default', { documentId: 'doomed', version })).toEqual([]);
    expect((await s.call('DELETE', '/v1/documents/doomed')).body.error.code).toBe('DOCUMENT_NOT_FOUND');
  });

  it('indexes the same text again after its document was deleted (the finished job of that version does not stand in)', async () => {
    const text = story('garnet', 8);
    const first = await s.call('POST', '/v1/documents', { id: 'phoenix', text });
    expect((await waitForJob(s, first.body.jobId)).state).toBe('completed');
    expect((await s.call('DELETE', '/v1/documents/phoenix')).status).toBe(204);
    const again = await s.call('POST', '/v1/documents', { id: 'phoenix', text });
    expect(again.status, JSON.stringify(again.body)).toBe(202);
    expect((await waitForJob(s, again.body.jobId)).state).toBe('completed');
    const d = (await s.call('GET', '/v1/documents/phoenix')).body;
    expect(d).toMatchObject({ status: 'ready', pending: null });
    expect(d.chunkCount).toBeGreaterThan(0);
    expect(await s.container.vectors.getChunks('default', { documentId: 'phoenix', version: d.version })).toHaveLength(
      d.chunkCount,
    );
  });

  describe('bad input gets a 4xx with a stable code and stores nothing', () => {
    const ns = { 'x-namespace': 'bad-input' };
    const cases: Array<[string, () => Promise<{ status: number; body: any }>, number, string]> = [
      ['empty text', () => s.call('POST', '/v1/documents', { text: '' }, ns), 400, 'EMPTY_TEXT'],
      ['whitespace-only text', () => s.call('POST', '/v1/documents', { text: ' \n\t ' }, ns), 400, 'EMPTY_TEXT'],
      ['missing text', () => s.call('POST', '/v1/documents', { title: 'x' }, ns), 400, 'VALIDATION'],
      ['text of the wrong type', () => s.call('POST', '/v1/documents', { text: 42 }, ns), 400, 'VALIDATION'],
      [
        'unknown field',
        () => s.call('POST', '/v1/documents', { text: 'hello there.', colour: 'red' }, ns),
        400,
        'VALIDATION',
      ],
      [
        'malformed JSON',
        () => s.call('POST', '/v1/documents', '{"text": "abc"', { 'content-type': 'application/json', ...ns }),
        400,
        'MALFORMED_JSON',
      ],
      [
        'a body over the limit',
        () => s.call('POST', '/v1/documents', { text: 'x'.repeat(70 * 1024) }, ns),
        413,
        'BODY_TOO_LARGE',
      ],
      [
        'invalid UTF-8 in JSON',
        () =>
          s.call(
            'POST',
            '/v1/documents',
            Buffer.from([0x7b, 0x22, 0x74, 0x65, 0x78, 0x74, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]),
            { 'content-type': 'application/json', ...ns },
          ),
        400,
        'INVALID_UTF8',
      ],
      [
        'an unsupported file type',
        async () => {
          const form = new FormData();
          form.append('file', new Blob(['%PDF-1.4']), 'paper.pdf');
          return s.call('POST', '/v1/documents', form, ns);
        },
        415,
        'UNSUPPORTED_FILE_TYPE',
      ],
      [
        'an uploaded file with invalid UTF-8',
        async () => {
          const form = new FormData();
          form.append('file', new Blob([new Uint8Array([0x68, 0x69, 0xff, 0xfe])]), 'bad.txt');
          return s.call('POST', '/v1/documents', form, ns);
        },
        400,
        'INVALID_UTF8',
      ],
      [
        'a plain-text body',
        () => s.call('POST', '/v1/documents', 'just text', { 'content-type': 'text/plain', ...ns }),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        'an invalid id',
        () => s.call('POST', '/v1/documents', { id: '../etc/passwd', text: 'hello there.' }, ns),
        400,
        'VALIDATION',
      ],
      ['an unknown document', () => s.call('GET', '/v1/documents/nope', undefined, ns), 404, 'DOCUMENT_NOT_FOUND'],
      ['an unknown job', () => s.call('GET', '/v1/jobs/nope', undefined, ns), 404, 'JOB_NOT_FOUND'],
      ['an unknown route', () => s.call('GET', '/v1/nothing-here', undefined, ns), 404, 'NOT_FOUND'],
      [
        'an invalid namespace header',
        () => s.call('GET', '/v1/documents', undefined, { 'x-namespace': '../../x' }),
        400,
        'INVALID_ID',
      ],
    ];
    for (const [name, send, status, code] of cases) {
      it(`rejects ${name} with ${status} ${code}`, async () => {
        const r = await send();
        expect(r.status).toBe(status);
        expect(r.body.error.code).toBe(code);
        expect(r.body.error.message.length).toBeGreaterThan(5);
        expect(r.body.requestId).toBeTruthy();
        expect(JSON.stringify(r.body)).not.toMatch(/at .+\.(ts|js):\d+/);
      });
    }
    it('has stored nothing from any of those requests', async () => {
      const r = await s.call('GET', '/v1/documents', undefined, ns);
      expect(r.body.total).toBe(0);
    });
  });

  it('serves liveness, readiness, the OpenAPI document and the docs page', async () => {
    expect((await s.call('GET', '/healthz')).body).toEqual({ status: 'ok' });
    const ready = await s.call('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(Object.keys(ready.body.checks).sort()).toEqual(['documents', 'embedder', 'llm', 'queue', 'vectors']);
    const spec = await s.call('GET', '/openapi.json');
    expect(spec.body.openapi).toMatch(/^3\./);
    expect(Object.keys(spec.body.paths)).toEqual(
      expect.arrayContaining(['/v1/documents', '/v1/documents/{id}', '/v1/jobs/{id}', '/healthz', '/readyz']),
    );
    const docs = await fetch(`${s.url}/docs/`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('swagger');
  });
});
