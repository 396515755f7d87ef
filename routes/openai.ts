import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { AppError } from '../src/errors.js';
import { abortOnClientClose } from '../src/http/cancel.js';
import { replyWithError, toAppError } from '../src/http/errors.js';
import { openSse } from '../src/http/sse.js';
import { EXAMPLE, plainJson } from '../src/http/views.js';
import { ChatCompletion, OpenAiModel, OpenAiModelList, type OpenAiError } from '../src/http/schemas.js';
import {
  splitConversation,
  standaloneQuestion,
  type StandaloneQuestion,
  type Turn,
} from '../src/core/chat/conversation.js';
import { explanation } from '../src/core/chat/explain.js';
import { DEFAULTS } from '../src/core/retrieval/defaults.js';
import type { QueryInput, QueryResult, RequestedStrategy } from '../src/core/routing/query-service.js';
import { checkQuestion, Scope, selectionFrom } from './retrieve.js';

/** The models this endpoint offers: the reading strategies. */
export const CHAT_MODELS: Record<RequestedStrategy, string> = {
  auto: 'The router decides per question how much to read (Adaptive-k retrieval, Chain-of-Agents or the whole text), as POST /v1/query.',
  rag: 'Retrieval: the Adaptive-k passages, in document order.',
  coa: 'Chain-of-Agents: workers read segments in turn passing notes, a manager answers.',
  full: 'Full context: the whole text (middle-truncated when it does not fit the window).',
};

function isModel(m: string): m is RequestedStrategy {
  return Object.hasOwn(CHAT_MODELS, m);
}

const ContentPart = Type.Object(
  { type: Type.String(), text: Type.Optional(Type.String({ maxLength: 100_000 })) },
  { additionalProperties: true },
);
const Message = Type.Object(
  {
    role: Type.Union(['system', 'developer', 'user', 'assistant', 'tool'].map((r) => Type.Literal(r))),
    content: Type.Union([Type.String({ maxLength: 100_000 }), Type.Array(ContentPart, { maxItems: 100 }), Type.Null()]),
    name: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: true },
);

export const ChatBody = Type.Object(
  {
    model: Type.String({
      maxLength: 200,
      description: `One of ${Object.keys(CHAT_MODELS).join(', ')} (GET /v1/models).`,
    }),
    messages: Type.Array(Message, {
      minItems: 1,
      maxItems: 1000,
      description:
        'The last user message is the question. With earlier user or assistant turns, a generative reader first rewrites it into a question that stands alone (one LLM call, counted in usage); ' +
        'the extractive reader cannot, so the earlier user messages are appended to the question as context (a fallback, said in conversation.note). ' +
        'System messages are not read. Text content only.',
    }),
    stream: Type.Optional(
      Type.Boolean({ description: 'Stream chat.completion.chunk events, ending in data: [DONE].' }),
    ),
    stream_options: Type.Optional(
      Type.Object({ include_usage: Type.Optional(Type.Boolean()) }, { additionalProperties: true }),
    ),
    n: Type.Optional(Type.Integer({ minimum: 1, maximum: 1, description: 'Only 1.' })),
    documentIds: Scope.documentIds,
    explain: Type.Optional(
      Type.Boolean({
        description:
          "End the answer's text with how it was read (strategy and why, tokens read, documents read, fallbacks), for chat UIs that show only the message text. Default: CHAT_EXPLANATION.",
      }),
    ),
  },
  {
    additionalProperties: true,
    description:
      "OpenAI's chat completion request. The scope is the API key's namespace, narrowed by documentIds. Sampling parameters (temperature, top_p, max_tokens, …) are accepted and not used: the reader's configured settings apply.",
    examples: [
      { model: 'auto', messages: [{ role: 'user', content: EXAMPLE.question }], documentIds: [EXAMPLE.documentId] },
    ],
  },
);
type ChatBody = Static<typeof ChatBody>;

/** OpenAI's error type for a status (https://platform.openai.com/docs/guides/error-codes). */
export function openAiErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 499) return 'cancelled';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

/** OpenAI's error body, with the stable code of src/errors.ts as `code` and the request id beside it. */
export function openAiError(e: AppError, requestId: string): { error: OpenAiError; requestId: string } {
  return {
    error: {
      message: e.message,
      type: openAiErrorType(e.statusCode),
      param: null,
      code: e.code,
      ...(e.details ? { details: e.details } : {}),
    },
    requestId,
  };
}

