import { AppError } from '../errors.js';

/** The charset a JSON body declares, lower-cased; undefined when none is given. */
export function declaredCharset(contentType: string | undefined): string | undefined {
  const m = /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(contentType ?? '');
  return m ? m[1]!.toLowerCase() : undefined;
}

/** JSON is UTF-8 (RFC 8259): a body that says it is in another charset is refused rather than misread. */
export function assertUtf8Charset(contentType: string | undefined): void {
  const charset = declaredCharset(contentType);
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', [
      `application/json; charset=${charset.slice(0, 40)} (JSON must be UTF-8)`,
    ]);
  }
}

const wellFormed = (s: string): boolean => (s as string & { isWellFormed(): boolean }).isWellFormed();

/**
 * Refuses what JSON.parse accepts but the service cannot keep: strings with a
 * lone surrogate (`"\ud800"`: not text, and not encodable as UTF-8, so it is
 * refused like raw invalid UTF-8 is) and numbers out of range (`1e999` parses
 * to Infinity, which JSON writes back as null). The walk is iterative: a body
 * nested thousands deep cannot overflow it.
 */
export function assertStorableJson(value: unknown): void {
  const stack: Array<[unknown, string]> = [[value, 'body']];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      if (!wellFormed(v))
        throw new AppError('INVALID_UTF8', [], {
          details: { field: path, reason: 'a lone UTF-16 surrogate escape (\\ud800–\\udfff) is not text' },
        });
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new AppError('VALIDATION', [`${path} is a number out of range`]);
    } else if (v !== null && typeof v === 'object') {
      const array = Array.isArray(v);
      for (const [k, x] of Object.entries(v)) {
        if (!array && !wellFormed(k))
          throw new AppError('INVALID_UTF8', [], {
            details: { field: path, reason: 'a key holds a lone UTF-16 surrogate escape' },
          });
        stack.push([x, array ? `${path}[${k}]` : `${path}.${k.slice(0, 60)}`]);
      }
    }
  }
}
