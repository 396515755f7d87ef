import { AppError } from '../../errors.js';

/** Where a page of documents ends: the last record's createdAt and id, the catalogue's sort key. */
export interface CursorKey {
  c: string;
  i: string;
}

/** An opaque cursor for {@link CursorKey}. */
export function encodeCursor(k: CursorKey): string {
  return Buffer.from(JSON.stringify(k), 'utf8').toString('base64url');
}

/** The key of a cursor made by {@link encodeCursor}; anything else is a 400 INVALID_PARAMETER. */
export function decodeCursor(cursor: string): CursorKey {
  try {
    const k = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Partial<CursorKey>;
    if (typeof k.c === 'string' && typeof k.i === 'string') return { c: k.c, i: k.i };
  } catch {
    // fall through
  }
  throw new AppError('INVALID_PARAMETER', [`Invalid cursor ${JSON.stringify(cursor.slice(0, 60))}`]);
}
