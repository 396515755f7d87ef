import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import multipart from '@fastify/multipart';
import type { Container } from './container.js';
import { AppError } from './errors.js';
import { installErrorHandling } from './http/errors.js';
import { DocumentView, ErrorBody, JobView } from './http/schemas.js';
import { assertValidId } from './core/ids.js';
import healthRoutes from '../routes/health.js';
import documentRoutes from '../routes/documents.js';
import jobRoutes from '../routes/jobs.js';
import retrieveRoutes from '../routes/retrieve.js';
import playgroundRoutes from '../routes/playground.js';

declare module 'fastify' {
  interface FastifyInstance {
    container: Container;
  }
  interface FastifyRequest {
    /** The tenant this request acts in. */
    namespace: string;
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes bytes as UTF-8, refusing invalid sequences instead of silently replacing them. */
export function decodeUtf8(buf: Buffer): string {
  try {
    return strictUtf8.decode(buf);
  } catch (err) {
    throw new AppError('INVALID_UTF8', [], { cause: err });
  }
}

/**
 * Builds the HTTP app around a container. Listening and signals are the
 * entry point's job (src/server.ts), so tests can `inject` or listen on port 0.
 */
export async function buildApp(container: Container): Promise<FastifyInstance> {
  const cfg = container.config;
  const app = Fastify({
    loggerInstance: container.logger as FastifyBaseLogger,
    bodyLimit: cfg.BODY_LIMIT_BYTES,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  app.decorate('container', container);
  app.decorateRequest('namespace', 'default');
  installErrorHandling(app, cfg.BODY_LIMIT_BYTES);

  // JSON bodies: refuse invalid UTF-8 instead of letting it turn into U+FFFD.
  const defaultJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    let text: string;
    try {
      text = decodeUtf8(body as Buffer);
    } catch (err) {
      done(err as Error, undefined);
      return;
    }
    defaultJson(req, text, done);
  });

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    const ns = req.headers['x-namespace'];
    if (typeof ns === 'string' && ns !== '') {
      assertValidId(ns, 'namespace');
      req.namespace = ns;
    }
  });

  await app.register(multipart, {
    limits: { fileSize: cfg.BODY_LIMIT_BYTES, files: 1, fields: 10, fieldSize: 64 * 1024, parts: 12 },
    throwFileSizeLimit: true,
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'adaptive-reader',
        version: '0.1.0',
        description:
          'Answers questions about long documents and decides, per question, how much of the document an LLM must read (Adaptive-k routing between retrieval, Chain-of-Agents and full context).',
      },
      tags: [
        { name: 'documents', description: 'Ingest, list, inspect and delete documents' },
        { name: 'jobs', description: 'Background jobs' },
        { name: 'retrieval', description: 'Adaptive-k passage selection' },
        { name: 'health', description: 'Liveness and readiness' },
      ],
      components: {
        securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } },
      },
    },
  });
  app.addSchema(ErrorBody);
  app.addSchema(DocumentView);
  app.addSchema(JobView);
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(healthRoutes);
  await app.register(documentRoutes, { prefix: '/v1' });
  await app.register(jobRoutes, { prefix: '/v1' });
  await app.register(retrieveRoutes, { prefix: '/v1' });
  await app.register(playgroundRoutes);
  return app;
}
