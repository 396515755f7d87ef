import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { AppError } from '../src/errors.js';
import { toAppError } from '../src/http/errors.js';
import { openSse, wantsEventStream } from '../src/http/sse.js';
import { DEFAULTS, type ScoreKind } from '../src/core/retrieval/defaults.js';
import { validateSelectionMethod } from '../src/core/retrieval/select.js';
import type { AnswerInput } from '../src/core/strategies/answer-service.js';
import { isStrategyName, STRATEGIES, type AnswerEvent } from '../src/core/strategies/types.js';
import { checkQuestion, Scope, SelectionParams, selectionFrom } from './retrieve.js';

const AnswerBody = Type.Object(
  {
    ...Scope,
    // A plain string, so an unknown strategy gets its own code (UNKNOWN_STRATEGY) rather than a schema message.
    strategy: Type.String({ description: `How to read: ${STRATEGIES.join(', ')} (retrieval with Adaptive-k, Chain-of-Agents, full context).`, examples: ['rag'] }),
    ...SelectionParams,
  },
  { additionalProperties: false },
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
        response: { 400: Type.Ref('ErrorBody'), 404: Type.Ref('ErrorBody'), 409: Type.Ref('ErrorBody') },
      },
    },
    async (req, reply) => {
      const body = req.body as Static<typeof AnswerBody>;
      if (!isStrategyName(body.strategy)) throw new AppError('UNKNOWN_STRATEGY', [JSON.stringify(body.strategy)]);
      const question = checkQuestion(body.question, cfg);
      const selection = selectionFrom(body, cfg);
      validateSelectionMethod(selection);
      const documentIds = body.documentIds ?? null;
      // Unknown or unready documents are a 404/409 JSON reply, also for stream requests.
      await app.container.retrieval.resolveScope(req.namespace, documentIds);

      // Work for a client that left is wasted: abort retrieval and the LLM calls.
      const abort = new AbortController();
      reply.raw.on('close', () => {
        if (!reply.raw.writableEnded) abort.abort(new AppError('CANCELLED'));
      });
      const input: AnswerInput = {
        namespace: req.namespace,
        question,
        documentIds,
        strategy: body.strategy,
        selection,
        score: body.score ?? (cfg.RETRIEVAL_SCORE as ScoreKind),
        hybridAlpha: body.hybridAlpha ?? DEFAULTS.hybridAlpha,
        signal: abort.signal,
      };
      if (!wantsEventStream(req)) return app.container.answers.answer(input);

      const sse = openSse(req, reply);
      try {
        const result = await app.container.answers.answer({ ...input, onEvent: (e) => sse.send(e.type, eventData(e)) });
        sse.send('result', result);
      } catch (err) {
        const e = toAppError(err, cfg.BODY_LIMIT_BYTES);
        if (e.code === 'CANCELLED') req.log.info('answer cancelled');
        else if (e.statusCode >= 500) req.log.error({ err }, 'answer failed');
        else req.log.info({ code: e.code, msg: e.message }, 'answer rejected');
        sse.send('error', { error: e.toJSON(), requestId: req.id });
      } finally {
        sse.end();
      }
      return reply;
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
