import type { Logger } from '../../ports/logger.js';
import { AppError } from '../../errors.js';
import { Lru } from '../lru.js';
import type { DocumentRecord } from '../../ports/document-store.js';
import type { LlmProvider } from '../../ports/llm.js';
import type { ScoreKind } from '../retrieval/defaults.js';
import type { SelectionMethod } from '../retrieval/select.js';
import { readDocuments, type RetrievalResult, type RetrievalService } from '../retrieval/service.js';
import { reservesFor, slack, type Reserves } from './budget.js';
import { LlmCaller } from './caller.js';
import { coaSegmentBudget, MIN_SEGMENT_TOKENS, runCoa } from './coa.js';
import { runFull, type DocumentText } from './full.js';
import type { StrategyRun } from './output.js';
import { coaManagerMessages, coaWorkerMessages, fullMessages, ragMessages } from './prompts.js';
import { runRag } from './rag.js';
import { isStrategyName, type AnswerEvent, type AnswerResult, type StrategyName } from './types.js';
import { isBlank } from '../text/blank.js';

export interface AnswerServiceOptions {
  retrieval: RetrievalService;
  /** The default reader; a request may bring its own (`AnswerInput.llm`). */
  llm: LlmProvider;
  /** Tokens reserved for each answer or note (LLM_MAX_ANSWER_TOKENS), capped per reader by reservesFor. */
  maxAnswerTokens: number;
  logger: Logger;
}

export interface AnswerInput {
  namespace: string;
  question: string;
  /** Documents to read; null for the whole namespace. */
  documentIds: string[] | null;
  strategy: StrategyName;
  /** RAG only: how many chunks to read (Adaptive-k by default in the routes). */
  selection: SelectionMethod;
  score: ScoreKind;
  hybridAlpha: number;
  /** Reader for this request instead of the service's. */
  llm?: LlmProvider;
  /** Cancels retrieval and every LLM call; the run throws CANCELLED. */
  signal?: AbortSignal;
  /** The caller's logger (a request's `req.log`): this call's lines carry its bindings. The service's logger when absent. */
  log?: Logger;
  /** Progress, streamed answer tokens and each finished LLM call. Exceptions it throws are logged and ignored. */
  onEvent?: (e: AnswerEvent) => void;
  /**
   * RAG only: retrieval already run for this question, scope, selection and
   * score (the router's, in QueryService), read instead of retrieving again.
   */
  retrieval?: RetrievalResult;
  /** The scope as `RetrievalService.resolveScope` returned it for this request; resolved here when absent. */
  documents?: readonly DocumentRecord[];
  /** RAG only: let the model reply UNANSWERABLE (see `isUnanswerable`) when the passages are not enough. Default false. */
  allowUnanswerable?: boolean;
}

/** What one strategy would cost, estimated without calling the LLM. */
export interface StrategyCost {
  /** False when the window cannot hold this strategy at all (the reason says why). */
  feasible: boolean;
  reason?: string;
  /** Prompt tokens over all calls (document sizes are cl100k counts from ingestion; instructions counted with the provider). */
  promptTokens: number;
  /** Upper bound of completion tokens: the reserves of all calls. */
  maxCompletionTokens: number;
  calls: number;
  /** Tokens of document text the LLM would read. */
  contextTokens: number;
}

export interface CostEstimates {
  rag: StrategyCost;
  coa: StrategyCost & { segments: number };
  full: StrategyCost & { truncated: boolean };
  reserves: Reserves;
}

/**
 * The retrieval an answer reads: the request's question, scope and selection
 * over documents already resolved for it. No per-chunk dense scores are
 * reported, so with BM25 selection the question need not be embedded.
 */
export function retrieveFor(
  retrieval: RetrievalService,
  input: Pick<AnswerInput, 'namespace' | 'question' | 'documentIds' | 'selection' | 'score' | 'hybridAlpha' | 'signal'>,
  documents: readonly DocumentRecord[],
): Promise<RetrievalResult> {
  return retrieval.retrieve({
    namespace: input.namespace,
    question: input.question,
    documentIds: input.documentIds,
    method: input.selection,
    score: input.score,
    hybridAlpha: input.hybridAlpha,
    denseScores: false,
    documents,
    ...(input.signal ? { signal: input.signal } : {}),
  });
}

/**
 * Answers a question by one reading strategy: retrieval (`rag`), Chain-of-Agents
 * (`coa`) or the whole text (`full`). Every LLM call is counted with the
 * provider's tokenizer before it is sent and refused (LLM_CONTEXT_OVERFLOW) if
 * it would not fit the window with its answer reserve; every call is recorded
 * in the result. The reserve is LLM_MAX_ANSWER_TOKENS capped at a quarter of
 * the window (`reservesFor`).
 */
export class AnswerService {
  /** Token counts of document versions per tokenizer: versions never change, and counting 128k tokens is not free. */
  private readonly tokenCache = new Lru<string, number>(4096);

