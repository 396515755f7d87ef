import { createHash } from 'node:crypto';
import { AppError } from '../errors.js';

/** Ids of documents and namespaces: safe in file names, Redis keys and URLs. */
export const ID_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9._:-]{0,127}$';
const ID_RE = new RegExp(ID_PATTERN);

export function assertValidId(id: string, what = 'id'): void {
  if (!ID_RE.test(id))
    throw new AppError('INVALID_ID', [JSON.stringify(id.slice(0, 140))], { details: { field: what } });
}

export function sha256(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex');
}

/** The version of a text: its content hash. Same text, same version. */
export function contentVersion(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

/** Default document id for content submitted without one: the same content maps to the same id. */
export function contentDocumentId(version: string): string {
  return `doc_${version.slice(0, 20)}`;
}

/** Deterministic, so re-submitting the same content finds the same job. No ':' (BullMQ reserves it). */
export function ingestJobId(namespace: string, documentId: string, version: string): string {
  return `ingest_${sha256(namespace, documentId, version).slice(0, 32)}`;
}

/** Deterministic chunk id: a retried job writes the same ids, so nothing is duplicated. */
export function chunkId(namespace: string, documentId: string, version: string, order: number): string {
  return `${sha256(namespace, documentId, version).slice(0, 24)}-${order}`;
}