/** The message text: a string, or the text parts of a content array. */
function textOf(content: ChatBody['messages'][number]['content'], index: number): string {
  if (content === null) return '';
  if (typeof content === 'string') return content;
  return content
    .map((p) => {
      if (p.type !== 'text' || typeof p.text !== 'string')
        throw new AppError('VALIDATION', [`messages[${index}] has a ${p.type} content part: only text is read`]);
      return p.text;
    })
    .join('\n');
}

function finishReason(r: QueryResult): 'stop' | 'length' {
  return r.calls.at(-1)?.finishReason === 'length' ? 'length' : 'stop';
}

function annotations(r: QueryResult) {
  return r.citations.map((c) => ({
    type: 'document_citation' as const,
    document_citation: { document_id: c.documentId, chunk_id: c.chunkId, start: c.start, end: c.end, text: c.text },
  }));
}

function usage(r: QueryResult, q: StandaloneQuestion) {
  const prompt = r.totals.promptTokens + q.promptTokens;
  const completion = r.totals.completionTokens + q.completionTokens;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

function reading(r: QueryResult) {
  return {
    strategy: r.strategy,
    extractive: r.extractive,
    contextTokens: r.contextTokens,
    fullContextTokens: r.fullContextTokens,
    calls: r.totals.calls,
  };
}

function conversationView(q: StandaloneQuestion) {
  return { question: q.question, asked: q.asked, history: q.mode, turns: q.turns, note: q.note };
}

const routes: FastifyPluginAsync = async (app) => {
  const cfg = app.container.config;
  const started = Math.floor(Date.now() / 1000);
  // Every error of these routes, auth and validation included, in OpenAI's shape (which the service's own extends).
  app.setErrorHandler((err, req, reply) => replyWithError(err, req, reply, cfg.BODY_LIMIT_BYTES, openAiError));

  const model = (id: string) => ({
    id,
    object: 'model' as const,
    created: started,
    owned_by: 'adaptive-reader',
    description: CHAT_MODELS[id as RequestedStrategy],
  });

  app.get(
    '/models',
    {
      schema: {
        tags: ['openai'],
        summary: 'The models of the OpenAI-compatible endpoint: the reading strategies',
        response: { 200: OpenAiModelList, 401: Type.Ref('OpenAiErrorBody') },
      },
    },
    async () => ({ object: 'list' as const, data: Object.keys(CHAT_MODELS).map(model) }),
  );

  app.get(
    '/models/:model',
    {
      schema: {
        tags: ['openai'],
        summary: 'One model of the OpenAI-compatible endpoint',
        params: Type.Object({ model: Type.String({ maxLength: 200, examples: ['auto'] }) }),
        response: { 200: OpenAiModel, 404: Type.Ref('OpenAiErrorBody') },
      },
    },
    async (req) => {
      const { model: id } = req.params as { model: string };
      if (!isModel(id)) throw new AppError('UNKNOWN_MODEL', [JSON.stringify(id), Object.keys(CHAT_MODELS).join(', ')]);
      return model(id);
    },
  );

  app.post(
    '/chat/completions',
    {
      schema: {
        tags: ['openai'],
        summary: 'OpenAI-compatible chat: answer the last user message from the documents',
        description:
          'For tools that speak OpenAI (the openai SDKs, Open WebUI, LibreChat, LiteLLM, LangChain). The model is the reading strategy (auto routes, as POST /v1/query). ' +
          'The answer is the message content; its citations are `annotations` of type document_citation with character offsets into the document; ' +
          "`usage` counts the tokens the reader was sent (all its calls, the rewriting of a follow-up included); `decision` is the router's decision as in /v1/query, " +
          '`conversation` says how earlier turns were used, `reading` the document tokens read against reading them whole. ' +
          "With stream: true, chat.completion.chunk events: the role, the decision, the answer's text, then a chunk with the annotations and finish_reason, " +
          'a usage chunk when stream_options.include_usage, and data: [DONE]. With the retrieval probe or Self-Route active, the text is sent once the attempt kept is known. ' +
          'Errors, also mid-stream, are OpenAI error bodies whose code is the stable code of the error catalogue.',
        body: ChatBody,
        response: {
          200: ChatCompletion,
          400: Type.Ref('OpenAiErrorBody'),
          401: Type.Ref('OpenAiErrorBody'),
          404: Type.Ref('OpenAiErrorBody'),
          409: Type.Ref('OpenAiErrorBody'),
          422: Type.Ref('OpenAiErrorBody'),
        },
      },
      ...plainJson,
    },
    async (req, reply) => {
      const body = req.body as ChatBody;
      if (!isModel(body.model))
        throw new AppError('UNKNOWN_MODEL', [JSON.stringify(body.model), Object.keys(CHAT_MODELS).join(', ')]);
      const turns: Turn[] = body.messages.map((m, i) => ({
        role: m.role as Turn['role'],
        content: textOf(m.content, i),
      }));
      checkQuestion(splitConversation(turns).question, cfg);
      const documentIds = body.documentIds ?? null;
      // Unknown or unready documents are a JSON error, also for stream requests.
      const documents = await app.container.retrieval.resolveScope(req.namespace, documentIds);
      const signal = abortOnClientClose(reply);
      const conversation = await standaloneQuestion(app.container.answers.llm, turns, {
        maxQuestionChars: cfg.MAX_QUESTION_CHARS,
        signal,
      });
      const input: QueryInput = {
        namespace: req.namespace,
        question: checkQuestion(conversation.question, cfg),
        documentIds,
        documents,
        strategy: body.model,
        selection: selectionFrom({}, cfg),
        score: cfg.RETRIEVAL_SCORE,
        hybridAlpha: DEFAULTS.hybridAlpha,
        signal,
        log: req.log,
      };
      // How the answer was read, at the end of its text, when asked (chat UIs show only the text).
      const explain = body.explain ?? cfg.CHAT_EXPLANATION === 'footer';
      const footer = (r: QueryResult) => (explain ? explanation(r, conversation.note) : '');
      const id = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
      const created = Math.floor(Date.now() / 1000);

      if (body.stream !== true) {
        const r = await app.container.query.query(input);
        return {
          id,
          object: 'chat.completion' as const,
          created,
          model: body.model,
          choices: [
            {
              index: 0,
              message: {
                role: 'assistant' as const,
                content: r.answer + footer(r),
                refusal: null,
                annotations: annotations(r),
              },
              logprobs: null,
              finish_reason: finishReason(r),
            },
          ],
          usage: usage(r, conversation),
          decision: r.decision,
          conversation: conversationView(conversation),
          reading: reading(r),
        };
      }

      const sse = openSse(req, reply);
      const chunk = (delta: Record<string, unknown>, finish: string | null, extra: Record<string, unknown> = {}) =>
        sse.data(
          JSON.stringify({
            id,
            object: 'chat.completion.chunk',
            created,
            model: body.model,
            choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
            ...extra,
          }),
        );
      chunk({ role: 'assistant', content: '' }, null, { conversation: conversationView(conversation) });
      // Tokens go out as they come unless an escalation may still discard the attempt that writes them.
      let live = true;
      let sent = '';
      try {
        const r = await app.container.query.query({
          ...input,
          onEvent: (e) => {
            if (e.type === 'decision') {
              live = !(e.decision.probe.active || e.decision.selfRoute.active);
              chunk({}, null, { decision: e.decision });
            } else if (e.type === 'token' && live && e.text !== '') {
              sent += e.text;
              chunk({ content: e.text }, null);
            }
          },
        });
        if (r.answer.startsWith(sent)) {
          if (r.answer.length > sent.length) chunk({ content: r.answer.slice(sent.length) }, null);
        } else {
          req.log.warn(
            { streamed: sent.length, answer: r.answer.length },
            'the streamed text is not a prefix of the answer',
          );
        }
        if (explain) chunk({ content: footer(r) }, null);
        chunk({ annotations: annotations(r) }, finishReason(r), { decision: r.decision, reading: reading(r) });
        if (body.stream_options?.include_usage === true) {
          sse.data(
            JSON.stringify({
              id,
              object: 'chat.completion.chunk',
              created,
              model: body.model,
              choices: [],
              usage: usage(r, conversation),
            }),
          );
        }
        sse.data('[DONE]');
      } catch (err) {
        const e = toAppError(err, cfg.BODY_LIMIT_BYTES);
        if (e.code === 'CANCELLED') req.log.info('chat completion cancelled');
        else if (e.statusCode >= 500) req.log.error({ err }, 'chat completion failed');
        else req.log.info({ code: e.code, msg: e.message }, 'chat completion rejected');
        sse.data(JSON.stringify(openAiError(e, req.id)));
      } finally {
        sse.end();
      }
      return reply;
    },
  );
};

export default routes;
