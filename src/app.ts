import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import cors from '@fastify/cors';
import { Redis } from 'ioredis';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { Container } from './container.js';
import { AppError } from './errors.js';
import { installErrorHandling } from './http/errors.js';
import { DocumentView, ErrorBody, JobView, OpenAiErrorBody } from './http/schemas.js';
import { assertValidId } from './core/ids.js';
import healthRoutes from '../routes/health.js';
import documentRoutes from '../routes/documents.js';
import jobRoutes from '../routes/jobs.js';
import retrieveRoutes from '../routes/retrieve.js';
import queryRoutes from '../routes/query.js';
import answerRoutes from '../routes/answer.js';
import playgroundRoutes from '../routes/playground.js';
import adminRoutes from '../routes/admin.js';
import openaiRoutes from '../routes/openai.js';
import mcpRoutes from '../routes/mcp.js';
import metricsRoutes from '../routes/metrics.js';
import { installAuth } from './http/auth.js';
import { decodeUtf8 } from './http/utf8.js';
import { assertStorableJson, assertUtf8Charset } from './http/json-body.js';
import { authEnabled, type Config, corsOrigins } from './config.js';

declare module 'fastify' {
  interface FastifyInstance {
    container: Container;
  }
  interface FastifyRequest {
    /** The tenant this request acts in. */
    namespace: string;
  }
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

function newAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({
    coerceTypes: coerce ? 'array' : false,
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
    strict: false,
  });
  addFormats(ajv);
  return ajv;
}

const MAX_PARAM_LENGTH = 1024;

/**
 * Requests Node's HTTP parser refuses (oversized headers, broken framing)
 * never reach fastify: answer them in the service's error format, as
 * fastify's default handler does in its own.
 */
function clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const e =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? new AppError('HEADERS_TOO_LARGE')
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new AppError('REQUEST_TIMEOUT')
        : new AppError('BAD_REQUEST');
  const body = JSON.stringify({ error: e.toJSON() });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${e.statusCode} ${STATUS_CODES[e.statusCode] ?? 'Error'}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

/** How often connections that fell idle are closed while the server closes. */
const CLOSING_SWEEP_MS = 100;

/**
 * `forceCloseConnections: 'idle'` closes the keep-alive connections idle when
 * close() starts; a request still in flight then leaves its connection open
 * and idle once answered, and Node's server.close() waits for it until
 * keepAliveTimeout (72 s in fastify), far past any shutdown deadline. So
 * while closing, every reply says `Connection: close` (the client will not
 * reuse it, and Node ends it after the reply), and connections that still
 * fall idle (event streams, replies already on their way) are swept.
 */
function closeKeptAliveConnectionsOnClose(app: FastifyInstance): void {
  let sweeper: NodeJS.Timeout | undefined;
  app.addHook('preClose', async () => {
    sweeper ??= setInterval(() => app.server.closeIdleConnections(), CLOSING_SWEEP_MS);
    sweeper.unref();
  });
  app.addHook('onSend', async (_req, reply, payload) => {
    if (sweeper) reply.header('connection', 'close');
    return payload;
  });
  app.addHook('onClose', async () => clearInterval(sweeper));
}

/**
 * Builds the HTTP app around a container. Listening and signals are the
 * entry point's job (src/server.ts), so tests can `inject` or listen on port 0.
 * The steps run in this order on purpose: hooks run in the order they were
 * added (metrics see every response, CORS answers a preflight before auth,
 * the rate limit counts by the principal auth found).
 */
