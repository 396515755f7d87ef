import type { Logger } from '../../ports/logger.js';
import type { DocumentRecord, DocumentStore, ListPage } from '../../ports/document-store.js';
import type { Embedder } from '../../ports/embedder.js';
import type { JobContext, JobQueue } from '../../ports/job-queue.js';
import type { StoredChunk, VectorStore } from '../../ports/vector-store.js';
import { AppError } from '../../errors.js';
import { vectorReadiness } from '../readiness.js';
import { assertValidId, chunkId, contentDocumentId, contentVersion, ingestJobId } from '../ids.js';
import { inlineTokenWork } from './inline-token-work.js';
import type { TextChunk, TokenWork } from '../../ports/token-work.js';
import { isBlank } from '../text/blank.js';
import { analyze } from '../text/analyse.js';
import { assertValidMetadata } from './metadata.js';

export const INGEST_JOB = 'ingest';

export interface IngestJobData {
  namespace: string;
  documentId: string;
  version: string;
}

export interface IngestResult {
  documentId: string;
  version: string;
  chunks: number;
  /** Set when the job found nothing to do: the document was deleted or replaced meanwhile. */
  skipped?: 'deleted' | 'superseded' | 'already-indexed';
}

export interface SubmitInput {
  namespace: string;
  id?: string;
  title?: string;
  text: string;
  metadata?: Record<string, unknown>;
  /** 'json' or the uploaded file name. */
  source: string;
  /** Fires when the client leaves: the count stops (its tokenizer thread is dropped) and nothing is stored. */
  signal?: AbortSignal;
  /** The caller's logger (a request's `req.log`): this call's lines carry its bindings. The service's logger when absent. */
  log?: Logger;
}

export interface SubmitResult {
  document: DocumentRecord;
  jobId: string;
  /** True when this exact content was already stored or queued: nothing new was done. */
  unchanged: boolean;
}

export interface DocumentServiceOptions {
  /** Prepares the vector store (see Container.ready); by default ensureReady with the embedder's size, once. */
  ready?: () => Promise<void>;
  documents: DocumentStore;
  vectors: VectorStore;
  embedder: Embedder;
  queue: JobQueue;
  chunkTokens: number;
  overlapTokens: number;
  maxDocumentTokens: number;
  embedBatchSize: number;
  ingestAttempts: number;
  /** Where texts are counted and chunked: a {@link TokenPool} keeps it off the event loop. Default inline; the caller closes it. */
  tokenWork?: TokenWork;
  logger: Logger;
}

/**
 * Documents in, chunks out: validation, versioning and the ingestion job.
 *
 * Versioning keeps readers consistent: a document's text is stored under its
 * content hash; the job writes the chunks of that version, and only then flips
 * the record's live `version` to it and deletes older chunks. Readers ask the
 * vector store for live versions only, so they see the old document or the
 * new one, never a mix.
 */
export class DocumentService {
  private readonly ready: () => Promise<void>;
  private readonly tokens: TokenWork;

  constructor(private readonly o: DocumentServiceOptions) {
    this.ready = o.ready ?? vectorReadiness(o.vectors, o.embedder);
    this.tokens = o.tokenWork ?? inlineTokenWork;
  }

