/** One log call: the fields first, then the message (pino's order). */
export type LogFn = (fields: object, message?: string) => void;

/**
 * What core needs of a logger: pino's (the service's) and fastify's
 * `req.log` (a pino child bound to the request id) both are one. Core
 * services log through the logger of the call when it brings one, so every
 * line of a request carries the request's id.
 */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(bindings: Record<string, unknown>): Logger;
}