export async function buildApp(container: Container): Promise<FastifyInstance> {
  const cfg = container.config;
  const app = createFastify(container);
  app.decorate('container', container);
  installValidators(app);
  app.decorateRequest('namespace', 'default');
  installErrorHandling(app, cfg.BODY_LIMIT_BYTES);
  installUtf8JsonParser(app);
  closeKeptAliveConnectionsOnClose(app);
  installRequestMetrics(app, container.metrics);
  // Before auth: a browser's preflight carries no API key. Off unless CORS_ORIGINS names origins.
  const origins = corsOrigins(cfg);
  if (origins)
    await app.register(cors, { origin: origins, exposedHeaders: ['x-request-id', 'retry-after'], maxAge: 600 });
  installRequestContext(app);
  installAuth(app, {
    enabled: authEnabled(cfg),
    adminKey: cfg.ADMIN_API_KEY,
    keys: container.keys,
    failuresPerMinute: cfg.AUTH_FAILURES_PER_MINUTE,
  });
  if (cfg.RATE_LIMIT_PER_MINUTE > 0) await registerRateLimit(app, cfg);
  await app.register(multipart, {
    limits: { fileSize: cfg.BODY_LIMIT_BYTES, files: 1, fields: 10, fieldSize: 64 * 1024, parts: 12 },
    throwFileSizeLimit: true,
  });
  await registerOpenApi(app);
  await registerRoutes(app);
  return app;
}

/** The fastify instance: the container's logger, request ids, limits, and errors before routing in the service's format. */
function createFastify(container: Container): FastifyInstance {
  return Fastify({
    loggerInstance: container.logger as FastifyBaseLogger,
    bodyLimit: container.config.BODY_LIMIT_BYTES,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
    },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Ids may be 128 characters (INVALID_ID past that): the router must not refuse them first.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Errors raised before routing get the same body and stable codes as the rest.
    frameworkErrors: (err, req, reply) => {
      const e =
        err.code === 'FST_ERR_BAD_URL'
          ? new AppError('BAD_URL', [req.url.slice(0, 200)], { cause: err })
          : err.code === 'FST_ERR_MAX_PARAM_LENGTH'
            ? new AppError('URL_TOO_LONG', [MAX_PARAM_LENGTH], { cause: err })
            : new AppError('BAD_REQUEST', [], { cause: err });
      void (reply as unknown as FastifyReply).status(e.statusCode).send({ error: e.toJSON(), requestId: req.id });
    },
    clientErrorHandler: clientError,
  });
}

/**
 * Query strings and params arrive as text and are coerced ("limit=2" → 2);
 * JSON bodies are not: {"text": 42} is a type error, not the string "42".
 */
function installValidators(app: FastifyInstance): void {
  const coercing = newAjv(true);
  const strict = newAjv(false);
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strict : coercing).compile(schema));
}

/** JSON bodies: refuse invalid UTF-8 instead of letting it turn into U+FFFD, and values that cannot be stored. */
function installUtf8JsonParser(app: FastifyInstance): void {
  const defaultJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    try {
      assertUtf8Charset(req.headers['content-type']);
    } catch (err) {
      done(err as Error, undefined);
      return;
    }
    let text: string;
    try {
      text = decodeUtf8(body as Buffer);
    } catch (err) {
      done(err as Error, undefined);
      return;
    }
    defaultJson(req, text, (err, value) => {
      if (err) return done(err, undefined);
      try {
        assertStorableJson(value);
      } catch (e) {
        return done(e as Error, undefined);
      }
      done(null, value);
    });
  });
}

/** Every response, refused ones included, by route pattern (never the raw URL: ids would make a series each). */
function installRequestMetrics(app: FastifyInstance, metrics: Container['metrics']): void {
  app.addHook('onResponse', async (req, reply) => {
    metrics.httpDuration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
}

/** Every reply names its request id; X-Namespace (checked like any id) picks the tenant. */
function installRequestContext(app: FastifyInstance): void {
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    const ns = req.headers['x-namespace'];
    if (typeof ns === 'string' && ns !== '') {
      assertValidId(ns, 'namespace');
      req.namespace = ns;
    }
  });
}

