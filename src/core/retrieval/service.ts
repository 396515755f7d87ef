import type { Logger } from '../../ports/logger.js';
import type { DocumentRecord, DocumentStore } from '../../ports/document-store.js';
import type { Embedder } from '../../ports/embedder.js';
import type { ChunkRecord, DocumentVersionRef, ScoredChunk, VectorStore } from '../../ports/vector-store.js';
import { AppError } from '../../errors.js';
import { Lru } from '../lru.js';
import { vectorReadiness } from '../readiness.js';
import { assertValidId } from '../ids.js';
import { buildBm25Index, buildBm25Part, scoreBm25Parts, type Bm25Part } from './bm25.js';
import { scoresOfKind } from './fusion.js';
import {
  capTokens,
  select,
  selectPerDocument,
  validateSelectionMethod,
  type Selection,
  type SelectionMethod,
} from './select.js';
import { assembleContext, assemblyChunk, type AssembledContext, type Passage } from './assemble.js';
import {
  documentScores,
  fuseHits,
  pickDocuments,
  type DocumentAggregate,
  type TermWeights,
  weightByDocumentFrequency,
  analyseCandidates,
  documentsToRead,
  DOCUMENT_PICK_DEFAULTS,
  LIBRARY_DEFAULTS,
  termDistinction,
  type AnalysedCandidates,
  type TermDistinction,
  type DocumentPickOptions,
  type DocumentScore,
  type LibraryCandidate,
  type RetrieverHit,
} from './library.js';
import type { AdaptiveKResult } from './adaptive-k.js';
import type { ScoreKind } from './defaults.js';
import { isBlank } from '../text/blank.js';
import { analyze } from '../text/analyse.js';

export interface RetrieveInput {
  namespace: string;
  question: string;
  /** Documents to read; null means the whole namespace: the documents are picked first (see `LibraryView`). */
  documentIds: string[] | null;
  method: SelectionMethod;
  score: ScoreKind;
  /** Weight of dense scores in the hybrid fusion. */
  hybridAlpha: number;
  /**
   * Score every chunk against the embedded question even when the selection
   * does not use dense scores (score bm25), to report them. False lets a BM25
   * retrieval over named documents skip embedding the question; the
   * candidates' `dense` is then NaN. Default true.
   */
  denseScores?: boolean;
  /** The scope as `resolveScope` returned it for this request; resolved here when absent. */
  documents?: readonly DocumentRecord[];
  signal?: AbortSignal;
}

export interface ScoredCandidate {
  id: string;
  documentId: string;
  order: number;
  start: number;
  end: number;
  tokens: number;
  /** The score the selection used (dense, BM25 or fused). */
  score: number;
  /** Cosine similarity to the question; NaN when the retrieval skipped dense scores (`RetrieveInput.denseScores`). */
  dense: number;
  bm25: number;
  text: string;
}

/** Numbers that describe the score distribution; the router reads these. */
export interface RetrievalSignals {
  candidates: number;
  k: number;
  cutIndex: number | null;
  largestGap: number | null;
  /** Largest gap / score range: near 1 one chunk stands out; near 0 the curve is flat. */
  relativeGap: number | null;
  topScore: number | null;
  aboveCut: number | null;
  flat: boolean | null;
  /** Share of the documents' tokens the selection reads (after merging overlaps). */
  selectedShare: number;
  /** Spread of the selected chunks over their documents: (last - first position) / chunks, 0–1. */
  spread: number;
}

