import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lighthouseDocument, ledgerDocument } from '../helpers/documents.js';
import { ScriptedLlm } from '../helpers/llm.js';
import { startServer, waitForJob, type TestServer } from '../helpers/server.js';

/**
 * POST /v1/chat/completions and GET /v1/models with the real `openai` SDK as
 * the client, over HTTP, against a running service.
 */

const ADMIN = 'admin-secret-for-openai-tests-0123456789';
const PARROT_Q = 'What is the name of the lighthouse keeper’s parrot?';
/** A follow-up that needs the earlier turns: the extractive reader appends them to the question (a fallback). */
const FOLLOW_UP: OpenAI.Chat.ChatCompletionMessageParam[] = [
  { role: 'user', content: 'Tell me about the lighthouse keeper.' },
  { role: 'assistant', content: 'He kept a lighthouse.' },
  { role: 'user', content: 'What was his parrot called?' },
];

async function ingest(s: TestServer, id: string, text: string, headers: Record<string, string> = {}): Promise<void> {
  const r = await s.call('POST', '/v1/documents', { id, title: id, text }, headers);
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  expect((await waitForJob(s, r.body.jobId, headers)).state).toBe('completed');
}

/** The SDK sends fields it does not know as they are: that is how documentIds reaches the service. */
type WithScope = OpenAI.Chat.ChatCompletionCreateParamsNonStreaming & { documentIds?: string[] };
type WithScopeStreaming = OpenAI.Chat.ChatCompletionCreateParamsStreaming & { documentIds?: string[] };

function client(s: TestServer, apiKey = 'unused'): OpenAI {
  return new OpenAI({ baseURL: `${s.url}/v1`, apiKey, maxRetries: 0 });
}

