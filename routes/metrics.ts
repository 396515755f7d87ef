import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { requireAdmin } from '../src/http/auth.js';
import { authEnabled } from '../src/config.js';

const routes: FastifyPluginAsync = async (app) => {
  const { metrics, config } = app.container;
  const auth = authEnabled(config);
  app.get(
    '/metrics',
    {
      schema: {
        tags: ['health'],
        summary: 'Prometheus metrics (text exposition format)',
        description:
          "Request latency by route and status, router decisions by strategy, document tokens read against reading whole, LLM calls, tokens and errors, job durations, queue depth, ingestion chunks per second, and the process's own. " +
          'With auth on, scrape with the admin key (Prometheus: authorization credentials).',
        produces: ['text/plain'],
        response: { 200: Type.String({ description: 'Prometheus text format 0.0.4.' }), 403: Type.Ref('ErrorBody') },
      },
    },
    async (req, reply) => {
      requireAdmin(req, auth);
      return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    },
  );
};

export default routes;