/** How a whole-namespace retrieval picked the documents it read (./library.ts). */
export interface LibraryView {
  /** Ready documents in the namespace. */
  namespaceDocuments: number;
  candidates: {
    /** `store`: the store's lexical search (plus its dense search when the score uses dense); `dense-fallback`: the store's dense search alone, re-scored by BM25 among its hits. */
    source: 'store' | 'dense-fallback';
    lexical: number;
    dense: number;
  };
  /** Set when the candidates came another way than asked, saying why. */
  fallback: string | null;
  /** How the lexical candidates' terms were weighted to score the documents (see ./library.ts TermWeights). */
  termWeights: TermWeights;
  aggregate: DocumentAggregate;
  /**
   * The documents read, best first, with their score on the documents' curve and why: above the curve's cut (`cut`),
   * or holding every question term the first one holds when the terms do not single it out (`same-terms`).
   */
  picked: Array<{ id: string; title: string; score: number; tokens: number; by: 'cut' | 'same-terms' }>;
  /** The documents' curve, best first (documents with at least one candidate chunk). */
  curve: DocumentScore[];
  cutIndex: number;
  largestGap: number;
  relativeGap: number;
  aboveCut: number;
  capped: boolean;
  /**
   * Whether the question's terms say which document it is about (./library.ts termDistinction): the question terms
   * the first document's candidate chunks hold, and the other documents whose candidates hold them all.
   */
  distinction: { singledOut: boolean; terms: string[]; alsoHeldBy: Array<{ id: string; title: string }> };
  /**
   * The cap on what level two reads over the picked documents (LIBRARY_MAX_TOKENS; 0: none) and, when it cut the
   * selection, what the selection method had chosen (chunks and tokens).
   */
  readCap: { maxTokens: number; cut: null | { k: number; tokens: number } };
  /** Why these documents, in words. */
  reasons: string[];
  /** Time spent finding the candidates and picking the documents (part of `timings.embedMs` + `timings.scoreMs`). */
  pickMs: number;
}

export interface RetrievalResult {
  /** The documents read: those named, or for the whole namespace those picked (`library`). */
  scope: {
    documents: Array<{ id: string; version: string; title: string; tokens: number; chars: number; chunkCount: number }>;
    wholeNamespace: boolean;
  };
  /** Whole-namespace retrieval only: how the documents were picked. */
  library: LibraryView | null;
  method: SelectionMethod;
  score: ScoreKind;
  selected: ScoredCandidate[];
  passages: Passage[];
  /** The whole curve, best first (scores only, with chunk ids and orders for plotting). */
  curve: Array<{ id: string; documentId: string; order: number; score: number }>;
  adaptiveK: Omit<AdaptiveKResult, 'sorted' | 'gaps'> | null;
  signals: RetrievalSignals;
  tokens: { selected: number; documents: number };
  timings: { embedMs: number; scoreMs: number; selectMs: number };
}

export interface RetrievalServiceOptions {
  /** Prepares the vector store (see Container.ready); by default ensureReady with the embedder's size, once. */
  ready?: () => Promise<void>;
  documents: DocumentStore;
  vectors: VectorStore;
  embedder: Embedder;
  namespaceCandidates: number;
  /** Whole-namespace retrieval: how documents are scored and picked. Defaults in ./library.ts. */
  library?: {
    aggregate?: DocumentAggregate;
    termWeights?: TermWeights;
    /** With document term weights: score adjacent pairs of question terms as terms too (./library.ts). Default true. */
    phrases?: boolean;
    /** Most tokens level two selects over the picked documents (0: no cap). Default LIBRARY_DEFAULTS.maxTokens. */
    maxTokens?: number;
    /** Also read the documents that hold every question term the first one holds (./library.ts documentsToRead). Default true. */
    readAlike?: boolean;
  } & DocumentPickOptions;
  logger: Logger;
}

/**
 * Bounds of the caches below, in characters of document text held, or in
 * bytes for BM25 statistics: counts alone would let 64 documents of 2M tokens
 * hold gigabytes. 32 Mi characters is about sixty 128k-token books per cache.
 */
const TEXT_CACHE_CHARS = 32 * 2 ** 20;
const CHUNK_CACHE_CHARS = 32 * 2 ** 20;
/**
 * BM25 parts are bounded by their own size, since a part's term table can outweigh its text (short chunks of many
 * distinct words): 64 MiB holds the parts of about a hundred 128k-token books (0.66 MiB for one of LaRA's).
 */
const BM25_CACHE_BYTES = 64 * 2 ** 20;
/** Bound of the namespace listings kept, in documents (a record is a few hundred bytes). */
const SCOPE_CACHE_DOCUMENTS = 200_000;
/** Bookkeeping of one cached chunk beyond its text, in characters' worth. */
const PER_CHUNK = 100;
const chunkChars = (chunks: readonly { text: string }[]): number =>
  chunks.reduce((n, c) => n + c.text.length + PER_CHUNK, 0);

