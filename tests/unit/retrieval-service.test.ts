import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { ingestingService, OwnSqliteDocumentStore, OwnSqliteVectorStore } from '../helpers/stores.js';
import type { VectorStore } from '../../src/ports/vector-store.js';
import { InProcessQueue } from '../../src/adapters/job-queue/in-process.js';
import type { DocumentService } from '../../src/core/ingest/document-service.js';
import { RetrievalService, type RetrievalResult, type RetrieveInput } from '../../src/core/retrieval/service.js';
import { AnswerService } from '../../src/core/strategies/answer-service.js';
import { QueryService } from '../../src/core/routing/query-service.js';
import { readerChoices, routerSettings } from '../../src/container.js';
import { HashingEmbedder } from '../contract/llm-test-embedder.js';
import { ScriptedLlm } from '../helpers/llm.js';

/** Counts the questions it embeds. */
class CountingEmbedder extends HashingEmbedder {
  queries = 0;
  override embedQuery(text: string, signal?: AbortSignal): Promise<Float32Array> {
    this.queries++;
    return super.embedQuery(text, signal);
  }
}

/** Counts the chunk reads it serves; has no lexical search (as a store without it), so namespace-wide retrieval takes the dense path. */
class CountingVectors extends OwnSqliteVectorStore {
  chunkReads = 0;
  constructor(dir: string) {
    super(dir);
    Object.defineProperty(this, 'searchText', { value: undefined });
  }
  override getChunks(
    ...args: Parameters<OwnSqliteVectorStore['getChunks']>
  ): ReturnType<OwnSqliteVectorStore['getChunks']> {
    this.chunkReads++;
    return super.getChunks(...args);
  }
}

/** Counts the retrievals it runs. */
class CountingRetrieval extends RetrievalService {
  runs = 0;
  override retrieve(input: RetrieveInput): Promise<RetrievalResult> {
    this.runs++;
    return super.retrieve(input);
  }
}

const COLOURS = ['amber', 'blue', 'crimson', 'dusky', 'emerald', 'fawn', 'grey'];
function book(sentences: number): string {
  const out: string[] = [];
  for (let i = 0; i < sentences; i++) {
    if (i === Math.floor(sentences / 2))
      out.push('The keeper Arvid hid the brass key under the third stone of the pier.');
    out.push(`Sentence ${i} tells how the ${COLOURS[i % 7]} boat number ${i} drifted past the harbour wall at dawn.`);
  }
  return out.join(' ');
}

const cfg = loadConfig({}, { dotenvPath: null, overrides: { LLM_MAX_ANSWER_TOKENS: 256, LOG_LEVEL: 'silent' } });
const logger = pino({ level: 'silent' });
const NS = 'retrieval-service';
const QUESTION = 'Where did Arvid hide the brass key?';

