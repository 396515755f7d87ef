import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lighthouseDocument, ledgerDocument } from '../helpers/documents.js';
import { startServer, waitForJob, type TestServer } from '../helpers/server.js';

/** The MCP server at /mcp with the SDK's own client over Streamable HTTP. */

const ADMIN = 'admin-secret-for-mcp-tests-0123456789';
const PARROT_Q = 'What is the name of the lighthouse keeper’s parrot?';

async function ingest(s: TestServer, id: string, text: string, headers: Record<string, string> = {}): Promise<void> {
  const r = await s.call('POST', '/v1/documents', { id, title: `${id} title`, text }, headers);
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  expect((await waitForJob(s, r.body.jobId, headers)).state).toBe('completed');
}

async function connect(s: TestServer, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'mcp-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${s.url}/mcp`), { requestInit: { headers } }));
  return client;
}

describe('MCP server without auth', () => {
  let s: TestServer;
  let client: Client;
  const doc = lighthouseDocument();
  beforeAll(async () => {
    s = await startServer();
    await ingest(s, 'lighthouse', doc);
    await ingest(s, 'ledger', ledgerDocument());
    client = await connect(s);
  }, 180_000);
  afterAll(async () => {
    await client?.close();
    await s?.close();
  });

  it('offers the four tools with their input schemas', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['ask', 'list_documents', 'read', 'retrieve']);
    const ask = tools.find((t) => t.name === 'ask')!;
    expect(ask.inputSchema.required).toEqual(['question']);
    expect(Object.keys(ask.inputSchema.properties ?? {}).sort()).toEqual(['documentIds', 'question', 'strategy']);
  });

  it('lists the documents of the namespace', async () => {
    const r = await client.callTool({ name: 'list_documents', arguments: {} });
    expect(r.isError).toBeFalsy();
    const docs = (r.structuredContent as any).documents;
    expect(docs.map((d: any) => d.id).sort()).toEqual(['ledger', 'lighthouse']);
    expect(docs.find((d: any) => d.id === 'lighthouse')).toMatchObject({
      title: 'lighthouse title',
      status: 'ready',
      chars: doc.length,
    });
  });

  it('asks through the router: the answer, citations that read back with read, and the decision of /v1/query', async () => {
    const r = await client.callTool({ name: 'ask', arguments: { question: PARROT_Q, documentIds: ['lighthouse'] } });
    expect(r.isError).toBeFalsy();
    const out = r.structuredContent as any;
    const q = await s.call('POST', '/v1/query', { question: PARROT_Q, documentIds: ['lighthouse'] });
    expect(out.answer).toMatch(/Admiral Pimento/);
    expect(out.answer).toBe(q.body.answer);
    expect(out.decision.strategy).toBe(q.body.decision.strategy);
    expect((r.content as any)[0].text).toBe(out.answer);
    expect(out.citations.length).toBeGreaterThan(0);
    const c = out.citations[0];
    const span = await client.callTool({
      name: 'read',
      arguments: { documentId: c.documentId, start: c.start, end: c.end },
    });
    expect((span.structuredContent as any).text).toBe(c.text);
    expect(doc.slice(c.start, c.end)).toBe(c.text);

    const forced = await client.callTool({
      name: 'ask',
      arguments: { question: PARROT_Q, documentIds: ['lighthouse'], strategy: 'full' },
    });
    expect((forced.structuredContent as any).decision.strategy).toBe('full');
  });

  it('retrieves the passages with offsets and the Adaptive-k summary of /v1/retrieve', async () => {
    const r = await client.callTool({
      name: 'retrieve',
      arguments: { question: PARROT_Q, documentIds: ['lighthouse'] },
    });
    const out = r.structuredContent as any;
    const http = await s.call('POST', '/v1/retrieve', { question: PARROT_Q, documentIds: ['lighthouse'] });
    expect(out.passages).toEqual(http.body.passages);
    expect(out.adaptiveK).toMatchObject({
      k: http.body.k,
      cutIndex: http.body.cutIndex,
      selectedTokens: http.body.tokens.selected,
      documentTokens: http.body.tokens.documents,
    });
    for (const p of out.passages) expect(doc.slice(p.start, p.end)).toBe(p.text);
  });

  it('reports failures as tool errors with the stable code', async () => {
    const missing = await client.callTool({ name: 'ask', arguments: { question: PARROT_Q, documentIds: ['nope'] } });
    expect(missing.isError).toBe(true);
    expect((missing.content as any)[0].text).toMatch(/^DOCUMENTS_NOT_FOUND: /);
    const backwards = await client.callTool({
      name: 'read',
      arguments: { documentId: 'lighthouse', start: 10, end: 5 },
    });
    expect(backwards.isError).toBe(true);
    expect((backwards.content as any)[0].text).toMatch(
      /^INVALID_PARAMETER: end \(5\) must be greater than start \(10\)/,
    );
    const past = await client.callTool({
      name: 'read',
      arguments: { documentId: 'lighthouse', start: doc.length + 1, end: doc.length + 10 },
    });
    expect((past.content as any)[0].text).toMatch(/^INVALID_PARAMETER: start .* is past the end/);
    const blank = await client.callTool({ name: 'retrieve', arguments: { question: '   ' } });
    expect((blank.content as any)[0].text).toMatch(/^EMPTY_QUESTION: /);
  });
});

describe('MCP server behind API keys', () => {
  let s: TestServer;
  let keyA = '';
  let keyB = '';
  beforeAll(async () => {
    s = await startServer({ AUTH: 'on', ADMIN_API_KEY: ADMIN });
    const admin = { 'x-api-key': ADMIN };
    keyA = (await s.call('POST', '/v1/admin/keys', { namespace: 'team-a', name: 'alice' }, admin)).body.key;
    keyB = (await s.call('POST', '/v1/admin/keys', { namespace: 'team-b', name: 'bob' }, admin)).body.key;
    await ingest(s, 'lighthouse', lighthouseDocument(), { 'x-api-key': keyA });
  }, 180_000);
  afterAll(async () => s?.close());

  it('refuses a client without a key with 401', async () => {
    const err = await connect(s).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamableHTTPError);
    expect((err as StreamableHTTPError).code).toBe(401);
    const wrong = await connect(s, { authorization: 'Bearer air_wrong' }).catch((e: unknown) => e);
    expect((wrong as StreamableHTTPError).code).toBe(401);
  });

  it("acts in the key's namespace only", async () => {
    const a = await connect(s, { authorization: `Bearer ${keyA}` });
    const b = await connect(s, { 'x-api-key': keyB });
    try {
      const listA = await a.callTool({ name: 'list_documents', arguments: {} });
      expect((listA.structuredContent as any).documents.map((d: any) => d.id)).toEqual(['lighthouse']);
      const listB = await b.callTool({ name: 'list_documents', arguments: {} });
      expect((listB.structuredContent as any).documents).toEqual([]);
      const crafted = await b.callTool({ name: 'read', arguments: { documentId: 'lighthouse', start: 0, end: 10 } });
      expect((crafted.content as any)[0].text).toMatch(/^DOCUMENTS_NOT_FOUND: /);
      const asked = await a.callTool({ name: 'ask', arguments: { question: PARROT_Q } });
      expect((asked.structuredContent as any).answer).toMatch(/Admiral Pimento/);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