/**
 * Retrieval over the chunks in scope: exact dense scores for every chunk of
 * the documents named (Adaptive-k needs the whole distribution), BM25 over the
 * same chunks, their fusion, then one selection method and order-preserving
 * assembly.
 */
export class RetrievalService {
  /** BM25 term statistics per document version: chunks of a version never change. */
  private readonly bm25Cache = new Lru<string, { part: Bm25Part; ids: string[] }>(
    BM25_CACHE_BYTES,
    (e) => e.part.bytes + e.ids.reduce((n, id) => n + 2 * id.length + PER_CHUNK, 0),
  );
  /** The chunks of document versions, for selections that need no dense scores (no vector-store read then). */
  private readonly chunkCache = new Lru<string, ChunkRecord[]>(CHUNK_CACHE_CHARS, chunkChars);
  private readonly textCache = new Lru<string, string>(TEXT_CACHE_CHARS, (t) => t.length);
  /** Namespaces' ready documents with the generation they were read at (`readyDocuments`). */
  private readonly scopeCache = new Lru<string, { gen: string; docs: readonly DocumentRecord[] }>(
    SCOPE_CACHE_DOCUMENTS,
    (e) => e.docs.length + 1,
  );

  private readonly ready: () => Promise<void>;

  constructor(private readonly o: RetrievalServiceOptions) {
    this.ready = o.ready ?? vectorReadiness(o.vectors, o.embedder);
  }

  /** Ready documents in scope, or a 4xx naming the ones that are missing or still ingesting. */
  async resolveScope(namespace: string, documentIds: string[] | null): Promise<DocumentRecord[]> {
    if (documentIds === null) {
      const out = await this.readyDocuments(namespace);
      if (out.length === 0) throw new AppError('NO_DOCUMENTS', [namespace]);
      return [...out];
    }
    if (documentIds.length === 0)
      throw new AppError('VALIDATION', [
        'documentIds must name at least one document, or be omitted for the whole namespace',
      ]);
    const unique = [...new Set(documentIds)];
    for (const id of unique) assertValidId(id, 'documentIds');
    const records = await Promise.all(unique.map((id) => this.o.documents.get(namespace, id)));
    const missing = unique.filter((_, i) => !records[i]);
    if (missing.length > 0) throw new AppError('DOCUMENTS_NOT_FOUND', [missing.join(', ')], { details: { missing } });
    const notReady = records.filter((d) => d!.version === null).map((d) => d!);
    if (notReady.length > 0) {
      throw new AppError('DOCUMENT_NOT_READY', [notReady.map((d) => `${d.id} (${d.status})`).join(', ')], {
        details: {
          notReady: notReady.map((d) => ({
            id: d.id,
            status: d.status,
            jobId: d.pending?.jobId ?? null,
            error: d.error,
          })),
        },
      });
    }
    return records as DocumentRecord[];
  }

  /**
   * The namespace's ready documents, kept between questions while the store's
   * generation of the namespace stays the same (when it has one): at 10,000
   * documents reading them is tens of milliseconds a question.
   */
  private async readyDocuments(namespace: string): Promise<readonly DocumentRecord[]> {
    const store = this.o.documents;
    // Read before the listing: a write after it bumps the generation, so the next question lists again.
    const gen = store.generation ? await store.generation(namespace) : null;
    const hit = this.scopeCache.get(namespace);
    if (gen !== null && hit?.gen === gen) return hit.docs;
    const docs: DocumentRecord[] = [];
    let cursor: string | null = null;
    do {
      const page = await store.list(namespace, { limit: 500, cursor });
      docs.push(...page.items.filter((d) => d.version !== null));
      cursor = page.next;
    } while (cursor);
    if (gen !== null) this.scopeCache.set(namespace, { gen, docs });
    return docs;
  }

  async getText(namespace: string, doc: DocumentRecord): Promise<string> {
    const key = `${namespace}\0${doc.id}\0${doc.version}`;
    return this.textCache.getOrLoad(
      key,
      async () => (await this.o.documents.getText(namespace, doc.id, doc.version!)) ?? '',
    );
  }

