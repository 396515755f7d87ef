import type { Logger } from 'pino';
import type { Config } from '../../src/config.js';
import { cl100k } from '../../src/core/tokenizer.js';
import { AnswerService } from '../../src/core/strategies/answer-service.js';
import type { SelectionMethod } from '../../src/core/retrieval/select.js';
import type { RetrievalService, RetrievalSignals } from '../../src/core/retrieval/service.js';
import type { RoutingEstimates } from '../../src/core/routing/policy.js';
import { absentTerms, termCoverage, vocabulary } from '../../src/core/routing/terms.js';
import type { StrategyName } from '../../src/core/strategies/types.js';
import type { Embedder } from '../../src/ports/embedder.js';
import type { LlmProvider } from '../../src/ports/llm.js';
import type { Backend } from '../harness/backend.js';
import type { EvalQuestion } from '../harness/types.js';

/**
 * What the router sees of one question, measured once by the service's own
 * code (retrieval with the configured score and selection, the cost
 * estimates of a reader with the stated window, the document's terms), so
 * that every replay after it is arithmetic.
 */
export interface QuestionRecord {
  id: string;
  documentId: string;
  length: string;
  type: string;
  task: string;
  file: string;
  question: string;
  signals: RetrievalSignals;
  estimates: RoutingEstimates;
  documentTokens: number;
  /** The reader's window minus its answer reserve, as the service computes it. */
  window: number;
  /** The question's terms the document never uses. */
  absentTerms: string[];
  /** Share of the question's terms (that the document uses) in the best chunk. */
  topCoverage: number;
  /** 1 when the best chunk by the configured score is also the best of the selection by dense (cosine) score; NaN when not measured (--lexical-only). */
  denseAgrees: number;
  /** Document tokens each route reads. */
  tokens: Record<StrategyName, number>;
}

/** A reader with a stated window, for estimates only: the replay never calls it. */
export function estimatingReader(window: number): LlmProvider {
  return {
    id: 'replay',
    model: `window-${window}`,
    kind: 'generative',
    contextWindow: window,
    tokenCountIsEstimate: false,
    countTokens: (t) => cl100k.count(t),
    countMessageTokens: (ms) => ms.reduce((n, m) => n + 4 + cl100k.count(m.content), 3),
    complete: () => Promise.reject(new Error('the replay never calls the reader')),
    health: async () => {},
    close: async () => {},
  };
}

/** Measures every question through `backend` (in process or over HTTP), as the service would for a reader of `window` tokens. */
export async function measureQuestions(
  backend: Backend,
  questions: readonly EvalQuestion[],
  opts: {
    config: Config;
    logger: Logger;
    window: number;
    selection: SelectionMethod;
    documentText: (q: EvalQuestion) => string;
    /** False when the embedder is noDenseEmbedder: denseAgrees is then NaN (not measured). Default true. */
    dense?: boolean;
    onDone?: (q: EvalQuestion) => void;
  },
): Promise<QuestionRecord[]> {
  const reader = estimatingReader(opts.window);
  // estimateCosts reads only the config and the reader; it never retrieves.
  const estimator = new AnswerService({
    retrieval: undefined as unknown as RetrievalService,
    llm: reader,
    maxAnswerTokens: opts.config.LLM_MAX_ANSWER_TOKENS,
    logger: opts.logger,
  });
  const vocabularies = new Map<string, Set<string>>();
  const out: QuestionRecord[] = [];
  for (const q of questions) {
    const text = opts.documentText(q);
    let v = vocabularies.get(q.documentId);
    if (!v) {
      v = vocabulary(text);
      vocabularies.set(q.documentId, v);
    }
    const r = await backend.retrieve(q.documentId, q.question, opts.selection);
    const docs = r.scope.documents.map((d) => ({ title: d.title, tokens: d.tokens, chars: d.chars }));
    const e = estimator.estimateCosts(docs, r.tokens.selected, reader, q.question);
    const topId = r.curve[0]?.id;
    const top = r.selected.find((c) => c.id === topId);
    const byDense = r.selected.reduce<(typeof r.selected)[number] | undefined>(
      (b, c) => (b === undefined || c.dense > b.dense ? c : b),
      undefined,
    );
    out.push({
      id: q.id,
      documentId: q.documentId,
      length: q.length,
      type: q.type,
      task: q.task,
      file: q.file,
      question: q.question,
      signals: r.signals,
      estimates: { rag: e.rag, coa: e.coa, full: e.full },
      documentTokens: r.tokens.documents,
      window: reader.contextWindow - e.reserves.answer,
      absentTerms: absentTerms(q.question, [v]),
      topCoverage: top ? termCoverage(q.question, text.slice(top.start, top.end), [v]) : 0,
      denseAgrees:
        opts.dense === false ? Number.NaN : +(top !== undefined && byDense !== undefined && byDense.id === top.id),
      tokens: { rag: e.rag.contextTokens, full: e.full.contextTokens, coa: e.coa.contextTokens },
    });
    opts.onDone?.(q);
  }
  return out;
}

/**
 * An embedder that embeds nothing (one constant dimension), for replays that
 * read only BM25 scores: ingestion then costs chunking, not a sentence
 * encoder's time over every chunk.
 */
export function noDenseEmbedder(): Embedder {
  return {
    id: 'replay-no-dense',
    dimensions: async () => 1,
    embedDocuments: async (texts) => texts.map(() => Float32Array.of(1)),
    embedQuery: async () => Float32Array.of(1),
    health: async () => {},
    close: async () => {},
  };
}