  constructor(private readonly o: AnswerServiceOptions) {}

  /** The reader used when a request brings none. */
  get llm(): LlmProvider {
    return this.o.llm;
  }

  async answer(input: AnswerInput): Promise<AnswerResult> {
    if (!isStrategyName(input.strategy)) throw new AppError('UNKNOWN_STRATEGY', [String(input.strategy)]);
    if (typeof input.question !== 'string' || isBlank(input.question)) throw new AppError('EMPTY_QUESTION');
    const llm = input.llm ?? this.o.llm;
    const log = (input.log ?? this.o.logger).child({ strategy: input.strategy });
    const emit = (e: AnswerEvent): void => {
      try {
        input.onEvent?.(e);
      } catch (err) {
        log.warn({ err }, 'answer event listener failed');
      }
    };
    const caller = new LlmCaller(llm, { ...(input.signal ? { signal: input.signal } : {}), emit, logger: log });
    const reserves = reservesFor(llm, this.o.maxAnswerTokens);
    const started = performance.now();

    const scope = input.documents ?? (await this.o.retrieval.resolveScope(input.namespace, input.documentIds));
    caller.checkCancelled();
    const read = { caller, emit, reserves };
    const { run, docs } =
      input.strategy === 'rag'
        ? await this.readRetrieved(input, scope, read)
        : await this.readWhole(input, scope, read);

    const fullContextTokens =
      run.fullContextTokens ?? (await this.fullContextTokens(input.namespace, input.question, docs, llm));
    const { fullContextTokens: _exact, ...out } = run;
    const calls = caller.calls;
    const result: AnswerResult = {
      ...out,
      strategy: input.strategy,
      extractive: llm.kind === 'extractive',
      calls,
      totals: {
        promptTokens: calls.reduce((n, c) => n + c.promptTokens, 0),
        completionTokens: calls.reduce((n, c) => n + c.completionTokens, 0),
        calls: calls.length,
        latencyMs: calls.reduce((n, c) => n + c.latencyMs, 0),
      },
      fullContextTokens,
    };
    log.info(
      {
        llm: `${llm.id}:${llm.model}`,
        calls: calls.length,
        promptTokens: result.totals.promptTokens,
        fullContextTokens,
        ms: Math.round(performance.now() - started),
      },
      'answered',
    );
    return result;
  }

  /** The RAG strategy: retrieval (unless the caller ran it), then the selected passages; `docs` are those it read from. */
  private async readRetrieved(
    input: AnswerInput,
    scope: readonly DocumentRecord[],
    x: { caller: LlmCaller; emit: (e: AnswerEvent) => void; reserves: Reserves },
  ): Promise<{ run: StrategyRun; docs: readonly DocumentRecord[] }> {
    const { caller, emit } = x;
    let r = input.retrieval;
    if (!r) {
      emit({ type: 'progress', stage: 'retrieve' });
      r = await retrieveFor(this.o.retrieval, input, scope);
    }
    caller.checkCancelled();
    // Over the whole namespace the answer reads, and is costed against, the documents retrieval picked.
    const docs = r.library ? readDocuments(scope, r.library) : scope;
    // Texts only of the documents chunks came from, at the version retrieval read.
    const versions = new Map(r.scope.documents.map((d) => [d.id, d.version]));
    const texts = new Map<string, string>();
    for (const d of docs) {
      if (versions.get(d.id) === d.version && r.selected.some((c) => c.documentId === d.id))
        texts.set(d.id, await this.o.retrieval.getText(input.namespace, d));
    }
    emit({ type: 'progress', stage: 'read' });
    const run = await runRag({
      caller,
      question: input.question,
      retrieval: r,
      titles: new Map(r.scope.documents.map((d) => [d.id, d.title || d.id])),
      getText: (id) => texts.get(id),
      reserves: x.reserves,
      allowUnanswerable: input.allowUnanswerable ?? false,
    });
    return { run, docs };
  }

  /** Full context or Chain-of-Agents over the documents' whole texts; over the whole namespace, those retrieval picks. */
  private async readWhole(
    input: AnswerInput,
    scope: readonly DocumentRecord[],
    x: { caller: LlmCaller; emit: (e: AnswerEvent) => void; reserves: Reserves },
  ): Promise<{ run: StrategyRun; docs: readonly DocumentRecord[] }> {
    const { caller, emit } = x;
    let docs = scope;
    if (input.documentIds === null) {
      // A whole-text strategy over the whole namespace reads the documents retrieval picks for the question, not every document.
      emit({ type: 'progress', stage: 'retrieve' });
      const r = input.retrieval ?? (await retrieveFor(this.o.retrieval, input, docs));
      if (r.library) docs = readDocuments(docs, r.library);
      caller.checkCancelled();
    }
    const texts = await this.texts(input.namespace, docs);
    if (input.strategy === 'full') emit({ type: 'progress', stage: 'read' });
    const strategyInput = { caller, question: input.question, docs: texts, reserves: x.reserves };
    return { run: input.strategy === 'full' ? await runFull(strategyInput) : await runCoa(strategyInput), docs };
  }