  async retrieve(input: RetrieveInput): Promise<RetrievalResult> {
    if (isBlank(input.question)) throw new AppError('EMPTY_QUESTION');
    validateSelectionMethod(input.method);
    const docs = input.documents ?? (await this.resolveScope(input.namespace, input.documentIds));
    if (input.documentIds === null) return this.retrieveLibrary(input, docs);
    return (await this.retrieveIn(input, docs, null)).result;
  }

  /**
   * The whole namespace in two levels of Adaptive-k (./library.ts): the
   * store's best chunks score the documents, the documents' curve is cut at
   * its largest gap (and, when the question's terms do not single out the
   * first document, the documents holding the same terms join), then chunks
   * are selected within each document read and read in turns (select.ts
   * selectPerDocument), at most LIBRARY_MAX_TOKENS.
   */
  private async retrieveLibrary(input: RetrieveInput, docs: readonly DocumentRecord[]): Promise<RetrievalResult> {
    // A question of stopwords only ("What is it about?") matches no chunk by BM25, and its dense vector says nothing
    // of any document: the dense fallback would scan every vector of the namespace (an exact search, O(chunks)) to
    // pick documents at random. Named documents are still read (a whole-text strategy can answer it).
    if (input.score === 'bm25' && analyze(input.question).length === 0) throw new AppError('NO_SEARCH_TERMS');
    const refs: DocumentVersionRef[] = docs.map((d) => ({ documentId: d.id, version: d.version! }));
    const t0 = performance.now();
    const c = await this.namespaceCandidates(input, refs);
    const t1 = performance.now();
    const lib = this.o.library ?? {};
    const aggregate = lib.aggregate ?? LIBRARY_DEFAULTS.aggregate;
    const pick = pickDocuments(documentScores(c.candidates, aggregate), lib);
    const distinction = termDistinction(c.analysed, pick.curve);
    const toRead =
      (lib.readAlike ?? LIBRARY_DEFAULTS.readAlike)
        ? documentsToRead(pick.picked, distinction, lib.maxDocuments ?? DOCUMENT_PICK_DEFAULTS.maxDocuments)
        : { read: pick.picked, alike: [] };
    const pickMs = performance.now() - t0;
    const byId = new Map(docs.map((d) => [d.id, d]));
    const picked = toRead.read.map((id) => byId.get(id)!);
    if (picked.length === 0) throw new AppError('NO_DOCUMENTS', [input.namespace]);
    const scores = new Map(pick.curve.map((d) => [d.documentId, d.score]));
    const alike = new Set(toRead.alike);
    const maxTokens = lib.maxTokens ?? LIBRARY_DEFAULTS.maxTokens;
    // Adaptive-k cuts each document's curve (select.ts selectPerDocument); a caller's top-k or token budget stays pooled.
    const perDocument = input.method.kind === 'adaptive-k';
    // The dense question vector, when there is one, is reused.
    const { result: r, capped } = await this.retrieveIn({ ...input, documentIds: toRead.read }, picked, c.query, {
      maxTokens,
      perDocument,
    });
    return {
      ...r,
      scope: { ...r.scope, wholeNamespace: true },
      library: {
        namespaceDocuments: docs.length,
        candidates: { source: c.source, lexical: c.lexical, dense: c.dense },
        fallback: c.fallback,
        termWeights: c.termWeights,
        aggregate,
        picked: picked.map((d) => ({
          id: d.id,
          title: d.title,
          score: scores.get(d.id)!,
          tokens: d.tokens,
          by: alike.has(d.id) ? ('same-terms' as const) : ('cut' as const),
        })),
        curve: pick.curve,
        cutIndex: pick.cutIndex,
        largestGap: pick.largestGap,
        relativeGap: pick.relativeGap,
        aboveCut: pick.aboveCut,
        capped: pick.capped,
        distinction: {
          singledOut: distinction.singledOut,
          terms: distinction.terms,
          alsoHeldBy: distinction.alsoHeldBy.map((id) => ({ id, title: byId.get(id)?.title ?? '' })),
        },
        readCap: { maxTokens, cut: capped ? { k: capped.k, tokens: capped.tokens } : null },
        reasons: [
          `${c.how}`,
          ...pick.reasons,
          distinctionReason(distinction, pick.curve[0]!.documentId, (id) => byId.get(id)),
          ...(toRead.alike.length > 0
            ? [
                `so the ${toRead.alike.length === 1 ? 'document' : `${toRead.alike.length} documents`} holding the same terms ${toRead.alike.length === 1 ? 'is' : 'are'} read too: ${toRead.alike.map((id) => quoted(byId.get(id), id)).join(', ')}`,
              ]
            : []),
          ...(perDocument && picked.length > 1
            ? [
                `each document's chunks were cut at their own largest gap, and the documents read in turns (each one's best chunk, then each one's second, …)`,
              ]
            : []),
          ...(capped
            ? [
                `the selection over the documents read (${capped.k} chunks, ${capped.tokens} tokens) was cut to ${perDocument ? `${r.selected.length}` : `its best ${r.selected.length}`} (${r.tokens.selected} tokens)${perDocument ? ", taking each document's best chunks in turn" : ''}: at most ${maxTokens} tokens are selected over a whole namespace`,
              ]
            : []),
          `read: ${picked.map((d) => quoted(d, d.id)).join(', ')} (${picked.length} of ${docs.length} documents)`,
        ],
        pickMs,
      },
      timings: {
        embedMs: r.timings.embedMs + c.embedMs,
        scoreMs: r.timings.scoreMs + (t1 - t0 - c.embedMs),
        selectMs: r.timings.selectMs,
      },
    };
  }

