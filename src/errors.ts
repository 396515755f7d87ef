/**
 * The one catalogue of errors the service can return. Codes are stable API:
 * clients match on them, so never rename one; add new ones instead.
 * Shape follows fastify's lib/errors.js: code, HTTP status, message template.
 */
export const ErrorCatalogue = {
  // Request validation
  VALIDATION: { status: 400, message: 'The request is invalid: %s' },
  MALFORMED_JSON: { status: 400, message: 'The request body is not valid JSON: %s' },
  INVALID_UTF8: { status: 400, message: 'The text is not valid UTF-8' },
  EMPTY_TEXT: { status: 400, message: 'The document text is empty or only whitespace' },
  EMPTY_QUESTION: { status: 400, message: 'The question is empty or only whitespace' },
  INVALID_METADATA: { status: 400, message: 'The metadata is not accepted: %s' },
  UNSUPPORTED_FILE_TYPE: { status: 415, message: 'Unsupported file type %s: upload .txt, .md or .html' },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    message: 'Unsupported content type %s: send application/json or multipart/form-data',
  },
  BODY_TOO_LARGE: { status: 413, message: 'The request body exceeds the limit of %s bytes' },
  DOCUMENT_TOO_LARGE: { status: 413, message: 'The document has %s tokens, more than the limit of %s' },
  TEXT_TOO_COMPLEX: {
    status: 422,
    message: 'The text could not be tokenized within %s ms: send it as smaller documents',
  },
  QUESTION_TOO_LONG: { status: 400, message: 'The question has %s characters, more than the limit of %s' },
  NO_SEARCH_TERMS: {
    status: 422,
    message:
      'The question has no word to find documents by (every word of it is a stopword): ask with the words the documents hold, or name the documents with documentIds',
  },
  INVALID_ID: {
    status: 400,
    message: 'Invalid id %s: use 1–128 characters from A–Z a–z 0–9 . _ - : (not starting with . or -)',
  },
  INVALID_PARAMETER: { status: 400, message: '%s' },
  BUDGET_TOO_SMALL: { status: 400, message: '%s' },
  UNKNOWN_STRATEGY: { status: 400, message: 'Unknown strategy %s' },
  UNKNOWN_MODEL: { status: 404, message: 'The model %s does not exist: use one of %s (GET /v1/models)' },

  // Lookups
  NOT_FOUND: { status: 404, message: 'Route %s not found' },
  DOCUMENT_NOT_FOUND: { status: 404, message: 'Document %s not found' },
  DOCUMENTS_NOT_FOUND: { status: 404, message: 'Documents not found: %s' },
  DOCUMENT_NOT_READY: { status: 409, message: 'Documents not ready yet: %s' },
  NO_DOCUMENTS: { status: 404, message: 'The namespace %s holds no ready documents' },
  JOB_NOT_FOUND: { status: 404, message: 'Job %s not found' },
  NAMESPACE_NOT_FOUND: { status: 404, message: 'Namespace %s not found' },
  KEY_NOT_FOUND: { status: 404, message: 'API key %s not found' },

  // Access and limits
  UNAUTHORIZED: { status: 401, message: 'Missing or invalid API key' },
  FORBIDDEN: { status: 403, message: '%s' },
  RATE_LIMITED: { status: 429, message: 'Too many requests: retry after %s seconds' },
  OVERLOADED: { status: 503, message: 'Too many concurrent %s: retry shortly' },

  // Upstreams
  LLM_UNAVAILABLE: { status: 502, message: 'The LLM endpoint is unreachable: %s' },
  LLM_BAD_RESPONSE: { status: 502, message: 'The LLM endpoint returned a malformed response: %s' },
  LLM_TIMEOUT: { status: 504, message: 'The LLM endpoint did not answer within %s ms' },
  LLM_RATE_LIMITED: { status: 503, message: 'The LLM endpoint is rate limiting: %s' },
  LLM_CONTEXT_OVERFLOW: { status: 400, message: '%s' },
  LLM_REJECTED: { status: 502, message: 'The LLM endpoint rejected the request: %s' },
  EMBEDDER_UNAVAILABLE: { status: 502, message: 'The embedding model is unavailable: %s' },
  EMBEDDER_BAD_RESPONSE: { status: 502, message: 'The embedding endpoint returned a malformed response: %s' },
  VECTOR_STORE_UNAVAILABLE: { status: 503, message: 'The vector store is unavailable: %s' },
  VECTOR_STORE_ERROR: { status: 502, message: 'The vector store failed: %s' },
  QUEUE_UNAVAILABLE: { status: 503, message: 'The job queue is unavailable: %s' },
  KEY_STORE_UNAVAILABLE: { status: 503, message: 'The API key store is unavailable: %s' },
  DATABASE_UNAVAILABLE: { status: 503, message: 'The database is unavailable: %s' },
  DATABASE_ERROR: { status: 500, message: 'The database failed: %s' },
  TOKENIZER_UNAVAILABLE: { status: 503, message: 'The tokenizer thread is unavailable: %s' },
  CANCELLED: { status: 499, message: 'The request was cancelled' },

  // Ingestion failures reported on jobs
  INGEST_FAILED: { status: 500, message: 'Ingestion failed: %s' },

  // Configuration
  CONFIG_INVALID: { status: 500, message: 'Invalid configuration: %s' },
  INTERNAL: { status: 500, message: 'Internal error' },

  // HTTP framing, refused before routing
  BAD_URL: { status: 400, message: 'The URL is not valid: %s' },
  URL_TOO_LONG: { status: 414, message: 'A segment of the URL is longer than %s characters' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large' },
  BAD_REQUEST: { status: 400, message: 'The HTTP request is malformed' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request was not received in time' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ErrorCatalogue;

export interface AppErrorOptions {
  cause?: unknown;
  /** Seconds, sent as the Retry-After header. */
  retryAfter?: number;
  /** Extra machine-readable detail returned to the client. */
  details?: Record<string, unknown>;
  /** True when retrying the same operation may succeed (network blips, 5xx). */
  transient?: boolean;
}

function format(template: string, args: readonly unknown[]): string {
  let i = 0;
  return template.replace(/%s/g, () => String(args[i++] ?? ''));
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly retryAfter: number | undefined;
  readonly details: Record<string, unknown> | undefined;
  readonly transient: boolean;

  constructor(code: ErrorCode, args: readonly unknown[] = [], opts: AppErrorOptions = {}) {
    const entry = ErrorCatalogue[code];
    super(format(entry.message, args), opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AppError';
    this.code = code;
    this.statusCode = entry.status;
    this.retryAfter = opts.retryAfter;
    this.details = opts.details;
    this.transient = opts.transient ?? false;
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

/** Shorthand: `appError('DOCUMENT_NOT_FOUND', id)`. */
export function appError(code: ErrorCode, ...args: unknown[]): AppError {
  return new AppError(code, args);
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

/**
 * CANCELLED, transient: the caller gave up (a shutdown stopping a job), nothing
 * was wrong with the work, so a queue runs it again instead of failing it for
 * good. For work that stops on its own signal (tokenizer threads, embedders).
 */
export function cancelledBy(signal: AbortSignal): AppError {
  return new AppError('CANCELLED', [], { cause: signal.reason, transient: true });
}
