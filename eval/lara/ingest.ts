import type { Container } from '../../src/container.js';
import { sha256 } from '../../src/core/ids.js';
import type { LaraQuery } from './dataset.js';

/** The namespace LaRA documents are ingested into by the evaluation scripts. */
export const LARA_NAMESPACE = 'lara-dev';

/** A stable, valid document id for a LaRA document (length, type and file name). */
export function laraDocumentId(q: Pick<LaraQuery, 'length' | 'type' | 'file'>): string {
  const base = `${q.length}_${q.type}_${q.file}`.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[^A-Za-z0-9_]+/, '');
  return base.length <= 100 ? base : `${base.slice(0, 80)}_${sha256(base).slice(0, 16)}`;
}

/**
 * Ingests the documents behind `queries` (each once) through the in-process
 * service and waits until every one is ready. Unchanged documents are no-ops,
 * and the embedding cache under DATA_DIR makes repeated runs quick.
 */
export async function ingestLara(
  c: Container,
  queries: readonly LaraQuery[],
  text: (q: LaraQuery) => string,
): Promise<void> {
  const byDoc = new Map<string, LaraQuery>();
  for (const q of queries) byDoc.set(laraDocumentId(q), q);
  const started = Date.now();
  let i = 0;
  for (const [id, q] of byDoc) {
    const r = await c.documentService.submit({
      namespace: LARA_NAMESPACE,
      id,
      title: q.file,
      text: text(q),
      source: 'lara',
    });
    i++;
    if (!r.unchanged) console.error(`[${i}/${byDoc.size}] submitted ${id}`);
  }
  for (const [id] of byDoc) {
    for (;;) {
      const d = await c.documents.get(LARA_NAMESPACE, id);
      if (d?.status === 'failed') throw new Error(`ingestion of ${id} failed: ${JSON.stringify(d.error)}`);
      if (d && d.version !== null && d.pending === null) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    process.stderr.write(`ready ${id} (${Math.round((Date.now() - started) / 1000)} s)\n`);
  }
}