  async submit(input: SubmitInput): Promise<SubmitResult> {
    assertValidId(input.namespace, 'namespace');
    if (input.id !== undefined) assertValidId(input.id, 'id');
    assertValidMetadata(input.metadata);
    if (isBlank(input.text)) throw new AppError('EMPTY_TEXT');
    const tokens = await this.tokens.count(input.text, input.signal);
    if (tokens > this.o.maxDocumentTokens) throw new AppError('DOCUMENT_TOO_LARGE', [tokens, this.o.maxDocumentTokens]);

    const version = contentVersion(input.text);
    const id = input.id ?? contentDocumentId(version);
    const jobId = ingestJobId(input.namespace, id, version);
    const current = await this.o.documents.get(input.namespace, id);
    if (current && (current.pending?.version === version || (current.version === version && !current.pending))) {
      if (current.pending?.version === version) await this.enqueue(current.namespace, id, version, jobId);
      return { document: current, jobId: current.pending?.jobId ?? jobId, unchanged: true };
    }

    // The text goes to disk before the record points at it: a crash in between leaves an orphan text, never a dangling record.
    await this.o.documents.putText(input.namespace, id, version, input.text);
    const now = new Date().toISOString();
    let previous: DocumentRecord | null = null;
    const document = (await this.o.documents.update(input.namespace, id, (cur) => {
      previous = cur;
      return {
        namespace: input.namespace,
        id,
        title: input.title ?? cur?.title ?? id,
        status: cur?.version ? cur.status : 'pending',
        version: cur?.version ?? null,
        pending: { version, jobId, chars: input.text.length, tokens },
        // Readers pair the record's sizes with the live text: they change with `version`, when the job makes this one live.
        chars: cur?.version ? cur.chars : input.text.length,
        tokens: cur?.version ? cur.tokens : tokens,
        chunkCount: cur?.chunkCount ?? 0,
        metadata: input.metadata ?? cur?.metadata ?? {},
        source: input.source,
        error: null,
        createdAt: cur?.createdAt ?? now,
        updatedAt: now,
      };
    }))!;
    try {
      await this.enqueue(input.namespace, id, version, jobId);
    } catch (err) {
      // The client is told this upload failed (503 QUEUE_UNAVAILABLE): it must leave nothing that a later start would index.
      await this.undoSubmit(input.namespace, id, version, jobId, previous).catch((e: unknown) =>
        (input.log ?? this.o.logger).error({ err: e, documentId: id }, 'undoing a failed submit failed'),
      );
      throw err;
    }
    return { document, jobId, unchanged: false };
  }

  /**
   * Puts back the record a submit replaced, when its job could not be
   * enqueued, unless another submit has taken the record over since; then
   * removes the text of this version if nothing refers to it. The text of a
   * record that still has another pending version stays until a version goes
   * live (the flip deletes every other text).
   */
  private async undoSubmit(
    namespace: string,
    id: string,
    version: string,
    jobId: string,
    previous: DocumentRecord | null,
  ): Promise<void> {
    let undone = false;
    await this.o.documents.update(namespace, id, (cur) => {
      undone = cur?.pending?.version === version && cur.pending.jobId === jobId;
      return undone ? previous : cur;
    });
    // Putting back no record deleted the texts with it; a record put back keeps its live text only.
    if (!undone || previous === null) return;
    if (previous.version && previous.version !== version && !previous.pending)
      await this.o.documents.deleteTexts(namespace, id, { keepVersion: previous.version });
  }

  /**
   * Enqueues the run of `version` under its job id; false when the document no longer waits for one. A waiting or
   * active job with this id is the run itself. A finished one would stand in for the run this version still needs
   * (job ids are deterministic: a failed run, or a completed one whose document was deleted before the same text
   * came back), so it is removed first, but only if the document, read again after the job was seen finished,
   * still waits (`waits`, by default {@link waitsForRun}). A run settles the document (live, superseded, failed)
   * before the queue records it finished, so the caller's record (recoverPending's page, submit's `current`) may
   * show a version pending whose run has since completed; acting on it ran the job a second time, as attempt 1
   * again (tests/unit/document-service-rerun.test.ts).
   */
  private async enqueue(
    namespace: string,
    documentId: string,
    version: string,
    jobId: string,
    waits: (doc: DocumentRecord | null) => boolean = (doc) => waitsForRun(doc, version, jobId),
  ): Promise<boolean> {
    const existing = await this.o.queue.get(jobId);
    if (existing?.state === 'failed' || existing?.state === 'completed') {
      if (!waits(await this.o.documents.get(namespace, documentId))) return false;
      await this.o.queue.remove(jobId, existing.finishedAt);
    }
    const data: IngestJobData = { namespace, documentId, version };
    await this.o.queue.enqueue(INGEST_JOB, data, { jobId, attempts: this.o.ingestAttempts });
    return true;
  }

  async get(namespace: string, id: string): Promise<DocumentRecord> {
    assertValidId(id, 'id');
    const doc = await this.o.documents.get(namespace, id);
    if (!doc) throw new AppError('DOCUMENT_NOT_FOUND', [id]);
    return doc;
  }

