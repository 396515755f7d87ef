import { AppError } from '../errors.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes bytes as UTF-8, refusing invalid sequences instead of silently replacing them. */
export function decodeUtf8(buf: Buffer): string {
  try {
    return strictUtf8.decode(buf);
  } catch (err) {
    throw new AppError('INVALID_UTF8', [], { cause: err });
  }
}
