import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { AppError } from '../src/errors.js';
import { Id } from '../src/http/schemas.js';
import { newKey, requireAdmin } from '../src/http/auth.js';
import { authEnabled } from '../src/config.js';

const KeyView = Type.Object({
  id: Type.String(),
  namespace: Type.String(),
  name: Type.String(),
  createdAt: Type.String(),
});

/** Namespaces and API keys; admin key only (when auth is off, anyone local may manage them). */
const routes: FastifyPluginAsync = async (app) => {
  const enabled = authEnabled(app.container.config);
  const keys = app.container.keys;
  app.addHook('onRequest', async (req) => requireAdmin(req, enabled));

  app.post(
    '/admin/keys',
    {
      schema: {
        tags: ['admin'],
        summary: 'Create an API key for a namespace (the secret is returned once)',
        body: Type.Object(
          { namespace: Id, name: Type.Optional(Type.String({ maxLength: 200 })) },
          { additionalProperties: false, examples: [{ namespace: 'team-a', name: 'alice' }] },
        ),
        response: { 201: Type.Object({ key: Type.String(), record: KeyView }) },
      },
    },
    async (req, reply) => {
      const body = req.body as { namespace: string; name?: string };
      const { secret, record } = newKey(body.namespace, body.name ?? '');
      await keys.add(record);
      const { hash: _h, ...view } = record;
      return reply.status(201).send({ key: secret, record: view });
    },
  );

  app.get(
    '/admin/keys',
    {
      schema: {
        tags: ['admin'],
        summary: 'List API keys (never their secrets)',
        querystring: Type.Object({ namespace: Type.Optional(Id) }),
        response: { 200: Type.Object({ items: Type.Array(KeyView) }) },
      },
    },
    async (req) => {
      const { namespace } = req.query as { namespace?: string };
      return { items: (await keys.list(namespace)).map(({ hash: _h, ...v }) => v) };
    },
  );

  app.delete(
    '/admin/keys/:id',
    {
      schema: {
        tags: ['admin'],
        summary: 'Revoke an API key',
        params: Type.Object({ id: Type.String({ maxLength: 100 }) }),
        response: { 204: Type.Null({ description: 'Revoked.' }), 404: Type.Ref('ErrorBody') },
      },
    },
    async (req, reply) => {
      const { id } = req.params as { id: string };
      if (!(await keys.remove(id))) throw new AppError('KEY_NOT_FOUND', [id]);
      return reply.status(204).send();
    },
  );

  app.get(
    '/admin/namespaces',
    {
      schema: {
        tags: ['admin'],
        summary: 'Namespaces with their document and key counts',
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({ namespace: Type.String(), documents: Type.Integer(), keys: Type.Integer() }),
            ),
          }),
        },
      },
    },
    async () => {
      const all = await keys.list();
      const names = new Set([...(await app.container.documents.namespaces()), ...all.map((k) => k.namespace)]);
      const items = await Promise.all(
        [...names].sort().map(async (ns) => ({
          namespace: ns,
          documents: (await app.container.documents.list(ns, { limit: 1 })).total,
          keys: all.filter((k) => k.namespace === ns).length,
        })),
      );
      return { items };
    },
  );
};

export default routes;
