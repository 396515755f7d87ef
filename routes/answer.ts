import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { AppError } from '../src/errors.js';
import { abortOnClientClose } from '../src/http/cancel.js';
import { streamResult, wantsEventStream } from '../src/http/sse.js';
import { DEFAULTS } from '../src/core/retrieval/defaults.js';
import { validateSelectionMethod } from '../src/core/retrieval/select.js';
import type { AnswerInput } from '../src/core/strategies/answer-service.js';
import { isStrategyName, STRATEGIES, type AnswerEvent } from '../src/core/strategies/types.js';
import { AnswerResult, EXAMPLE, plainJson } from '../src/http/views.js';
import { checkQuestion, Scope, SelectionParams, selectionFrom } from './retrieve.js';

const AnswerBody = Type.Object(
  {
    ...Scope,
    // A plain string, so an unknown strategy gets its own code (UNKNOWN_STRATEGY) rather than a schema message.
    strategy: Type.String({
      description: `How to read: ${STRATEGIES.join(', ')} (retrieval with Adaptive-k, Chain-of-Agents, full context).`,
      examples: ['rag'],
    }),
    ...SelectionParams,
  },
  {
    additionalProperties: false,
    examples: [{ question: EXAMPLE.question, documentIds: [EXAMPLE.documentId], strategy: 'rag' }],
  },
);

const routes: FastifyPluginAsync = async (app) => {
  const cfg = app.container.config;
  app.post(
    '/answer',
    {
      schema: {
        tags: ['answers'],
        summary: 'Answer a question by one reading strategy',
        description:
          'Reads the documents in scope by retrieval (`rag`: the Adaptive-k passages in document order), Chain-of-Agents (`coa`: workers read segments in turn and pass notes, a manager answers) ' +
          'or full context (`full`: the whole text, middle-truncated when it does not fit). Returns the answer with citations, every LLM call and its tokens, and what the full-context prompt would have cost. ' +
          'With `Accept: text/event-stream` the answer streams as Server-Sent Events: `progress`, `token`, `call`, then `result` (the same body as the JSON response) or `error`.',
        body: AnswerBody,
        response: {
          200: AnswerResult,
          400: Type.Ref('ErrorBody'),
          404: Type.Ref('ErrorBody'),
          409: Type.Ref('ErrorBody'),
          422: Type.Ref('ErrorBody'),
        },
      },
      ...plainJson,
    },
    async (req, reply) => {
      const body = req.body as Static<typeof AnswerBody>;
      if (!isStrategyName(body.strategy)) throw new AppError('UNKNOWN_STRATEGY', [JSON.stringify(body.strategy)]);
      const question = checkQuestion(body.question, cfg);
      const selection = selectionFrom(body, cfg);
      validateSelectionMethod(selection);
      const documentIds = body.documentIds ?? null;
      // Unknown or unready documents are a 404/409 JSON reply, also for stream requests.
      const documents = await app.container.retrieval.resolveScope(req.namespace, documentIds);

      const input: AnswerInput = {
        namespace: req.namespace,
        question,
        documentIds,
        documents,
        strategy: body.strategy,
        selection,
        score: body.score ?? cfg.RETRIEVAL_SCORE,
        hybridAlpha: body.hybridAlpha ?? DEFAULTS.hybridAlpha,
        signal: abortOnClientClose(reply),
        log: req.log,
      };
      if (!wantsEventStream(req)) return app.container.answers.answer(input);
      return streamResult(req, reply, { what: 'answer', bodyLimit: cfg.BODY_LIMIT_BYTES }, (sse) =>
        app.container.answers.answer({ ...input, onEvent: (e) => sse.send(e.type, eventData(e)) }),
      );
    },
  );
};

function eventData(e: AnswerEvent): unknown {
  switch (e.type) {
    case 'progress':
      return e;
    case 'token':
      return { text: e.text };
    case 'call':
      return e.call;
  }
}

export default routes;
