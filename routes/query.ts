import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { AppError } from '../src/errors.js';
import { abortOnClientClose } from '../src/http/cancel.js';
import { streamResult, wantsEventStream } from '../src/http/sse.js';
import { DEFAULTS } from '../src/core/retrieval/defaults.js';
import { validateSelectionMethod } from '../src/core/retrieval/select.js';
import {
  batchJobId,
  normaliseQuestions,
  QUERY_BATCH_JOB,
  runBatch,
  type QueryBatchJobData,
} from '../src/core/routing/batch.js';
import {
  validateBudgets,
  validateEscalation,
  type QueryEvent,
  type QueryInput,
  type RequestedStrategy,
} from '../src/core/routing/query-service.js';
import { isStrategyName } from '../src/core/strategies/types.js';
import type { Config } from '../src/config.js';
import { BatchResult, EXAMPLE, plainJson, QueryResult } from '../src/http/views.js';
import { checkQuestion, Scope, SelectionParams, selectionFrom } from './retrieve.js';
import { isBlank } from '../src/core/text/blank.js';

const Budgets = Type.Object(
  {
    maxPromptTokens: Type.Optional(Type.Number({ description: 'Most prompt tokens over all LLM calls.' })),
    maxCalls: Type.Optional(
      Type.Number({ description: 'Most LLM calls (Chain-of-Agents makes one per segment plus one).' }),
    ),
    maxLatencyMs: Type.Optional(
      Type.Number({
        description: 'Most time, estimated with ROUTER_LATENCY_MS_PER_CALL and ROUTER_LATENCY_MS_PER_1K_TOKENS.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'Limits on one answer; a strategy whose estimate exceeds them is not chosen. None left: 400 BUDGET_TOO_SMALL with the minimum.',
  },
);

const LlmChoice = Type.Object(
  {
    provider: Type.Optional(
      Type.String({ maxLength: 40, description: 'A configured provider (LLM_PROVIDER) or extractive.' }),
    ),
    model: Type.Optional(
      Type.String({ maxLength: 200, description: 'openai: LLM_MODEL or one of ROUTER_ALLOWED_MODELS.' }),
    ),
  },
  { additionalProperties: false },
);

const Options = {
  // A plain string, so an unknown strategy gets its own code (UNKNOWN_STRATEGY) rather than a schema message.
  strategy: Type.Optional(
    Type.String({
      description: 'auto (default): the router decides; rag, coa or full force a strategy.',
      examples: ['auto'],
    }),
  ),
  budgets: Type.Optional(Budgets),
  llm: Type.Optional(LlmChoice),
  selfRoute: Type.Optional(
    Type.Boolean({
      description:
        'Self-Route escalation when auto picks retrieval (generative readers only). Default ROUTER_SELF_ROUTE.',
    }),
  ),
  probe: Type.Optional(
    Type.Boolean({
      description:
        'Retrieval probe with strategy auto (generative readers only): answer from retrieval first, keep a declining or short answer, else read the whole text. Default ROUTER_PROBE (off when Self-Route is on). Not together with selfRoute: true.',
    }),
  ),
  preference: Type.Optional(
    Type.Number({
      minimum: 0,
      maximum: 1,
      description:
        'Cost against accuracy with strategy auto, 0 (cheapest) to 1 (most accurate): sets how long a retrieval answer the probe keeps. Default ROUTER_PREFERENCE.',
    }),
  ),
  ...SelectionParams,
};

const QueryBody = Type.Object(
  { ...Scope, ...Options },
  { additionalProperties: false, examples: [{ question: EXAMPLE.question, documentIds: [EXAMPLE.documentId] }] },
);

const { question: _q, ...ScopeWithoutQuestion } = Scope;
const BatchBody = Type.Object(
  {
    questions: Type.Array(
      Type.Union([
        Type.String({ maxLength: 100_000 }),
        Type.Object(
          {
            id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
            question: Type.String({ maxLength: 100_000 }),
          },
          { additionalProperties: false },
        ),
      ]),
      { minItems: 1, description: 'Questions over the same scope: strings, or {id, question}.' },
    ),
    ...ScopeWithoutQuestion,
    ...Options,
  },
  {
    additionalProperties: false,
    examples: [{ questions: [EXAMPLE.question, 'What colour are his eyes?'], documentIds: [EXAMPLE.documentId] }],
  },
);

type Common = Omit<Static<typeof QueryBody>, 'question'>;

/** Checks and resolves everything but the question: bad input is a 4xx before any work. */
function common(body: Common, cfg: Config) {
  const strategy = (body.strategy ?? 'auto') as RequestedStrategy;
  if (strategy !== 'auto' && !isStrategyName(strategy))
    throw new AppError('UNKNOWN_STRATEGY', [JSON.stringify(body.strategy)]);
  const selection = selectionFrom(body, cfg);
  validateSelectionMethod(selection);
  const budgets = body.budgets ?? {};
  validateBudgets(budgets);
  validateEscalation(body);
  return {
    strategy,
    selection,
    budgets,
    score: body.score ?? cfg.RETRIEVAL_SCORE,
    hybridAlpha: body.hybridAlpha ?? DEFAULTS.hybridAlpha,
    documentIds: body.documentIds ?? null,
  };
}

const routes: FastifyPluginAsync = async (app) => {
  const cfg = app.container.config;
  const service = app.container.query;

  app.post(
    '/query',
    {
      schema: {
        tags: ['answers'],
        summary: 'Answer a question, deciding how much the LLM must read — and why',
        description:
          'With strategy auto (default) the router reads the Adaptive-k score curve of the question: evidence concentrated in a few chunks is answered by retrieval; ' +
          'diffuse evidence (no clear gap, many chunks, a comparison or aggregation in the question) by full context when the documents fit the window, else by Chain-of-Agents. ' +
          'Budgets exclude strategies whose estimated cost exceeds them. With a generative reader the retrieval probe (default) answers from retrieval first and keeps an answer that declines or is short, else reads the whole text; ' +
          'with Self-Route instead, a retrieval answer the model declines (UNANSWERABLE) is escalated to the whole text. ' +
          'The response is the answer (as POST /v1/answer) plus `decision`: strategy, reasons in words, signals, cues, the estimated cost of each alternative, and both attempts when escalated. ' +
          'With `Accept: text/event-stream`: a `decision` event, then `progress`, `token`, `call` (and `escalate`), then `result` or `error`.',
        body: QueryBody,
        response: {
          200: QueryResult,
          400: Type.Ref('ErrorBody'),
          404: Type.Ref('ErrorBody'),
          409: Type.Ref('ErrorBody'),
          422: Type.Ref('ErrorBody'),
        },
      },
      ...plainJson,
    },
    async (req, reply) => {
      const body = req.body as Static<typeof QueryBody>;
      const question = checkQuestion(body.question, cfg);
      const c = common(body, cfg);
      // Unknown or unready documents are a 404/409 JSON reply, also for stream requests; so is a bad choice of LLM.
      const documents = await app.container.retrieval.resolveScope(req.namespace, c.documentIds);
      const chosen = service.chooseLlm(body.llm);

      const input: QueryInput = {
        namespace: req.namespace,
        question,
        ...c,
        documents,
        llm: chosen.llm,
        ...(body.selfRoute !== undefined ? { selfRoute: body.selfRoute } : {}),
        ...(body.probe !== undefined ? { probe: body.probe } : {}),
        ...(body.preference !== undefined ? { preference: body.preference } : {}),
        signal: abortOnClientClose(reply),
        log: req.log,
      };
      try {
        if (!wantsEventStream(req)) return await service.query(input);
        return await streamResult(req, reply, { what: 'query', bodyLimit: cfg.BODY_LIMIT_BYTES }, (sse) =>
          service.query({ ...input, onEvent: (e) => sse.send(e.type, eventData(e)) }),
        );
      } finally {
        await chosen.release();
      }
    },
  );

  app.post(
    '/query/batch',
    {
      schema: {
        tags: ['answers'],
        summary: 'Answer many questions over the same scope',
        description:
          `Up to ROUTER_INLINE_BATCH (${cfg.ROUTER_INLINE_BATCH}) questions are answered inline: 200 with one item per question (its result, or its error). ` +
          `Larger batches (up to ROUTER_MAX_BATCH, ${cfg.ROUTER_MAX_BATCH}) run as a background job: 202 with the job id; poll GET /v1/jobs/:id (progress per question, the items in result).`,
        body: BatchBody,
        response: {
          200: BatchResult,
          202: Type.Object(
            { jobId: Type.String(), state: Type.String(), questions: Type.Integer() },
            { description: 'A background job answers the batch.' },
          ),
          400: Type.Ref('ErrorBody'),
          404: Type.Ref('ErrorBody'),
          409: Type.Ref('ErrorBody'),
        },
      },
      ...plainJson,
    },
    async (req, reply) => {
      const body = req.body as Static<typeof BatchBody>;
      if (body.questions.length > cfg.ROUTER_MAX_BATCH) {
        throw new AppError('VALIDATION', [
          `the batch holds ${body.questions.length} questions, more than the limit of ${cfg.ROUTER_MAX_BATCH}`,
        ]);
      }
      const questions = normaliseQuestions(body.questions);
      for (const q of questions) {
        // Same checks as a single question, naming the one that failed.
        if (isBlank(q.question)) throw new AppError('EMPTY_QUESTION', [], { details: { questionId: q.id } });
        if (q.question.length > cfg.MAX_QUESTION_CHARS) {
          throw new AppError('QUESTION_TOO_LONG', [q.question.length, cfg.MAX_QUESTION_CHARS], {
            details: { questionId: q.id },
          });
        }
      }
      const c = common(body, cfg);
      await app.container.retrieval.resolveScope(req.namespace, c.documentIds);
      // Validate the choice of LLM now, not in the job.
      await service.chooseLlm(body.llm).release();
      const data: QueryBatchJobData = {
        namespace: req.namespace,
        questions,
        ...c,
        llm: body.llm ?? null,
        selfRoute: body.selfRoute ?? null,
        probe: body.probe ?? null,
        preference: body.preference ?? null,
      };

      if (questions.length <= cfg.ROUTER_INLINE_BATCH) {
        return { jobId: null, ...(await runBatch(service, data, { signal: abortOnClientClose(reply) })) };
      }
      const job = await app.container.queue.enqueue(QUERY_BATCH_JOB, data, {
        jobId: batchJobId(),
        attempts: cfg.ROUTER_BATCH_ATTEMPTS,
      });
      return reply.status(202).send({ jobId: job.id, state: job.state, questions: questions.length });
    },
  );
};

function eventData(e: QueryEvent): unknown {
  switch (e.type) {
    case 'decision':
      return e.decision;
    case 'token':
      return { text: e.text };
    case 'call':
      return e.call;
    default:
      return e;
  }
}

export default routes;
