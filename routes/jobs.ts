import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { AppError } from '../src/errors.js';

const routes: FastifyPluginAsync = async (app) => {
  app.get(
    '/jobs/:id',
    {
      schema: {
        tags: ['jobs'],
        summary: 'State, progress (0–100) and error of a background job',
        params: Type.Object({ id: Type.String({ maxLength: 200 }) }),
        response: { 200: Type.Ref('Job'), 404: Type.Ref('ErrorBody') },
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      const job = await app.container.queue.get(id);
      // Another tenant's job is reported as missing, not forbidden: no existence leak.
      const ns = (job?.data as { namespace?: string } | undefined)?.namespace;
      if (!job || ns !== req.namespace) throw new AppError('JOB_NOT_FOUND', [id]);
      return job;
    },
  );
};

export default routes;