  /**
   * The namespace's candidate chunks with one score each, in the scale the
   * request asks for: the store's lexical search (BM25) for `bm25`, its dense
   * search for `dense`, both fused for `hybrid`. A store without lexical
   * search falls back to its dense search re-scored by BM25 among its hits,
   * and says so.
   */
  private async namespaceCandidates(
    input: RetrieveInput,
    refs: readonly DocumentVersionRef[],
  ): Promise<{
    candidates: LibraryCandidate[];
    /** Every candidate chunk's question terms, for the term distinction. */
    analysed: AnalysedCandidates;
    query: Float32Array | null;
    source: 'store' | 'dense-fallback';
    lexical: number;
    dense: number;
    fallback: string | null;
    termWeights: TermWeights;
    how: string;
    embedMs: number;
  }> {
    const m = this.o.namespaceCandidates;
    const vectors = this.o.vectors;
    let embedMs = 0;
    const embed = async (): Promise<Float32Array> => {
      const t = performance.now();
      const q = await this.o.embedder.embedQuery(input.question, input.signal);
      await this.ready();
      embedMs += performance.now() - t;
      return q;
    };
    const hits = (scored: readonly ScoredChunk[]): RetrieverHit[] =>
      scored.map((s) => ({ id: s.chunk.id, documentId: s.chunk.documentId, score: s.score }));
    const analyse = (scored: readonly ScoredChunk[]): AnalysedCandidates =>
      analyseCandidates(
        scored.map((s) => ({ id: s.chunk.id, documentId: s.chunk.documentId, score: s.score, text: s.chunk.text })),
        input.question,
      );

    let fallback: string | null = null;
    if (vectors.searchText) {
      await this.ready();
      const found = input.score === 'dense' ? [] : await vectors.searchText(input.namespace, refs, input.question, m);
      const analysed = analyse(found);
      const weighed = await this.weighTerms(input, refs, analysed);
      const lexical = weighed.hits;
      fallback = weighed.fallback;
      if (input.score === 'bm25' && lexical.length > 0) {
        return {
          candidates: lexical,
          analysed,
          query: null,
          source: 'store',
          lexical: lexical.length,
          dense: 0,
          fallback,
          termWeights: weighed.termWeights,
          how: `candidates: the ${lexical.length} best chunks of the namespace by the store's lexical search (${vectors.name})${weighed.how}`,
          embedMs,
        };
      }
      if (input.score === 'bm25')
        fallback =
          'no chunk of the namespace shares a term with the question: documents were picked by dense similarity instead';
      const q = await embed();
      const dense = await vectors.search(input.namespace, refs, q, m);
      const alpha = input.score === 'hybrid' ? input.hybridAlpha : 1;
      const lexicalIds = new Set(found.map((s) => s.chunk.id));
      const denseOnly = analyse(dense.filter((s) => !lexicalIds.has(s.chunk.id)));
      return {
        candidates: input.score === 'hybrid' ? fuseHits(lexical, hits(dense), alpha) : hits(dense),
        analysed: { ...analysed, candidates: [...analysed.candidates, ...denseOnly.candidates] },
        query: q,
        source: 'store',
        lexical: lexical.length,
        dense: dense.length,
        fallback,
        termWeights: weighed.termWeights,
        how:
          input.score === 'hybrid'
            ? `candidates: the store's ${lexical.length} best chunks by lexical search${weighed.how} and ${dense.length} by dense similarity (${vectors.name}), fused with dense weight ${alpha}`
            : `candidates: the ${dense.length} chunks of the namespace most similar to the question (${vectors.name})`,
        embedMs,
      };
    }

    // The store cannot search text: what the service did before it could (dense candidates, BM25 among them).
    fallback = `fallback: the vector store (${vectors.name}) has no lexical search, so the candidates are its ${m} chunks most similar to the question by dense score, re-scored by BM25 among themselves; documents whose words match but whose chunks are not among them are missed`;
    const q = await embed();
    const dense = await vectors.search(input.namespace, refs, q, m);
    const bm25 = buildBm25Index(dense.map((s) => s.chunk.text)).score(input.question);
    const used = scoresOfKind(
      input.score,
      dense.map((s) => s.score),
      bm25,
      input.hybridAlpha,
    );
    return {
      candidates: dense.map((s, i) => ({ id: s.chunk.id, documentId: s.chunk.documentId, score: used[i]! })),
      analysed: analyse(dense),
      query: q,
      source: 'dense-fallback',
      lexical: 0,
      dense: dense.length,
      fallback,
      termWeights: 'chunk',
      how: `candidates: the ${dense.length} chunks of the namespace most similar to the question (${vectors.name}), scored by ${input.score}`,
      embedMs,
    };
  }