  list(namespace: string, limit: number, cursor: string | null): Promise<ListPage<DocumentRecord>> {
    return this.o.documents.list(namespace, { limit, cursor });
  }

  async delete(namespace: string, id: string): Promise<void> {
    assertValidId(id, 'id');
    const existed = await this.o.documents.get(namespace, id);
    if (!existed) throw new AppError('DOCUMENT_NOT_FOUND', [id]);
    await this.ready();
    // The record and its texts go in one step; the chunks after it are unreachable once the record is gone.
    await this.o.documents.update(namespace, id, () => null);
    await this.o.vectors.deleteDocument(namespace, id);
  }

  /** Every document of every namespace, a page at a time (the start-up passes below). */
  private async *everyDocument(): AsyncGenerator<[string, DocumentRecord]> {
    for (const ns of await this.o.documents.namespaces()) {
      let cursor: string | null = null;
      do {
        const page: ListPage<DocumentRecord> = await this.o.documents.list(ns, { limit: 500, cursor });
        for (const doc of page.items) yield [ns, doc];
        cursor = page.next;
      } while (cursor);
    }
  }

  /**
   * Re-enqueues documents whose ingestion never finished (the process or the
   * queue died before the job ran). Idempotent: job ids are deterministic.
   */
  async recoverPending(): Promise<number> {
    let n = 0;
    for await (const [ns, doc] of this.everyDocument()) {
      if (!doc.pending || failedForGood(doc)) continue;
      const { version, jobId } = doc.pending;
      const job = await this.o.queue.get(jobId);
      if (job && job.state !== 'failed' && job.state !== 'completed') continue;
      // This record is from a page read before: enqueue reads it again before it clears a finished job.
      const waits = (d: DocumentRecord | null) => waitsForRun(d, version, jobId) && !failedForGood(d!);
      if (await this.enqueue(ns, doc.id, version, jobId, waits)) n++;
    }
    if (n > 0) this.o.logger.info({ recovered: n }, 're-enqueued unfinished ingestion jobs');
    return n;
  }

  /**
   * Re-embeds, with the configured embedder, every live version the vector store holds no chunks of: a DATA_DIR
   * filled by another embedder (USE lite's 512-dimensional vectors, before use-lite-static was the default) keeps
   * them in a space of another size, which this embedder cannot read. Each such version becomes pending again
   * under its own id and goes through the ingestion job from its stored text; the record stays live meanwhile,
   * and the flip at the job's end drops the other embedder's vectors (deleteDocument reaches every size).
   * Idempotent: job ids are deterministic, and a version with chunks or already pending is left alone.
   * Returns how many versions were enqueued.
   */
  async reembedStale(): Promise<number> {
    await this.ready();
    let n = 0;
    for await (const [ns, doc] of this.everyDocument()) {
      const version = doc.version;
      if (version === null || doc.pending) continue;
      if (await this.o.vectors.hasChunks(ns, { documentId: doc.id, version })) continue;
      const jobId = ingestJobId(ns, doc.id, version);
      let marked = false;
      await this.o.documents.update(ns, doc.id, (cur) => {
        if (!cur || cur.version !== version || cur.pending) return cur;
        marked = true;
        return {
          ...cur,
          pending: { version, jobId, chars: cur.chars, tokens: cur.tokens },
          updatedAt: new Date().toISOString(),
        };
      });
      if (!marked) continue;
      if (await this.enqueue(ns, doc.id, version, jobId)) n++;
    }
    if (n > 0)
      this.o.logger.info(
        { versions: n, embedder: this.o.embedder.id },
        're-embedding live versions that have no vectors of the configured embedder',
      );
    return n;
  }

  /**
   * Records the terms of every live version that has none recorded (a DATA_DIR or database from before they were
   * kept), from its stored text, so whole-namespace retrieval weights terms over all documents. Idempotent.
   * Returns how many versions were recorded.
   */
  async recordMissingTerms(): Promise<number> {
    let n = 0;
    for await (const [ns, doc] of this.everyDocument()) {
      const version = doc.version;
      if (version === null || (await this.o.documents.hasTerms(ns, doc.id, version))) continue;
      const text = await this.o.documents.getText(ns, doc.id, version);
      if (text === null) continue;
      await this.o.documents.putTerms(ns, doc.id, version, await distinctTerms([{ text }]));
      n++;
    }
    if (n > 0) this.o.logger.info({ versions: n }, 'recorded the terms of live versions that had none');
    return n;
  }