async function collect(
  stream: AsyncIterable<OpenAI.Chat.ChatCompletionChunk>,
): Promise<Array<OpenAI.Chat.ChatCompletionChunk & Record<string, any>>> {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

describe('OpenAI-compatible chat with the extractive reader', () => {
  let s: TestServer;
  let ai: OpenAI;
  const doc = lighthouseDocument();
  beforeAll(async () => {
    s = await startServer();
    await ingest(s, 'lighthouse', doc);
    await ingest(s, 'ledger', ledgerDocument());
    ai = client(s);
  }, 180_000);
  afterAll(async () => s?.close());

  it('lists the reading strategies as models', async () => {
    const ids: string[] = [];
    for await (const m of ai.models.list()) ids.push(m.id);
    expect(ids).toEqual(['auto', 'rag', 'coa', 'full']);
    expect((await ai.models.retrieve('coa')).owned_by).toBe('adaptive-reader');
  });

  it('answers the last user message with citations into the document, usage and the decision of /v1/query', async () => {
    const params: WithScope = {
      model: 'auto',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: PARROT_Q },
      ],
      documentIds: ['lighthouse'],
    };
    const c = (await ai.chat.completions.create(params)) as OpenAI.Chat.ChatCompletion & Record<string, any>;
    const q = await s.call('POST', '/v1/query', { question: PARROT_Q, documentIds: ['lighthouse'] });
    expect(q.status).toBe(200);

    expect(c.object).toBe('chat.completion');
    expect(c.model).toBe('auto');
    const m = c.choices[0]!.message as OpenAI.Chat.ChatCompletionMessage & { annotations: any[] };
    expect(m.role).toBe('assistant');
    expect(m.content).toMatch(/Admiral Pimento/);
    expect(m.content).toBe(q.body.answer);
    expect(c.choices[0]!.finish_reason).toBe('stop');
    expect(m.annotations.length).toBeGreaterThan(0);
    for (const a of m.annotations) {
      expect(a.type).toBe('document_citation');
      expect(a.document_citation.document_id).toBe('lighthouse');
      expect(doc.slice(a.document_citation.start, a.document_citation.end)).toBe(a.document_citation.text);
    }
    expect(c.usage!.prompt_tokens).toBe(q.body.totals.promptTokens);
    expect(c.usage!.total_tokens).toBe(c.usage!.prompt_tokens + c.usage!.completion_tokens);
    expect(c.decision.strategy).toBe(q.body.decision.strategy);
    expect(c.decision.reasons).toEqual(q.body.decision.reasons);
    expect(c.conversation).toMatchObject({ history: 'none', question: PARROT_Q, turns: 0 });
    expect(c.reading.contextTokens).toBe(q.body.contextTokens);
  });

  it('reads with the strategy the model names', async () => {
    for (const model of ['rag', 'full', 'coa'] as const) {
      const c = (await ai.chat.completions.create({
        model,
        messages: [{ role: 'user', content: PARROT_Q }],
        documentIds: ['lighthouse'],
      } as WithScope)) as any;
      expect(c.decision.strategy).toBe(model);
      expect(c.reading.strategy).toBe(model);
    }
  });

  it('streams the same answer in chunks ending with the annotations, usage and [DONE]', async () => {
    const plain = (await ai.chat.completions.create({
      model: 'rag',
      messages: [{ role: 'user', content: PARROT_Q }],
      documentIds: ['lighthouse'],
    } as WithScope)) as any;
    const params: WithScopeStreaming = {
      model: 'rag',
      messages: [{ role: 'user', content: PARROT_Q }],
      stream: true,
      stream_options: { include_usage: true },
      documentIds: ['lighthouse'],
    };
    const chunks = await collect(await ai.chat.completions.create(params));
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0]!.id)).toBe(true);
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(plain.choices[0].message.content);
    const decided = chunks.find((c) => c.decision);
    expect(decided?.decision.strategy).toBe('rag');
    const last = chunks.findLast((c) => c.choices.length > 0)!;
    expect(last.choices[0]!.finish_reason).toBe('stop');
    expect((last.choices[0]!.delta as any).annotations).toEqual(plain.choices[0].message.annotations);
    const usage = chunks.at(-1)!;
    expect(usage.choices).toEqual([]);
    expect(usage.usage).toEqual(plain.usage);

    // The raw stream ends in OpenAI's terminator.
    const raw = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(params),
    });
    expect(raw.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect((await raw.text()).trimEnd().endsWith('data: [DONE]')).toBe(true);
  });

  it('passes earlier user turns as context with the extractive reader, and says it is a fallback', async () => {
    const c = (await ai.chat.completions.create({
      model: 'rag',
      messages: FOLLOW_UP,
      documentIds: ['lighthouse'],
    } as WithScope)) as any;
    expect(c.conversation.history).toBe('context');
    expect(c.conversation.turns).toBe(2);
    expect(c.conversation.note).toMatch(/^fallback/);
    expect(c.conversation.question).toBe(
      'What was his parrot called?\n\nEarlier in this conversation: Tell me about the lighthouse keeper.',
    );
    expect(c.choices[0].message.content).toMatch(/Admiral Pimento/);
  });

  it("gives errors in OpenAI's shape with the stable code, which the SDK raises as its own errors", async () => {
    const unknownModel = await ai.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(unknownModel).toBeInstanceOf(OpenAI.NotFoundError);
    expect((unknownModel as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('UNKNOWN_MODEL');
    expect((unknownModel as InstanceType<typeof OpenAI.NotFoundError>).type).toBe('not_found_error');

    const missing = await ai.chat.completions
      .create({ model: 'auto', messages: [{ role: 'user', content: PARROT_Q }], documentIds: ['nope'] } as WithScope)
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    expect((missing as InstanceType<typeof OpenAI.APIError>).code).toBe('DOCUMENTS_NOT_FOUND');

    const noUser = await ai.chat.completions
      .create({ model: 'auto', messages: [{ role: 'system', content: 'hello' }] })
      .catch((e: unknown) => e);
    expect(noUser).toBeInstanceOf(OpenAI.BadRequestError);
    expect((noUser as InstanceType<typeof OpenAI.APIError>).code).toBe('VALIDATION');
    expect((noUser as InstanceType<typeof OpenAI.APIError>).type).toBe('invalid_request_error');

    const image = await ai.chat.completions
      .create({
        model: 'auto',
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://x/y.png' } }] }],
      })
      .catch((e: unknown) => e);
    expect(image).toBeInstanceOf(OpenAI.BadRequestError);
    expect((image as InstanceType<typeof OpenAI.APIError>).message).toMatch(/only text is read/);

    // A first question of stopwords only, over the whole namespace: nothing to find documents by.
    const vague = await ai.chat.completions
      .create({ model: 'auto', messages: [{ role: 'user', content: 'What is it?' }] })
      .catch((e: unknown) => e);
    expect(vague).toBeInstanceOf(OpenAI.UnprocessableEntityError);
    expect((vague as InstanceType<typeof OpenAI.APIError>).code).toBe('NO_SEARCH_TERMS');

    const schema = await s.call('POST', '/v1/chat/completions', { model: 'auto', messages: [] });
    expect(schema.status).toBe(400);
    expect(schema.body.error).toMatchObject({ type: 'invalid_request_error', code: 'VALIDATION', param: null });
    expect(typeof schema.body.requestId).toBe('string');
  });
});

