/**
 * A character a reader can see: anything but whitespace, control characters
 * (NUL and the C0/C1 ranges) and format characters (zero-width space and
 * joiners, the byte-order mark, soft hyphens, bidi marks).
 */
const VISIBLE = /[^\s\p{Cc}\p{Cf}]/u;

/**
 * True when `text` holds nothing to read: a document or question made of
 * NULs or zero-width characters is as empty as one of spaces, and indexing
 * or answering it only pretends to work.
 */
export function isBlank(text: string): boolean {
  return !VISIBLE.test(text);
}
