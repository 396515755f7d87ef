export type DocumentStatus = 'pending' | 'indexing' | 'ready' | 'failed';

/** A submitted version not live yet: its ingestion job and the size of its text. */
export interface PendingVersion {
  version: string;
  jobId: string;
  /**
   * Size of this version's text, counted at submit. Absent on records written
   * before these were kept: their top-level sizes are this version's then.
   */
  chars?: number;
  tokens?: number;
}

/**
 * The catalogue entry of a document. `version` is the live, fully indexed
 * version that readers see; `pending` is a newer version being indexed. The
 * ingestion worker flips `version` to the pending one only after all of its
 * chunks are stored, which is what keeps readers from mixing versions.
 */
export interface DocumentRecord {
  namespace: string;
  id: string;
  title: string;
  status: DocumentStatus;
  /** Live version (content hash) or null before the first successful ingestion. */
  version: string | null;
  pending: PendingVersion | null;
  /**
   * Size of the live version's text (cl100k tokens): what retrieval, answers
   * and the router read with it. While no version is live, the pending one's.
   */
  chars: number;
  tokens: number;
  chunkCount: number;
  metadata: Record<string, unknown>;
  /** Where the text came from: 'json', or the uploaded file name. */
  source: string;
  error: { code: string; message: string } | null;
  createdAt: string;
  updatedAt: string;
}

export interface ListPage<T> {
  items: T[];
  /** Opaque cursor for the next page, or null at the end. */
  next: string | null;
  total: number;
}

/** How many of a namespace's documents hold each term (their live versions), for weighting terms by documents. */
export interface TermDocumentStats {
  /** Documents of the namespace whose live version's terms are recorded. */
  documents: number;
  /** Of those, how many hold the term; a term absent from the map is held by none. */
  counts: ReadonlyMap<string, number>;
}

export interface UpdateOptions {
  /**
   * In the same atomic step as the write (only if `fn` returned a record):
   * delete the texts of this document's versions stored before this version
   * (by putText order; a text stored again counts from then). Making a
   * version live passes it, so a crash leaves either the old version live
   * with its texts or the new one without them, never an old text for good.
   * Texts stored after it (a newer submit in flight) are kept.
   */
  dropTextsStoredBefore?: string;
}

export interface DocumentStore {
  get(namespace: string, id: string): Promise<DocumentRecord | null>;
  list(namespace: string, opts: { limit: number; cursor?: string | null }): Promise<ListPage<DocumentRecord>>;
  /** Writes the record atomically (a reader sees the old or the new one). */
  put(record: DocumentRecord): Promise<void>;
  /**
   * Atomic read-modify-write of one record; `fn` returns the new record, or
   * null to delete it together with all its texts. Returns what was written.
   * Concurrent updates of one record, from this process or others, are
   * serialised.
   */
  update(
    namespace: string,
    id: string,
    fn: (current: DocumentRecord | null) => DocumentRecord | null,
    opts?: UpdateOptions,
  ): Promise<DocumentRecord | null>;
  /** Deletes the record and its texts (update returning null). */
  delete(namespace: string, id: string): Promise<void>;
  /** Keeps the original text of a version, so strategies can rebuild or segment it exactly. */
  putText(namespace: string, id: string, version: string, text: string): Promise<void>;
  getText(namespace: string, id: string, version: string): Promise<string | null>;
  /** Removes stored texts of a document: all, or all but `keepVersion`. */
  deleteTexts(namespace: string, id: string, opts?: { keepVersion?: string }): Promise<void>;
  /**
   * Records the distinct analysed terms of a version (idempotent: a version's terms are recorded once). They
   * count in `termStats` while that version is live: from its flip (or now, if it is live already) until another
   * version replaces it or the document is deleted, each change in the same atomic step as the record's.
   */
  putTerms(namespace: string, id: string, version: string, terms: readonly string[]): Promise<void>;
  /** Whether the terms of a version are recorded. */
  hasTerms(namespace: string, id: string, version: string): Promise<boolean>;
  /** How many of the namespace's live documents hold each of `terms`. */
  termStats(namespace: string, terms: readonly string[]): Promise<TermDocumentStats>;
  /** Every namespace that holds documents. */
  namespaces(): Promise<string[]>;
  /**
   * A value that changes whenever a document of the namespace is written or
   * deleted, by this process or another: what lets a reader keep the
   * namespace's listing between questions. Optional; without it the
   * listing is read again for every whole-namespace question.
   */
  generation?(namespace: string): Promise<string>;
  health(): Promise<void>;
  close(): Promise<void>;
}