/** RATE_LIMIT_PER_MINUTE per API key (or admin, or client address), counted in Redis when there is one. */
async function registerRateLimit(app: FastifyInstance, cfg: Config): Promise<void> {
  const redis = cfg.REDIS_URL ? await rateLimitRedis(app, cfg) : undefined;
  await app.register(rateLimit, {
    global: true,
    max: cfg.RATE_LIMIT_PER_MINUTE,
    timeWindow: 60_000,
    ...(redis ? { redis, nameSpace: `${cfg.QUEUE_PREFIX}:rate:` } : {}),
    skipOnError: true,
    allowList: (req) => /^\/(healthz|readyz)$/.test(req.url.split('?')[0]!),
    keyGenerator: (req) =>
      req.principal?.kind === 'key'
        ? `key:${req.principal.key.id}`
        : req.principal?.kind === 'admin'
          ? 'admin'
          : `ip:${req.ip}`,
    errorResponseBuilder: (_req, ctx) =>
      new AppError('RATE_LIMITED', [Math.ceil(ctx.ttl / 1000)], { retryAfter: Math.ceil(ctx.ttl / 1000) }),
  });
}

/**
 * The rate limit's Redis connection, so every replica shares the budget of a
 * key; disconnected when the app closes. No offline queue and a command
 * timeout: while Redis is away a count fails at once (skipOnError lets the
 * request through), and a Redis that hangs holds a request at most
 * REDIS_TIMEOUT_MS. With ioredis's defaults every request waited for its
 * reconnects (3.5–10 s with Redis stopped), even requests that need no Redis.
 */
async function rateLimitRedis(app: FastifyInstance, cfg: Config): Promise<Redis> {
  const redis = new Redis(cfg.REDIS_URL, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: cfg.REDIS_TIMEOUT_MS,
    commandTimeout: cfg.REDIS_TIMEOUT_MS,
  });
  // The listener keeps ioredis from reporting each reconnect as unhandled.
  redis.on('error', (err: Error) => app.log.debug({ err }, 'rate-limit Redis unavailable'));
  app.addHook('onClose', async () => redis.disconnect());
  // Without an offline queue, counts sent before the first connection would be skipped: let it connect before
  // the app serves, for at most REDIS_TIMEOUT_MS (a Redis down at start is then skipped like one that goes away).
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, cfg.REDIS_TIMEOUT_MS);
    function done(): void {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    }
    redis.once('ready', done);
  });
  return redis;
}

/** The OpenAPI document (GET /openapi.json), its shared schemas, and the explorer at /docs. */
async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'adaptive-reader',
        version: '0.1.0',
        description:
          'Answers questions about long documents and decides, per question, how much of the document an LLM must read (Adaptive-k routing between retrieval, Chain-of-Agents and full context).',
      },
      // The order of /docs: ingest, ask, see why; then the integrations; then operations.
      tags: [
        {
          name: 'documents',
          description: 'Ingest, list, inspect and delete documents (start here: the examples use the document tm)',
        },
        { name: 'answers', description: 'Answer questions: the router (query) or one strategy (answer)' },
        { name: 'retrieval', description: 'Adaptive-k passage selection' },
        { name: 'openai', description: 'OpenAI-compatible chat completions and models' },
        { name: 'mcp', description: 'Model Context Protocol server' },
        { name: 'jobs', description: 'Background jobs' },
        { name: 'admin', description: 'Namespaces and API keys (admin key)' },
        { name: 'health', description: 'Liveness, readiness and metrics' },
      ],
      components: {
        securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } },
      },
      security: [{ apiKey: [] }],
    },
  });
  app.addSchema(ErrorBody);
  app.addSchema(DocumentView);
  app.addSchema(JobView);
  app.addSchema(OpenAiErrorBody);
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}

/** The routes, one plugin each; the API under /v1. */
async function registerRoutes(app: FastifyInstance): Promise<void> {
  await app.register(healthRoutes);
  await app.register(documentRoutes, { prefix: '/v1' });
  await app.register(jobRoutes, { prefix: '/v1' });
  await app.register(retrieveRoutes, { prefix: '/v1' });
  await app.register(queryRoutes, { prefix: '/v1' });
  await app.register(answerRoutes, { prefix: '/v1' });
  await app.register(playgroundRoutes);
  await app.register(adminRoutes, { prefix: '/v1' });
  await app.register(openaiRoutes, { prefix: '/v1' });
  await app.register(mcpRoutes);
  await app.register(metricsRoutes);
}