  /**
   * The store's lexical candidates with their terms weighted as configured: by how few documents hold them
   * (`document`, from the document store's term statistics) or as the store scored them (`chunk`). Statistics that
   * do not cover every document in scope yet (versions from before they were recorded, being recorded at start)
   * would weigh the rest wrongly: then the store's weights are used, and the response says so.
   */
  private async weighTerms(
    input: RetrieveInput,
    refs: readonly DocumentVersionRef[],
    found: AnalysedCandidates,
  ): Promise<{ hits: LibraryCandidate[]; termWeights: TermWeights; fallback: string | null; how: string }> {
    const hits = found.candidates.map((c) => ({ id: c.id, documentId: c.documentId, score: c.score }));
    if ((this.o.library?.termWeights ?? LIBRARY_DEFAULTS.termWeights) === 'chunk' || hits.length === 0)
      return { hits, termWeights: 'chunk', fallback: null, how: '' };
    const stats = await this.o.documents.termStats(input.namespace, found.terms);
    if (stats.documents < refs.length)
      return {
        hits,
        termWeights: 'chunk',
        fallback: `term statistics cover ${stats.documents} of the ${refs.length} documents (the rest are being recorded): terms were weighted by the store's chunk-level search, not by how few documents hold them`,
        how: '',
      };
    const phrases = this.o.library?.phrases ?? LIBRARY_DEFAULTS.phrases;
    return {
      hits: weightByDocumentFrequency(found, stats, { phrases }),
      termWeights: 'document',
      fallback: null,
      how:
        `, each question term weighted by how few of the ${stats.documents} documents hold it` +
        (phrases
          ? ", and each pair of adjacent question terms by how few of the candidates' documents hold it side by side"
          : ''),
    };
  }

