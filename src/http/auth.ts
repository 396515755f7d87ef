import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiKeyRecord, KeyStore } from '../ports/key-store.js';
import { AppError } from '../errors.js';
import { assertValidId } from '../core/ids.js';
import { FailedAuthentications } from './auth-failures.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling: the admin, a tenant key, or nobody (auth off). */
    principal: { kind: 'admin' } | { kind: 'key'; key: ApiKeyRecord } | { kind: 'anonymous' };
  }
}

export function hashKey(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** A new key: the secret is shown once; only its hash is stored. */
export function newKey(namespace: string, name: string): { secret: string; record: ApiKeyRecord } {
  const secret = `air_${randomBytes(24).toString('base64url')}`;
  return {
    secret,
    record: {
      id: `key_${randomBytes(8).toString('hex')}`,
      hash: hashKey(secret),
      namespace,
      name,
      createdAt: new Date().toISOString(),
    },
  };
}

function presented(req: FastifyRequest): string | null {
  const h = req.headers['x-api-key'];
  if (typeof h === 'string' && h !== '') return h;
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && /^Bearer\s+\S+/i.test(auth)) return auth.replace(/^Bearer\s+/i, '').trim();
  return null;
}

/** Routes anyone may call: probes, the API description and the playground's static files. */
const PUBLIC = [/^\/healthz$/, /^\/readyz$/, /^\/openapi\.json$/, /^\/docs(\/|$)/, /^\/playground(\/|$)/];

/**
 * API keys mapped to namespaces. A tenant key acts only in its namespace: a
 * request naming another namespace gets 404, as if it did not exist, so
 * nothing leaks about other tenants. The admin key may act in any namespace
 * (x-namespace) and manages keys.
 */
export function installAuth(
  app: FastifyInstance,
  opts: { enabled: boolean; adminKey: string; keys: KeyStore; failuresPerMinute?: number },
): void {
  const adminHash = Buffer.from(hashKey(opts.adminKey || randomBytes(32).toString('hex')), 'hex');
  const failures = new FailedAuthentications(opts.failuresPerMinute ?? 0);
  /** 429 for an address past its failed attempts: before the key lookup it would cost. */
  const refuseIfBlocked = (ip: string): void => {
    const wait = failures.retryAfter(ip);
    if (wait > 0)
      throw new AppError('RATE_LIMITED', [wait], {
        retryAfter: wait,
        details: { reason: 'too many failed authentications from this address' },
      });
  };
  const unauthorized = (ip: string): AppError => {
    failures.record(ip);
    return new AppError('UNAUTHORIZED');
  };
  app.decorateRequest('principal', null as never);
  app.addHook('onRequest', async (req) => {
    req.principal = { kind: 'anonymous' };
    const path = req.url.split('?')[0]!;
    if (!opts.enabled) return;
    if (PUBLIC.some((re) => re.test(path))) return;
    const secret = presented(req);
    if (!secret) {
      refuseIfBlocked(req.ip);
      throw unauthorized(req.ip);
    }
    const h = Buffer.from(hashKey(secret), 'hex');
    if (opts.adminKey && timingSafeEqual(h, adminHash)) {
      req.principal = { kind: 'admin' };
      return;
    }
    refuseIfBlocked(req.ip);
    const key = await opts.keys.findByHash(h.toString('hex'));
    if (!key) throw unauthorized(req.ip);
    req.principal = { kind: 'key', key };
    const asked = req.headers['x-namespace'];
    if (typeof asked === 'string' && asked !== '' && asked !== key.namespace)
      throw new AppError('NAMESPACE_NOT_FOUND', [asked]);
    req.namespace = key.namespace;
  });
}

export function requireAdmin(req: FastifyRequest, enabled: boolean): void {
  if (enabled && req.principal.kind !== 'admin') throw new AppError('FORBIDDEN', ['this route needs the admin key']);
}

export function validNamespace(ns: string): string {
  assertValidId(ns, 'namespace');
  return ns;
}
