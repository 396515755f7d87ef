import type { TermDocumentStats } from '../../ports/document-store.js';
import type { Queryable } from './database.js';

/**
 * The per-namespace counts of documents holding each term (migration
 * 005-term-documents), kept by the document store inside its own
 * transactions: `liveChanged` runs in the transaction that moves a
 * document's live version, so the counts always describe exactly the live
 * versions whose terms are recorded.
 */

/** Records a version's terms (sorted, distinct); counts them at once if it is the live version. */
export async function putVersionTerms(
  c: Queryable,
  namespace: string,
  id: string,
  version: string,
  terms: readonly string[],
  live: boolean,
): Promise<void> {
  const sorted = [...new Set(terms)].sort();
  await c.query(
    `INSERT INTO version_terms (namespace, document_id, version, terms) VALUES ($1, $2, $3, $4)
     ON CONFLICT (namespace, document_id, version) DO NOTHING`,
    [namespace, id, version, sorted],
  );
  if (live) await count(c, namespace, id, version, true);
}

/** The live version of a document moved from `before` to `after` (either may be null). */
export async function liveChanged(
  c: Queryable,
  namespace: string,
  id: string,
  before: string | null,
  after: string | null,
): Promise<void> {
  if (before === after) return;
  if (before !== null) {
    await count(c, namespace, id, before, false);
    // A version replaced is not coming back as it is (the same text again is stored and recorded again).
    await c.query('DELETE FROM version_terms WHERE namespace = $1 AND document_id = $2 AND version = $3', [
      namespace,
      id,
      before,
    ]);
  }
  if (after !== null) await count(c, namespace, id, after, true);
}

/** The document is deleted: its live version stops counting and every recorded version goes. */
export async function documentDeleted(c: Queryable, namespace: string, id: string, live: string | null): Promise<void> {
  if (live !== null) await count(c, namespace, id, live, false);
  await c.query('DELETE FROM version_terms WHERE namespace = $1 AND document_id = $2', [namespace, id]);
}

export const HAS_TERMS_SQL = 'SELECT 1 FROM version_terms WHERE namespace = $1 AND document_id = $2 AND version = $3';

/** One statement, so the counts and the number of documents come from one snapshot: ($1 namespace, $2 terms). */
export const TERM_STATS_SQL = `SELECT NULL AS term, documents FROM namespace_term_documents WHERE namespace = $1
  UNION ALL
  SELECT term, documents FROM term_documents WHERE namespace = $1 AND term = ANY($2::text[])`;

export function termStatsFromRows(rows: ReadonlyArray<{ term: string | null; documents: number }>): TermDocumentStats {
  const counts = new Map<string, number>();
  let documents = 0;
  for (const r of rows) {
    if (r.term === null) documents = Number(r.documents);
    else counts.set(r.term, Number(r.documents));
  }
  return { documents, counts };
}

async function count(c: Queryable, namespace: string, id: string, version: string, on: boolean): Promise<void> {
  // FOR UPDATE: two transactions cannot both find the version uncounted and count it twice.
  const { rows } = await c.query<{ counted: boolean; terms: string[] }>(
    'SELECT counted, terms FROM version_terms WHERE namespace = $1 AND document_id = $2 AND version = $3 FOR UPDATE',
    [namespace, id, version],
  );
  const row = rows[0];
  if (!row || row.counted === on) return;
  if (on)
    await c.query(
      `INSERT INTO term_documents (namespace, term, documents)
       SELECT $1, t, 1 FROM unnest($2::text[]) AS t ORDER BY t
       ON CONFLICT (namespace, term) DO UPDATE SET documents = term_documents.documents + 1`,
      [namespace, row.terms],
    );
  else {
    await c.query(
      'UPDATE term_documents SET documents = documents - 1 WHERE namespace = $1 AND term = ANY($2::text[])',
      [namespace, row.terms],
    );
    await c.query('DELETE FROM term_documents WHERE namespace = $1 AND term = ANY($2::text[]) AND documents <= 0', [
      namespace,
      row.terms,
    ]);
  }
  await c.query(
    `INSERT INTO namespace_term_documents (namespace, documents) VALUES ($1, $2)
     ON CONFLICT (namespace) DO UPDATE SET documents = namespace_term_documents.documents + $2`,
    [namespace, on ? 1 : -1],
  );
  await c.query('UPDATE version_terms SET counted = $4 WHERE namespace = $1 AND document_id = $2 AND version = $3', [
    namespace,
    id,
    version,
    on,
  ]);
}
