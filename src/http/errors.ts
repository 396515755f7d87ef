import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, isAppError, type ErrorCode } from '../errors.js';

/** fastify's own error codes, translated to ours (lib/errors.js in fastify). */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION',
  FST_REQ_FILE_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_PARTS_LIMIT: 'VALIDATION',
  FST_FILES_LIMIT: 'VALIDATION',
  FST_FIELDS_LIMIT: 'VALIDATION',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_PROTO_VIOLATION: 'MALFORMED_JSON',
  FST_ERR_VALIDATION: 'VALIDATION',
};

interface AjvError {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: { additionalProperty?: string; missingProperty?: string };
}

/**
 * Ajv's first error as one sentence that names the field: `body.budgets.maxCalls
 * must be integer`, and for the keywords whose message leaves the field out,
 * the field itself (`body must not have the property "foo"`).
 */
export function validationMessage(context: string, errors: readonly AjvError[]): string {
  const first = errors[0];
  if (!first) return context;
  const where = `${context}${(first.instancePath ?? '').replace(/\//g, '.')}`;
  if (first.keyword === 'additionalProperties' && first.params?.additionalProperty !== undefined) {
    return `${where} must not have the property ${JSON.stringify(first.params.additionalProperty.slice(0, 60))}`;
  }
  return `${where} ${first.message ?? 'is invalid'}`;
}

export function toAppError(err: unknown, bodyLimit: number): AppError {
  if (isAppError(err)) return err;
  const e = err as FastifyError & { validation?: unknown[]; validationContext?: string };
  if (e?.validation)
    return new AppError('VALIDATION', [validationMessage(e.validationContext ?? 'body', e.validation as AjvError[])], {
      cause: err,
    });
  const mapped = e?.code ? FASTIFY_CODES[e.code] : undefined;
  if (mapped === 'BODY_TOO_LARGE') return new AppError('BODY_TOO_LARGE', [bodyLimit], { cause: err });
  if (mapped === 'UNSUPPORTED_MEDIA_TYPE')
    return new AppError(
      'UNSUPPORTED_MEDIA_TYPE',
      [String((e as { message?: string }).message ?? '').replace(/^Unsupported Media Type:?\s*/i, '') || 'unknown'],
      { cause: err },
    );
  if (mapped === 'MALFORMED_JSON') return new AppError('MALFORMED_JSON', [e.message], { cause: err });
  if (mapped) return new AppError(mapped, [e.message], { cause: err });
  if (e instanceof SyntaxError) return new AppError('MALFORMED_JSON', [e.message], { cause: err });
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new AppError('VALIDATION', [e.message], { cause: err });
  }
  return new AppError('INTERNAL', [], { cause: err });
}

/**
 * Answers with an error: logged by its severity, Retry-After when it has one,
 * never a stack trace. `shape` builds the body (default: the service's own,
 * `{error: {code, message, details?}, requestId}`).
 */
export function replyWithError(
  err: unknown,
  req: FastifyRequest,
  reply: FastifyReply,
  bodyLimit: number,
  shape: (e: AppError, requestId: string) => unknown = (e, requestId) => ({ error: e.toJSON(), requestId }),
): void {
  const e = toAppError(err, bodyLimit);
  if (e.statusCode >= 500) req.log.error({ err }, 'request failed');
  // Not `msg`: pino writes the message under that key too, and a line with two of them is not valid JSON for every reader.
  else req.log.info({ code: e.code, reason: e.message }, 'request rejected');
  if (e.retryAfter !== undefined) reply.header('retry-after', String(Math.ceil(e.retryAfter)));
  void reply.status(e.statusCode).send(shape(e, req.id));
}

/** The one error handler: stable codes, a request id, never a stack trace. */
export function installErrorHandling(app: FastifyInstance, bodyLimit: number): void {
  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) =>
    replyWithError(err, req, reply, bodyLimit),
  );
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({
      error: new AppError('NOT_FOUND', [`${req.method} ${req.url.split('?')[0]}`]).toJSON(),
      requestId: req.id,
    });
  });
}
