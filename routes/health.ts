import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';

const HEALTH_TIMEOUT_MS = 3000;

function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

const routes: FastifyPluginAsync = async (app) => {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['health'],
        summary: 'The process is alive',
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['health'],
        summary: 'Every backend is reachable (document store, vector store, queue, embedder, LLM)',
        response: {
          200: Type.Object({
            status: Type.String(),
            checks: Type.Record(
              Type.String(),
              Type.Object({ ok: Type.Boolean(), backend: Type.String(), error: Type.Optional(Type.String()) }),
            ),
          }),
          503: Type.Object({
            status: Type.String(),
            checks: Type.Record(
              Type.String(),
              Type.Object({ ok: Type.Boolean(), backend: Type.String(), error: Type.Optional(Type.String()) }),
            ),
          }),
        },
      },
    },
    async (_req, reply) => {
      const c = app.container;
      const probes: Record<string, [string, () => Promise<void>]> = {
        documents: ['file', () => c.documents.health()],
        vectors: [c.vectors.name, () => c.vectors.health()],
        queue: [c.queue.name, () => c.queue.health()],
        embedder: [c.embedder.id, () => c.embedder.health()],
        llm: [`${c.llm.id}:${c.llm.model}`, () => c.llm.health()],
      };
      const entries = await Promise.all(
        Object.entries(probes).map(async ([name, [backend, probe]]) => {
          try {
            await within(probe(), HEALTH_TIMEOUT_MS);
            return [name, { ok: true, backend }] as const;
          } catch (err) {
            return [name, { ok: false, backend, error: err instanceof Error ? err.message : String(err) }] as const;
          }
        }),
      );
      const checks = Object.fromEntries(entries);
      const ok = entries.every(([, v]) => v.ok);
      return reply.status(ok ? 200 : 503).send({ status: ok ? 'ready' : 'unavailable', checks });
    },
  );
};

export default routes;