  /** The ingestion job: chunk, embed, store, then make the version live. */
  async process(job: JobContext<IngestJobData>): Promise<IngestResult> {
    const { namespace, documentId, version } = job.data;
    const log = this.o.logger.child({ jobId: job.id, documentId, namespace });
    const record = await this.o.documents.get(namespace, documentId);
    if (!record) return { documentId, version, chunks: 0, skipped: 'deleted' };
    if (record.version === version && !record.pending) {
      // A run that made this version live and then died (a kill, a failed delete) before removing the old
      // version's chunks and texts comes back here: finish that clean-up, or it is left for good.
      await this.dropOtherVersions(namespace, documentId, version);
      return { documentId, version, chunks: record.chunkCount, skipped: 'already-indexed' };
    }
    if (record.pending?.version !== version) return { documentId, version, chunks: 0, skipped: 'superseded' };

    try {
      await this.o.documents.update(namespace, documentId, (cur) =>
        cur && cur.pending?.version === version
          ? { ...cur, status: cur.version ? cur.status : 'indexing', updatedAt: new Date().toISOString() }
          : cur,
      );
      const text = await this.o.documents.getText(namespace, documentId, version);
      if (text === null) throw new AppError('INGEST_FAILED', ['the stored text of this version is missing']);
      const pieces = await this.tokens.chunk(
        text,
        { chunkTokens: this.o.chunkTokens, overlapTokens: this.o.overlapTokens },
        job.signal,
      );
      if (pieces.length === 0) throw new AppError('EMPTY_TEXT');
      // submit() counted this very text (the version is its content hash) and kept the count with `pending`; records
      // from before pending sizes were kept hold it at the top level, as toView reads them. The chunks' counts cannot
      // stand in (overlaps repeat tokens, BPE merges across joins).
      const tokens = record.pending.tokens ?? record.tokens;
      await job.updateProgress(5);

      await this.ready();
      await this.embedAndStore(job, pieces);

      // Its terms are recorded before the flip, which counts them for level one of whole-namespace retrieval.
      await this.o.documents.putTerms(namespace, documentId, version, await distinctTerms(pieces, job.signal));

      const flipped = await this.goLive(namespace, documentId, version, {
        chunkCount: pieces.length,
        chars: text.length,
        tokens,
      });
      if (!flipped) {
        await this.discardVersion(namespace, documentId, version);
        return { documentId, version, chunks: 0, skipped: 'superseded' };
      }
      await this.dropOtherVersions(namespace, documentId, version);
      await job.updateProgress(100);
      log.info({ chunks: pieces.length }, 'document indexed');
      return { documentId, version, chunks: pieces.length };
    } catch (err) {
      // Stopped by a shutdown, not failed: the version stays pending (the queue runners take the error for a transient
      // CANCELLED, see failureOf) and recoverPending runs it again at the next start.
      if (job.signal.aborted) throw err;
      const transient = err instanceof AppError ? err.transient : true;
      if (!transient || job.attempt >= job.maxAttempts) await this.fail(job.data, err, log);
      throw err;
    }
  }

  /** Embeds the chunks in batches of embedBatchSize and stores them with their vectors; progress runs from 5 to 95. */
  private async embedAndStore(job: JobContext<IngestJobData>, pieces: readonly TextChunk[]): Promise<void> {
    const { namespace, documentId, version } = job.data;
    const batch = this.o.embedBatchSize;
    for (let i = 0; i < pieces.length; i += batch) {
      if (job.signal.aborted) throw new AppError('CANCELLED', [], { transient: true });
      const slice = pieces.slice(i, i + batch);
      const vectors = await this.o.embedder.embedDocuments(
        slice.map((p) => p.text),
        job.signal,
      );
      const chunks: StoredChunk[] = slice.map((p, j) => ({
        id: chunkId(namespace, documentId, version, p.order),
        namespace,
        documentId,
        version,
        order: p.order,
        start: p.start,
        end: p.end,
        tokens: p.tokens,
        text: p.text,
        vector: vectors[j]!,
      }));
      await this.o.vectors.upsert(namespace, chunks);
      await job.updateProgress(5 + (90 * Math.min(pieces.length, i + batch)) / pieces.length);
    }
  }