describe('the retrieval service', () => {
  let dir: string;
  let queue: InProcessQueue;
  let vectors: CountingVectors;
  let documents: OwnSqliteDocumentStore;
  let embedder: CountingEmbedder;
  let retrieval: CountingRetrieval;
  let service: DocumentService;

  const input = (over: Partial<RetrieveInput> = {}): RetrieveInput => ({
    namespace: NS,
    question: QUESTION,
    documentIds: ['long', 'other'],
    method: { kind: 'adaptive-k', a: 0, b: 0.1, buffer: 3 },
    score: 'bm25',
    hybridAlpha: 0.3,
    ...over,
  });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'air-retrieval-service-'));
    embedder = new CountingEmbedder();
    documents = new OwnSqliteDocumentStore(dir);
    vectors = new CountingVectors(dir);
    queue = new InProcessQueue({ logger });
    service = ingestingService({ documents, vectors, embedder, queue, logger });
    await queue.start();
    retrieval = new CountingRetrieval({ documents, vectors, embedder, namespaceCandidates: 200, logger });
    await service.submit({ namespace: NS, id: 'long', title: 'The Harbour', text: book(300), source: 'json' });
    await service.submit({
      namespace: NS,
      id: 'other',
      title: 'Second Harbour',
      text: book(90).replace('Arvid', 'Lund'),
      source: 'json',
    });
    await queue.drain();
  });
  afterAll(async () => {
    await queue?.close();
    await vectors?.close();
    await documents?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('selects by BM25 over named documents without embedding the question when dense scores are not wanted, exactly as with them', async () => {
    const before = embedder.queries;
    const withDense = await retrieval.retrieve(input());
    expect(embedder.queries).toBe(before + 1);
    const without = await retrieval.retrieve(input({ denseScores: false }));
    expect(embedder.queries).toBe(before + 1);

    expect(withDense.selected.length).toBeGreaterThan(0);
    expect(withDense.selected.every((c) => Number.isFinite(c.dense))).toBe(true);
    expect(without.selected.every((c) => Number.isNaN(c.dense))).toBe(true);
    const strip = (r: RetrievalResult) => ({
      ...r,
      selected: r.selected.map(({ dense: _d, ...c }) => c),
      timings: null,
    });
    expect(strip(without)).toEqual(strip(withDense));
    expect(without.passages.map((p) => p.text).join(' ')).toMatch(/Arvid hid the brass key/);
  });

  it('reads the chunks of each document version from the vector store once for BM25-only retrievals, whatever set it is read in, and again for a new version', async () => {
    const retrieval = new CountingRetrieval({ documents, vectors, embedder, namespaceCandidates: 200, logger });
    const before = vectors.chunkReads;
    await retrieval.retrieve(input({ documentIds: ['long', 'other'], denseScores: false }));
    const reads = vectors.chunkReads;
    expect(reads).toBe(before + 2);
    // Another set of the same versions (as whole-namespace questions pick them) reads nothing again.
    const first = await retrieval.retrieve(input({ documentIds: ['other'], denseScores: false }));
    const second = await retrieval.retrieve(input({ documentIds: ['other', 'long'], denseScores: false }));
    expect(vectors.chunkReads).toBe(reads);
    expect(second.selected.filter((c) => c.documentId === 'other').length).toBeGreaterThan(0);
    expect(first.selected.length).toBeGreaterThan(0);

    // A new version of the document is read from the store.
    await service.submit({
      namespace: NS,
      id: 'other',
      title: 'Second Harbour',
      text: `${book(90).replace('Arvid', 'Lund')} Revised.`,
      source: 'json',
    });
    await queue.drain();
    const third = await retrieval.retrieve(input({ documentIds: ['other'], denseScores: false }));
    expect(vectors.chunkReads).toBeGreaterThan(reads);
    expect(third.scope.documents[0]!.version).not.toBe(first.scope.documents[0]!.version);
    const revised = await retrieval.retrieve(
      input({ question: 'What was revised?', documentIds: ['other'], denseScores: false }),
    );
    expect(revised.selected[0]!.text).toMatch(/Revised\.$/);
  });

  it('reads the chunks once for a burst of concurrent BM25-only retrievals on a cold cache', async () => {
    const cold = new CountingRetrieval({ documents, vectors, embedder, namespaceCandidates: 200, logger });
    const before = vectors.chunkReads;
    const results = await Promise.all(
      Array.from({ length: 8 }, () => cold.retrieve(input({ documentIds: ['long'], denseScores: false }))),
    );
    expect(vectors.chunkReads).toBe(before + 1);
    for (const r of results) expect(r.selected).toEqual(results[0]!.selected);
  });

  it('still embeds the question for dense and hybrid scores, and for a whole-namespace search on a store without lexical search', async () => {
    expect((vectors as VectorStore).searchText).toBeUndefined();
    for (const over of [{ score: 'dense' as const }, { score: 'hybrid' as const }, { documentIds: null }]) {
      const before = embedder.queries;
      const r = await retrieval.retrieve(input({ ...over, denseScores: false }));
      expect(embedder.queries, JSON.stringify(over)).toBe(before + 1);
      expect(
        r.selected.every((c) => Number.isFinite(c.dense)),
        JSON.stringify(over),
      ).toBe(true);
    }
  });

  it('over the whole namespace on a store without lexical search, picks the documents from dense candidates and says it is a fallback', async () => {
    const r = await retrieval.retrieve(input({ documentIds: null }));
    expect(r.library).toMatchObject({ namespaceDocuments: 2, candidates: { source: 'dense-fallback', lexical: 0 } });
    expect(r.library!.fallback).toMatch(/^fallback: the vector store \(\w+\) has no lexical search/);
    expect(r.library!.candidates.dense).toBeGreaterThan(0);
    expect(r.scope.wholeNamespace).toBe(true);
    expect(r.scope.documents.map((d) => d.id)).toEqual(r.library!.picked.map((d) => d.id));
    expect(r.passages.map((p) => p.text).join(' ')).toMatch(/Arvid hid the brass key/);
  });

  it('answers a routed retrieval query from the retrieval the decision was made on, retrieving once', async () => {
    const llm = new ScriptedLlm(100_000);
    const answers = new AnswerService({ retrieval, llm, maxAnswerTokens: cfg.LLM_MAX_ANSWER_TOKENS, logger });
    const query = new QueryService({
      retrieval,
      answers,
      router: routerSettings(cfg),
      readers: readerChoices(cfg),
      logger,
    });
    const direct = await retrieval.retrieve(input({ denseScores: false }));
    const runs = retrieval.runs;
    const queries = embedder.queries;
    const r = await query.query({
      namespace: NS,
      question: QUESTION,
      documentIds: ['long', 'other'],
      strategy: 'rag',
      selection: input().method,
      score: 'bm25',
      hybridAlpha: 0.3,
    });
    expect(retrieval.runs).toBe(runs + 1);
    expect(embedder.queries).toBe(queries);
    expect(r.strategy).toBe('rag');
    const task = llm.requests[0]!.task;
    expect(task?.kind === 'answer' ? task.passages.map((p) => [p.documentId, p.start, p.end]) : null).toEqual(
      direct.passages.map((p) => [p.documentId, p.start, p.end]),
    );
    expect(r.retrieval?.signals).toEqual(direct.signals);
  });

  it('retrieves for a retrieval answer asked for directly', async () => {
    const llm = new ScriptedLlm(100_000);
    const answers = new AnswerService({ retrieval, llm, maxAnswerTokens: cfg.LLM_MAX_ANSWER_TOKENS, logger });
    const runs = retrieval.runs;
    const r = await answers.answer({
      namespace: NS,
      question: QUESTION,
      documentIds: ['long'],
      strategy: 'rag',
      selection: input().method,
      score: 'bm25',
      hybridAlpha: 0.3,
    });
    expect(retrieval.runs).toBe(runs + 1);
    expect(r.citations.length).toBeGreaterThan(0);
  });
});