  /**
   * What each strategy would cost for these documents, without running any:
   * `docs` are the documents in scope (their `tokens` are cl100k counts from
   * ingestion), `retrievalTokens` what retrieval selected (RetrievalResult
   * `tokens.selected`). Instructions are counted with `llm`'s tokenizer, with
   * `question` when given. Chain-of-Agents assumes every note fills its reserve.
   */
  estimateCosts(
    docs: ReadonlyArray<Pick<DocumentRecord, 'title' | 'tokens'> & { chars?: number }>,
    retrievalTokens: number,
    llm: LlmProvider = this.o.llm,
    question = '',
  ): CostEstimates {
    const reserves = reservesFor(llm, this.o.maxAnswerTokens);
    const window = llm.contextWindow;
    const docTokens = docs.reduce((n, d) => n + d.tokens, 0);
    const empty = (title: string) => ({ title, parts: [{ title, start: 0, end: 0, text: '' }], droppedTokens: 0 });

    const fullFrame = llm.countMessageTokens(
      fullMessages(
        question,
        docs.map((d) => empty(d.title)),
      ),
    );
    const fullRoom = window - reserves.answer - fullFrame;
    const fullRead = Math.max(0, Math.min(docTokens, fullRoom));
    const full = {
      feasible: fullRoom > 0,
      ...(fullRoom > 0
        ? {}
        : { reason: 'the window holds no document text after the instructions and the answer reserve' }),
      promptTokens: fullFrame + fullRead,
      maxCompletionTokens: reserves.answer,
      calls: 1,
      contextTokens: fullRead,
      truncated: docTokens > fullRoom,
    };

    const ragFrame = llm.countMessageTokens(ragMessages(question, []));
    const ragRoom = window - reserves.answer - ragFrame;
    const ragRead = Math.max(0, Math.min(retrievalTokens, ragRoom));
    const rag = {
      feasible: ragRoom > 0,
      ...(ragRoom > 0 ? {} : { reason: 'the window holds no passages after the instructions and the answer reserve' }),
      promptTokens: ragFrame + ragRead,
      maxCompletionTokens: reserves.answer,
      calls: 1,
      contextTokens: ragRead,
    };

    const budget = coaSegmentBudget(
      { llm },
      question,
      docs.map((d) => d.title),
      reserves,
      Math.max(0, ...docs.map((d) => d.chars ?? 99_999_999)),
    );
    const perSegment = Math.max(1, budget - slack(budget));
    const feasible = budget >= MIN_SEGMENT_TOKENS;
    const segments = feasible ? Math.max(docs.length, Math.ceil(docTokens / perSegment)) : 0;
    const workerFrame = llm.countMessageTokens(
      coaWorkerMessages({
        question,
        previousNote: '',
        segment: { title: '', start: 0, end: 0, text: '' },
        index: 0,
        total: 1,
      }),
    );
    const managerFrame = llm.countMessageTokens(coaManagerMessages(question, ''));
    const coa = {
      feasible,
      ...(feasible ? {} : { reason: `fewer than ${MIN_SEGMENT_TOKENS} tokens of text per worker fit the window` }),
      promptTokens: feasible
        ? docTokens + segments * workerFrame + Math.max(0, segments - 1) * reserves.note + managerFrame + reserves.note
        : 0,
      maxCompletionTokens: feasible ? segments * reserves.note + reserves.answer : 0,
      calls: feasible ? segments + 1 : 0,
      contextTokens: feasible ? docTokens : 0,
      segments,
    };
    return { rag, coa, full, reserves };
  }

  private async texts(namespace: string, docs: readonly DocumentRecord[]): Promise<DocumentText[]> {
    const out: DocumentText[] = [];
    for (const d of docs)
      out.push({ id: d.id, title: d.title || d.id, text: await this.o.retrieval.getText(namespace, d) });
    return out;
  }

  /** The untruncated full-context prompt: its frame counted whole, each document's text counted (and cached) once per version and tokenizer. */
  private async fullContextTokens(
    namespace: string,
    question: string,
    docs: readonly DocumentRecord[],
    llm: LlmProvider,
  ): Promise<number> {
    let total = llm.countMessageTokens(
      fullMessages(
        question,
        docs.map((d) => ({
          title: d.title || d.id,
          parts: [{ title: d.title, start: 0, end: 0, text: '' }],
          droppedTokens: 0,
        })),
      ),
    );
    for (const d of docs) {
      const key = `${llm.id}\0${llm.model}\0${namespace}\0${d.id}\0${d.version}`;
      let n = this.tokenCache.get(key);
      if (n === undefined) {
        n = llm.countTokens(await this.o.retrieval.getText(namespace, d));
        if (!llm.tokenCountIsEstimate) {
          this.tokenCache.set(key, n);
        }
      }
      total += n;
    }
    return total;
  }
}
