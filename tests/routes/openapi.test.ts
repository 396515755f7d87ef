import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnswerResult, BatchResult, EXAMPLE, QueryResult, RetrieveResult } from '../../src/http/views.js';
import { ChatCompletion } from '../../src/http/schemas.js';
import { startServer, waitForJob, type TestServer } from '../helpers/server.js';

/**
 * The API description served at /openapi.json: every route documents its
 * success response, every example in it is valid, each request example sent
 * gets a documented status, real responses match the documented schemas, and
 * the main routes come first in /docs.
 */

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

type Operation = { tags?: string[]; requestBody?: any; parameters?: any[]; responses: Record<string, any> };

function operations(doc: any): Array<{ path: string; method: string; op: Operation }> {
  const out = [];
  for (const [path, item] of Object.entries<any>(doc.paths))
    for (const method of METHODS) if (item[method]) out.push({ path, method, op: item[method] as Operation });
  return out;
}

/** Every schema node of the document that carries an example, with the example. */
function* examplesIn(node: unknown, where: string): Generator<{ where: string; schema: unknown; example: unknown }> {
  if (Array.isArray(node)) {
    for (const [i, n] of node.entries()) yield* examplesIn(n, `${where}[${i}]`);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const o = node as Record<string, unknown>;
  if (o.schema && 'example' in o) yield { where, schema: o.schema, example: o.example };
  if (Array.isArray(o.examples) && ('type' in o || 'properties' in o))
    for (const e of o.examples) yield { where, schema: o, example: e };
  if ('example' in o && ('type' in o || 'properties' in o)) yield { where, schema: o, example: o.example };
  for (const [k, v] of Object.entries(o))
    if (k !== 'examples' && k !== 'example') yield* examplesIn(v, `${where}/${k}`);
}

describe('the OpenAPI description', () => {
  let s: TestServer;
  let doc: any;
  const ajv = addFormats(new Ajv({ strict: false, allErrors: true }));
  beforeAll(async () => {
    s = await startServer();
    doc = (await s.call('GET', '/openapi.json')).body;
    ajv.addSchema({ $id: 'doc', components: doc.components });
  });
  afterAll(async () => s?.close());

  /** Validates `value` against a schema of the document (its $refs point into its components). */
  const validates = (schema: any, value: unknown): string | null => {
    const validate = ajv.compile({
      ...JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"doc#/components/')),
    });
    return validate(value) ? null : ajv.errorsText(validate.errors);
  };

  it('documents a success response with a schema for every route', () => {
    const missing: string[] = [];
    for (const { path, method, op } of operations(doc)) {
      const success = Object.entries(op.responses).filter(([code]) => /^2\d\d$/.test(code));
      const documented = success.some(
        ([code, r]) => code === '204' || Object.values<any>(r.content ?? {}).some((c) => c.schema !== undefined),
      );
      if (!documented) missing.push(`${method.toUpperCase()} ${path}`);
    }
    expect(missing).toEqual([]);
    for (const path of ['/v1/query', '/v1/answer', '/v1/retrieve', '/v1/chat/completions']) {
      expect(doc.paths[path].post.responses['200'].content['application/json'].schema.properties, path).toBeDefined();
    }
  });

  it('puts the main routes first in /docs', () => {
    expect(doc.tags.map((t: { name: string }) => t.name).slice(0, 5)).toEqual([
      'documents',
      'answers',
      'retrieval',
      'openai',
      'mcp',
    ]);
    const used = new Set(operations(doc).flatMap(({ op }) => op.tags ?? []));
    for (const tag of used)
      expect(
        doc.tags.map((t: { name: string }) => t.name),
        `tag ${tag} is declared`,
      ).toContain(tag);
  });

  it('holds only examples that are valid for their schema', () => {
    const found = [...examplesIn(doc.paths, 'paths')];
    expect(found.length).toBeGreaterThanOrEqual(8);
    for (const { where, schema, example } of found) expect(validates(schema, example), where).toBeNull();
  });

  it('gets a documented status for every request example sent, and responses that match the documented schemas', async () => {
    const ops = operations(doc);
    // The document first, so the other examples have it to read.
    const byPath = (p: string, m: string) => ops.find((o) => o.path === p && o.method === m)!;
    const ordered = [
      byPath('/v1/documents', 'post'),
      ...ops.filter((o) => !(o.path === '/v1/documents' && o.method === 'post')),
    ];
    let sent = 0;
    for (const { path, method, op } of ordered) {
      const body = op.requestBody?.content?.['application/json']?.example;
      const params = (op.parameters ?? []).filter((p: any) => p.in === 'path');
      if (body === undefined && (params.length === 0 || params.some((p: any) => p.example === undefined))) continue;
      if (method === 'delete') continue;
      const url = params.reduce(
        (u: string, p: any) => u.replace(`{${p.name}}`, encodeURIComponent(String(p.example))),
        path,
      );
      const r = await s.call(method.toUpperCase(), url, body);
      const documented = Object.keys(op.responses).filter((c) => /^2\d\d$/.test(c));
      expect(documented, `${method} ${url}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`).toContain(
        String(r.status),
      );
      const schema = op.responses[String(r.status)]?.content?.['application/json']?.schema;
      if (schema) expect(validates(schema, r.body), `${method} ${url}`).toBeNull();
      if (path === '/v1/documents' && method === 'post')
        expect((await waitForJob(s, r.body.jobId)).state).toBe('completed');
      sent++;
    }
    expect(sent).toBeGreaterThanOrEqual(8);
  }, 120_000);

  it('describes real responses of the reading routes and inline batches, with the schemas the playground is typed from', async () => {
    const check = (schema: unknown, value: unknown, what: string) => {
      const v = ajv.compile(schema as object);
      expect(v(value) ? null : ajv.errorsText(v.errors), what).toBeNull();
    };
    const scope = { question: EXAMPLE.question, documentIds: [EXAMPLE.documentId] };
    check(
      RetrieveResult,
      (await s.call('POST', '/v1/retrieve', { ...scope, method: 'top-k', k: 1 })).body,
      'retrieve top-k',
    );
    const library = (await s.call('POST', '/v1/retrieve', { question: EXAMPLE.question })).body;
    expect(library.library?.picked.length, 'retrieve over the whole namespace picks a document').toBeGreaterThan(0);
    check(RetrieveResult, library, 'retrieve over the whole namespace (library)');
    for (const strategy of ['rag', 'coa', 'full'])
      check(AnswerResult, (await s.call('POST', '/v1/answer', { ...scope, strategy })).body, `answer ${strategy}`);
    for (const strategy of ['auto', 'rag', 'coa', 'full'])
      check(QueryResult, (await s.call('POST', '/v1/query', { ...scope, strategy })).body, `query ${strategy}`);
    const batch = await s.call('POST', '/v1/query/batch', {
      questions: [EXAMPLE.question, 'What is   '],
      documentIds: [EXAMPLE.documentId],
    });
    expect(batch.status).toBe(200);
    check(BatchResult, batch.body, 'batch');
    check(
      ChatCompletion,
      (
        await s.call('POST', '/v1/chat/completions', {
          model: 'coa',
          messages: [{ role: 'user', content: EXAMPLE.question }],
        })
      ).body,
      'chat',
    );
  });
});