describe('OpenAI-compatible chat with a generative reader', () => {
  const REWRITTEN = 'What is the name of the parrot of the lighthouse keeper?';
  // Rewrites follow-ups, answers from retrieved passages at length (so the probe escalates), and names the parrot briefly from the whole text.
  const llm = new ScriptedLlm(32_768, (req) => {
    if (!req.task) return REWRITTEN;
    if (req.task.kind === 'coa-worker') return 'note';
    const fromPassages = req.messages.at(-1)!.content.startsWith('Passages:');
    return fromPassages
      ? 'The parrot, as far as these few passages go, seems to be called Admiral Pimento, though the passages say little else about the lighthouse, its keeper or the ships that passed the rocks in any season of the year.'
      : 'Admiral Pimento.';
  });
  let s: TestServer;
  let ai: OpenAI;
  beforeAll(async () => {
    s = await startServer({ LLM_CONTEXT_WINDOW: 32_768 }, { llm });
    await ingest(s, 'lighthouse', lighthouseDocument());
    ai = client(s);
  }, 180_000);
  afterAll(async () => s?.close());

  it('rewrites a follow-up into a question that stands alone and counts that call in usage', async () => {
    const before = llm.requests.length;
    const c = (await ai.chat.completions.create({
      model: 'rag',
      messages: [
        { role: 'user', content: 'Who kept the lighthouse?' },
        { role: 'assistant', content: 'The keeper.' },
        { role: 'user', content: 'And his parrot, what was it called?' },
      ],
      documentIds: ['lighthouse'],
    } as WithScope)) as any;
    const rewrite = llm.requests[before]!;
    expect(rewrite.task).toBeUndefined();
    expect(rewrite.messages.at(-1)!.content).toContain('user: Who kept the lighthouse?\nassistant: The keeper.');
    expect(c.conversation).toMatchObject({
      history: 'rewritten',
      question: REWRITTEN,
      asked: 'And his parrot, what was it called?',
      turns: 2,
      note: null,
    });
    const answer = llm.requests[before + 1]!;
    expect(answer.task).toMatchObject({ kind: 'answer', question: REWRITTEN });
    expect(c.usage.prompt_tokens).toBe(rewrite.promptTokens + answer.promptTokens);
  });

  it('streams only the attempt the retrieval probe kept', async () => {
    const params: WithScopeStreaming = {
      model: 'auto',
      messages: [{ role: 'user', content: PARROT_Q }],
      stream: true,
      documentIds: ['lighthouse'],
    };
    const chunks = await collect(await ai.chat.completions.create(params));
    const final = chunks.findLast((c) => c.decision)!.decision;
    expect(final.probe.active).toBe(true);
    expect(final.escalated?.to).toBe('full');
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Admiral Pimento.');
  });
});

describe('OpenAI-compatible chat behind API keys', () => {
  let s: TestServer;
  let key = '';
  beforeAll(async () => {
    s = await startServer({ AUTH: 'on', ADMIN_API_KEY: ADMIN });
    key = (await s.call('POST', '/v1/admin/keys', { namespace: 'team-a', name: 'alice' }, { 'x-api-key': ADMIN })).body
      .key;
    await ingest(s, 'lighthouse', lighthouseDocument(), { 'x-api-key': key });
  }, 180_000);
  afterAll(async () => s?.close());

  it('refuses a missing key with an authentication error and reads the namespace of a good one', async () => {
    const anonymous = await client(s, 'air_wrong')
      .chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: PARROT_Q }] })
      .catch((e: unknown) => e);
    expect(anonymous).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((anonymous as InstanceType<typeof OpenAI.APIError>).code).toBe('UNAUTHORIZED');
    const c = await client(s, key).chat.completions.create({
      model: 'auto',
      messages: [{ role: 'user', content: PARROT_Q }],
    });
    expect(c.choices[0]!.message.content).toMatch(/Admiral Pimento/);
    // The admin's default namespace holds nothing.
    const admin = await client(s, ADMIN)
      .chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: PARROT_Q }] })
      .catch((e: unknown) => e);
    expect((admin as InstanceType<typeof OpenAI.APIError>).code).toBe('NO_DOCUMENTS');
  });
});