  /** Retrieval over every chunk of the given documents (named by the caller, or picked by `retrieveLibrary`). */
  private async retrieveIn(
    input: RetrieveInput,
    docs: readonly DocumentRecord[],
    query: Float32Array | null,
    library: { maxTokens: number; perDocument: boolean } | null = null,
  ): Promise<{ result: RetrievalResult; capped: Selection<ScoredCandidate>['capped'] }> {
    const refs: DocumentVersionRef[] = docs.map((d) => ({ documentId: d.id, version: d.version! }));

    const t0 = performance.now();
    // Dense scores fuse or select; a BM25 selection needs none unless they are to be reported (or the question is embedded already).
    const dense = input.score !== 'bm25' || input.denseScores !== false;
    const q = query ?? (dense ? await this.o.embedder.embedQuery(input.question, input.signal) : null);
    await this.ready();
    const t1 = performance.now();
    const candidates = await this.scoreCandidates(input, docs, refs, q);
    const t2 = performance.now();
    const selected = library?.perDocument
      ? selectPerDocument(
          candidates,
          input.method,
          docs.map((d) => d.id),
        )
      : select(candidates, input.method);
    const selection = library ? capTokens(selected, library.maxTokens) : selected;
    const texts = new Map<string, string>();
    for (const d of docs) texts.set(d.id, await this.getText(input.namespace, d));
    const assembled = assembleContext(selection.selected.map(assemblyChunk), { getText: (id) => texts.get(id) });
    const t3 = performance.now();

    const result = retrievalResult(input, docs, candidates, selection, assembled, {
      embedMs: t1 - t0,
      scoreMs: t2 - t1,
      selectMs: t3 - t2,
    });
    return { result, capped: selection.capped };
  }

  /** Every chunk of the documents as a candidate, in document order, with its dense, BM25 and selected score. */
  private async scoreCandidates(
    input: RetrieveInput,
    docs: readonly DocumentRecord[],
    refs: readonly DocumentVersionRef[],
    q: Float32Array | null,
  ): Promise<ScoredCandidate[]> {
    const scored =
      q === null ? await this.unscored(input.namespace, refs) : await this.o.vectors.scoreAll(input.namespace, refs, q);
    // A stable candidate order (document, position) makes BM25 caching and tie-breaks deterministic.
    const docIndex = new Map(docs.map((d, i) => [d.id, i]));
    scored.sort(
      (x, y) => docIndex.get(x.chunk.documentId)! - docIndex.get(y.chunk.documentId)! || x.chunk.order - y.chunk.order,
    );
    const chunks = scored.map((s) => s.chunk);
    const denseScores = scored.map((s) => s.score);
    const bm25 = this.bm25Scores(input.namespace, chunks, input.question);
    const used = scoresOfKind(input.score, denseScores, bm25, input.hybridAlpha);
    return chunks.map((c, i) => ({
      id: c.id,
      documentId: c.documentId,
      order: c.order,
      start: c.start,
      end: c.end,
      tokens: c.tokens,
      score: used[i]!,
      dense: denseScores[i]!,
      bm25: bm25[i]!,
      text: c.text,
    }));
  }

  /** Every chunk of the versions, each with a NaN dense score: what scoreAll returns, without a query vector. */
  private async unscored(namespace: string, refs: readonly DocumentVersionRef[]): Promise<ScoredChunk[]> {
    // Cached per version: whole-namespace questions read ever different sets of the same documents.
    const perDoc = await Promise.all(
      refs.map((ref) =>
        this.chunkCache.getOrLoad(`${namespace}\0${ref.documentId}@${ref.version}`, () =>
          this.o.vectors.getChunks(namespace, ref),
        ),
      ),
    );
    return perDoc.flat().map((chunk) => ({ chunk, score: Number.NaN }));
  }

  /**
   * BM25 scores of `chunks` (grouped by document version, as retrieval sorts
   * them) as one collection, from term statistics kept per version: any set
   * of documents is scored without indexing their texts again.
   */
  private bm25Scores(namespace: string, chunks: readonly ChunkRecord[], question: string): Float64Array {
    const parts: Bm25Part[] = [];
    for (let i = 0; i < chunks.length; ) {
      const { documentId, version } = chunks[i]!;
      let j = i;
      while (j < chunks.length && chunks[j]!.documentId === documentId && chunks[j]!.version === version) j++;
      const group = chunks.slice(i, j);
      const key = `${namespace}\0${documentId}@${version}`;
      const hit = this.bm25Cache.get(key);
      if (hit && hit.ids.length === group.length && hit.ids.every((id, k) => id === group[k]!.id)) parts.push(hit.part);
      else {
        const part = buildBm25Part(group.map((c) => c.text));
        this.bm25Cache.set(key, { part, ids: group.map((c) => c.id) });
        parts.push(part);
      }
      i = j;
    }
    return scoreBm25Parts(parts, question);
  }
}

