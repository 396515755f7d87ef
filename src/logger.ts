import { pino, type Logger, type DestinationStream } from 'pino';

/** Paths pino blanks in every log line: keys and secrets never reach the logs. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers["x-api-key"]',
  '*.apiKey',
  '*.api_key',
  '*.key',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { service: 'adaptive-reader' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