describe('OpenAI-compatible chat with CHAT_EXPLANATION=footer (for chat UIs that show only the text)', () => {
  let s: TestServer;
  let ai: OpenAI;
  beforeAll(async () => {
    s = await startServer({ CHAT_EXPLANATION: 'footer' });
    await ingest(s, 'lighthouse', lighthouseDocument());
    await ingest(s, 'ledger', ledgerDocument());
    ai = client(s);
  }, 180_000);
  afterAll(async () => s?.close());

  const ask = async (extra: Record<string, unknown> = {}) =>
    (await ai.chat.completions.create({
      model: 'auto',
      messages: [{ role: 'user', content: PARROT_Q }],
      ...extra,
    } as WithScope)) as OpenAI.Chat.ChatCompletion & Record<string, any>;

  it("ends the answer's text with the strategy and why, the tokens read, and the documents read over a namespace", async () => {
    const c = await ask();
    const content = c.choices[0]!.message.content!;
    const [answer, footer] = content.split('\n\n---\n');
    expect(answer).toMatch(/Admiral Pimento/);
    const q = await s.call('POST', '/v1/query', { question: PARROT_Q });
    expect(answer).toBe(q.body.answer);
    // What the response's own fields say, in words.
    const n = (x: number) => x.toLocaleString('en-US');
    expect(footer).toContain(`${n(c.reading.contextTokens)} of ${n(c.reading.fullContextTokens)} document tokens`);
    expect(footer).toContain('chosen by the router');
    expect(footer).toContain('answered by the extractive reader');
    // The router's reasons but the documents' (which have their own line), in order.
    const why = (c.decision.reasons as string[]).filter((x) => !x.startsWith('documents: '));
    expect(why.length).toBeGreaterThan(0);
    expect(footer).toContain(`Why: ${why.join('; ')}.`);
    expect(c.decision.documents.picked).toContain('lighthouse');
    expect(footer).toContain(`Documents read: ${c.decision.documents.picked.join(', ')}`);
    expect(footer).toContain('of 2 in the namespace');
  });

  it('leaves the text alone when the request says explain: false, and explains a named strategy as asked', async () => {
    const plain = await ask({ explain: false, documentIds: ['lighthouse'] });
    const q = await s.call('POST', '/v1/query', { question: PARROT_Q, documentIds: ['lighthouse'] });
    expect(plain.choices[0]!.message.content).toBe(q.body.answer);
    const full = await ask({ model: 'full', documentIds: ['lighthouse'] });
    const footer = full.choices[0]!.message.content!.split('\n\n---\n')[1]!;
    expect(footer).toMatch(/^Read by full context \(the whole text\), as asked/);
    // A scope named by ids picks no documents: there is no documents line.
    expect(footer).not.toContain('Documents read');
  });

  it('streams the same text, the explanation last', async () => {
    const plain = await ask({ model: 'rag', documentIds: ['lighthouse'] });
    const chunks = await collect(
      await ai.chat.completions.create({
        model: 'rag',
        messages: [{ role: 'user', content: PARROT_Q }],
        stream: true,
        documentIds: ['lighthouse'],
      } as WithScopeStreaming),
    );
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(plain.choices[0]!.message.content);
    expect(text).toContain('\n\n---\nRead by retrieval');
  });

  it('says in the text when earlier turns were appended as a fallback', async () => {
    const c = await ask({
      model: 'rag',
      messages: FOLLOW_UP,
      documentIds: ['lighthouse'],
    });
    expect(c.conversation.note).toMatch(/^fallback/);
    expect(c.choices[0]!.message.content).toContain('\n\nFallback: the extractive reader cannot rewrite a follow-up');
  });
});