/** The documents a whole-namespace retrieval picked, best first: the ones a strategy reads after it. */
export function readDocuments(scope: readonly DocumentRecord[], library: LibraryView): DocumentRecord[] {
  const byId = new Map(scope.map((d) => [d.id, d]));
  return library.picked.flatMap((p) => byId.get(p.id) ?? []);
}

/** How widely the selection is spread across the documents: 0 all in one place, 1 from start to end. */
function spreadOf(selected: readonly ScoredCandidate[], docs: readonly DocumentRecord[]): number {
  if (selected.length < 2) return 0;
  let weighted = 0;
  let total = 0;
  for (const d of docs) {
    const orders = selected.filter((c) => c.documentId === d.id).map((c) => c.order);
    if (orders.length === 0 || d.chunkCount < 2) continue;
    weighted += ((Math.max(...orders) - Math.min(...orders)) / (d.chunkCount - 1)) * orders.length;
    total += orders.length;
  }
  return total > 0 ? weighted / total : 0;
}

/** The result of retrieval over named documents: the selection, its passages, the curve and the signals the router reads. */
function retrievalResult(
  input: RetrieveInput,
  docs: readonly DocumentRecord[],
  candidates: readonly ScoredCandidate[],
  selection: Selection<ScoredCandidate>,
  assembled: AssembledContext,
  timings: RetrievalResult['timings'],
): RetrievalResult {
  const docTokens = docs.reduce((a, d) => a + d.tokens, 0);
  const ak = selection.adaptiveK;
  const ranked = [...candidates].sort((x, y) => y.score - x.score || x.order - y.order);
  return {
    scope: {
      documents: docs.map((d) => ({
        id: d.id,
        version: d.version!,
        title: d.title,
        tokens: d.tokens,
        chars: d.chars,
        chunkCount: d.chunkCount,
      })),
      wholeNamespace: false,
    },
    library: null,
    method: input.method,
    score: input.score,
    selected: selection.selected,
    passages: assembled.passages,
    curve: ranked.map((c) => ({ id: c.id, documentId: c.documentId, order: c.order, score: c.score })),
    adaptiveK: ak ? (({ sorted: _s, gaps: _g, ...rest }) => rest)(ak) : null,
    signals: {
      candidates: candidates.length,
      k: selection.selected.length,
      cutIndex: ak?.cutIndex ?? null,
      largestGap: ak?.largestGap ?? null,
      relativeGap: ak?.relativeGap ?? null,
      topScore: ak ? ak.topScore : (ranked[0]?.score ?? null),
      aboveCut: ak?.aboveCut ?? null,
      flat: ak?.flat ?? null,
      selectedShare: docTokens > 0 ? assembled.totalTokens / docTokens : 0,
      spread: spreadOf(selection.selected, docs),
    },
    tokens: { selected: assembled.totalTokens, documents: docTokens },
    timings,
  };
}

const quoted = (d: { id: string; title: string } | undefined, id: string): string => JSON.stringify(d?.title || id);

/** The term distinction (./library.ts termDistinction) in words, for the library's reasons. */
function distinctionReason(
  d: TermDistinction,
  first: string,
  doc: (id: string) => { id: string; title: string } | undefined,
): string {
  const name = quoted(doc(first), first);
  if (d.terms.length === 0)
    return `none of the question's terms is in ${name}'s matching chunks: nothing in the question names a document`;
  const terms = d.terms.map((t) => JSON.stringify(t)).join(', ');
  if (d.singledOut)
    return `the question's terms single out ${name}: no other document's matching chunks hold all of ${terms}`;
  const others = d.alsoHeldBy.slice(0, 3).map((id) => quoted(doc(id), id));
  const more = d.alsoHeldBy.length > 3 ? ` and ${d.alsoHeldBy.length - 3} more` : '';
  return (
    `the question does not say which document it is about: ${others.join(', ')}${more} also hold every question term that ${name} holds (${terms}), ` +
    `so ${name} was ranked first by how often the terms occur in its best chunks, not by a term only it holds`
  );
}