  /**
   * Makes `version` live with its sizes, only if it is still the one wanted; the old texts go in the same atomic
   * step. False when another version superseded it.
   */
  private async goLive(
    namespace: string,
    documentId: string,
    version: string,
    sizes: { chunkCount: number; chars: number; tokens: number },
  ): Promise<boolean> {
    let flipped = false;
    await this.o.documents.update(
      namespace,
      documentId,
      (cur) => {
        if (!cur || cur.pending?.version !== version) return cur;
        flipped = true;
        return {
          ...cur,
          status: 'ready',
          version,
          pending: null,
          ...sizes,
          error: null,
          updatedAt: new Date().toISOString(),
        };
      },
      { dropTextsStoredBefore: version },
    );
    return flipped;
  }

  /** A final failure: leaves no partial chunks, and says why on the document. */
  private async fail(data: IngestJobData, err: unknown, log: Logger): Promise<void> {
    const { namespace, documentId, version } = data;
    await this.discardVersion(namespace, documentId, version).catch((e: unknown) =>
      log.error({ err: e }, 'cleanup failed'),
    );
    const error =
      err instanceof AppError
        ? { code: err.code, message: err.message }
        : { code: 'INGEST_FAILED', message: String((err as Error)?.message ?? err) };
    await this.o.documents.update(namespace, documentId, (cur) =>
      cur && cur.pending?.version === version
        ? { ...cur, status: cur.version ? cur.status : 'failed', error, updatedAt: new Date().toISOString() }
        : cur,
    );
  }

  /**
   * Removes the chunks other versions of a live document left (their texts went with the flip, in its
   * transaction). Idempotent, so a re-run after a crash repeats it. Skipped while a newer version is pending:
   * its chunks are being written, and its own going live clears everything older.
   */
  private async dropOtherVersions(namespace: string, documentId: string, live: string): Promise<void> {
    const doc = await this.o.documents.get(namespace, documentId);
    if (doc?.version !== live || doc.pending) return;
    await this.o.vectors.deleteDocument(namespace, documentId, { keepVersion: live });
  }

  private async discardVersion(namespace: string, documentId: string, version: string): Promise<void> {
    const doc = await this.o.documents.get(namespace, documentId);
    if (doc?.version === version) return;
    // Delete this version's chunks only: keep the live one (if any).
    const keep = doc?.version ?? undefined;
    if (keep) {
      await this.o.vectors.deleteDocument(namespace, documentId, { keepVersion: keep });
    } else if (!doc?.pending || doc.pending.version === version) {
      await this.o.vectors.deleteDocument(namespace, documentId);
    }
  }
}

/**
 * Whether the pending version's run failed for good: a new document's is `failed`; a live one keeps `ready` and its
 * live version, with the replacement's error on the record (a submit clears it). Neither is run again at a start;
 * submitting the text again does.
 */
function failedForGood(doc: DocumentRecord): boolean {
  return doc.status === 'failed' || (doc.pending !== null && doc.error !== null);
}

/** Whether `doc` still waits for the ingestion run of `version` under `jobId`: that version is its pending one. */
function waitsForRun(doc: DocumentRecord | null, version: string, jobId: string): boolean {
  return doc?.pending?.version === version && doc.pending.jobId === jobId;
}

/**
 * The distinct analysed terms (as BM25 analyses them) of a version's pieces, yielding to the event loop every
 * 256 KiB of text so that a book does not hold it.
 */
async function distinctTerms(pieces: ReadonlyArray<{ text: string }>, signal?: AbortSignal): Promise<string[]> {
  const terms = new Set<string>();
  let since = 0;
  for (const p of pieces) {
    for (const t of analyze(p.text)) terms.add(t);
    since += p.text.length;
    if (since >= 1 << 18) {
      since = 0;
      await new Promise((r) => setImmediate(r));
      if (signal?.aborted) throw new AppError('CANCELLED', [], { transient: true });
    }
  }
  return [...terms];
}
