import type { Logger } from '../../ports/logger.js';
import { AppError } from '../../errors.js';
import { Lru } from '../lru.js';
import type { DocumentRecord } from '../../ports/document-store.js';
import type { LlmProvider } from '../../ports/llm.js';
import type { ScoreKind } from '../retrieval/defaults.js';
import type { SelectionMethod } from '../retrieval/select.js';
import { readDocuments, type RetrievalResult, type RetrievalService } from '../retrieval/service.js';
import { retrieveFor, type AnswerService, type CostEstimates } from '../strategies/answer-service.js';
import { isStrategyName, type AnswerEvent, type AnswerResult, type StrategyName } from '../strategies/types.js';
import type { Cue } from './cues.js';
import { absentTerms, termCoverage, vocabulary } from './terms.js';
import { overBudget, type Budgets } from './policy.js';
import {
  budgetsLeft,
  planQuery,
  validateBudgets,
  validateEscalation,
  validatePreference,
  type EscalationView,
  type Plan,
  type ProbeView,
  type RequestedStrategy,
} from './plan.js';
import type { RouterSettings } from './settings.js';

export { validateBudgets, validateEscalation, validatePreference, type RequestedStrategy } from './plan.js';

/** Which reader a request wants instead of the configured one. */
export interface LlmChoice {
  /** A configured provider: LLM_PROVIDER, or 'extractive' (always available). */
  provider?: string;
  /** openai: LLM_MODEL or one of ROUTER_ALLOWED_MODELS. */
  model?: string;
}

/** A reader chosen for one request; `release` closes it when it was made for the request. */
export interface ChosenLlm {
  llm: LlmProvider;
  release(): Promise<void>;
}

export interface QueryInput {
  namespace: string;
  question: string;
  /** Documents to read; null for the whole namespace. */
  documentIds: string[] | null;
  /** Their records as `RetrievalService.resolveScope` returned them for this request; resolved here when absent. */
  documents?: readonly DocumentRecord[];
  /** Default 'auto'. */
  strategy?: RequestedStrategy;
  budgets?: Budgets;
  selection: SelectionMethod;
  score: ScoreKind;
  hybridAlpha: number;
  /** A reader for this request (already resolved, e.g. by `QueryService.chooseLlm`). */
  llm?: LlmProvider;
  /** Self-Route escalation; default ROUTER_SELF_ROUTE. Only with strategy auto and a generative reader. */
  selfRoute?: boolean;
  /**
   * The retrieval probe (./probe.ts); default ROUTER_PROBE unless Self-Route is
   * on. Only with strategy auto and a generative reader; exclusive with selfRoute.
   */
  probe?: boolean;
  /** 0 cheapest … 1 most accurate (the probe's answer-length limit, ./settings.ts probeLimit); default ROUTER_PREFERENCE. */
  preference?: number;
  signal?: AbortSignal;
  /** The caller's logger (a request's `req.log`): this call's lines carry its bindings. The service's logger when absent. */
  log?: Logger;
  onEvent?: (e: QueryEvent) => void;
}

/** Events of a query: the decision first, then the answer's, with `escalate` between two attempts. */
export type QueryEvent =
  | { type: 'decision'; decision: QueryDecision }
  | { type: 'escalate'; from: 'rag'; to: StrategyName; reason: string }
  | AnswerEvent;

export interface StrategyEstimateView {
  feasible: boolean;
  reason?: string;
  promptTokens: number;
  calls: number;
  contextTokens: number;
  /** Under the ROUTER_LATENCY_* model. */
  latencyMs: number;
  excludedBy: string | null;
}

/** Why the query was read the way it was; part of every response. */
export interface QueryDecision {
  strategy: StrategyName;
  requested: RequestedStrategy;
  reasons: string[];
  /**
   * Whole-namespace questions: the documents retrieval picked (best first),
   * the only ones any strategy reads, and why (the full curve is in the retrieval's `library`).
   */
  documents: null | {
    picked: string[];
    namespaceDocuments: number;
    fallback: string | null;
    /** Whether the question's terms single out the first picked document (retrieval's `library.distinction`). */
    singledOut: boolean;
    /** Other documents that hold every question term the first picked one holds. */
    alsoHeldBy: string[];
    reasons: string[];
  };
  signals: {
    k: number;
    candidates: number;
    cutIndex: number | null;
    largestGap: number | null;
    relativeGap: number | null;
    aboveCut: number | null;
    flat: boolean | null;
    topScore: number | null;
    selectedShare: number;
    spread: number;
    selectedTokens: number;
    documentTokens: number;
    /** Context window of the reader minus its answer reserve. */
    window: number;
    llm: string;
  };
  cues: Cue[];
  estimates: {
    rag: StrategyEstimateView;
    coa: StrategyEstimateView & { segments: number };
    full: StrategyEstimateView & { truncated: boolean };
  };
  budgets: Budgets;
  selfRoute: EscalationView;
  /** The retrieval probe (./probe.ts): whether it ran, and what it made of the retrieval answer. */
  probe: ProbeView;
  escalated: null | { from: 'rag'; to: StrategyName; reason: string; firstAttempt: AnswerResult };
}

export type QueryResult = AnswerResult & { decision: QueryDecision };

/** The decision's first reason over a whole namespace: the documents' reasons in one line. */
export function documentsReason(reasons: readonly string[]): string {
  return `documents: ${reasons.join('; ')}`;
}

/** The readers a request may choose among (LLM_PROVIDER, LLM_MODEL, ROUTER_ALLOWED_MODELS). */
export interface ReaderChoices {
  provider: string;
  model: string;
  /** Models a request may pick instead of `model`, on the same endpoint. */
  allowedModels: readonly string[];
  /**
   * Builds a reader for a provider and model (the adapters' `createLlm`), for
   * per-request choices; the core never imports adapters itself.
   */
  create?: (provider: string, model: string) => LlmProvider;
}

export interface QueryServiceOptions {
  retrieval: RetrievalService;
  answers: AnswerService;
  /** The router's settings (built from config in the container). */
  router: RouterSettings;
  readers: ReaderChoices;
  logger: Logger;
}

/**
 * Answers a question the way its evidence asks for: retrieves (Adaptive-k),
 * plans (./plan.ts: the policy's strategy or the requested one, and the
 * escalation after a retrieval answer), executes the plan through the
 * AnswerService, and reports the decision with the answer.
 */
/** Most documents in a scope the absent-terms rule reads. */
const VOCABULARY_CACHE = 64;
/** Terms of the document vocabularies kept (a 128k-token book uses ~10 000), least recently used dropped first. */
const VOCABULARY_TERMS = 1_000_000;

export class QueryService {
  /** Term sets of recently read document versions, for the absent-terms rule and the best chunk's term coverage. */
  private readonly vocabularies = new Lru<string, Set<string>>(VOCABULARY_TERMS, (v) => v.size);

  constructor(private readonly o: QueryServiceOptions) {}

  /** The document vocabularies of a scope; undefined when no rule reads them or the scope is too large. */
  private async scopeVocabularies(
    namespace: string,
    docs: readonly DocumentRecord[],
  ): Promise<Array<Set<string>> | undefined> {
    const s = this.o.router;
    const needed = s.thresholds.minAbsentTerms > 0 || s.zones.trustMinRelativeGap > 0;
    if (!needed || docs.length > VOCABULARY_CACHE) return undefined;
    const vocabularies: Array<Set<string>> = [];
    for (const d of docs) {
      const key = `${namespace}\0${d.id}\0${d.version}`;
      // Requests arriving together on a new version share one reading of its words (~70 ms for a 128k-token book).
      vocabularies.push(
        await this.vocabularies.getOrLoad(key, async () => vocabulary(await this.o.retrieval.getText(namespace, d))),
      );
    }
    return vocabularies;
  }

  /**
   * The reader for a request: the configured one when `choice` asks for
   * nothing new; else a reader made for the request (release it after), only
   * among configured providers and allowed models (INVALID_PARAMETER otherwise).
   */
  chooseLlm(choice: LlmChoice | undefined): ChosenLlm {
    const r = this.o.readers;
    const base = this.o.answers.llm;
    const keep = { llm: base, release: async () => {} };
    if (!choice || (choice.provider === undefined && choice.model === undefined)) return keep;
    const provider = choice.provider ?? r.provider;
    const configured = [...new Set([r.provider, 'extractive'])];
    if (!configured.includes(provider)) {
      throw new AppError('INVALID_PARAMETER', [
        `llm.provider ${JSON.stringify(provider)} is not configured on this server; available: ${configured.join(', ')}`,
      ]);
    }
    if (choice.model !== undefined && provider !== 'openai') {
      throw new AppError('INVALID_PARAMETER', [
        `llm.model can only be chosen for the openai provider, not ${provider}`,
      ]);
    }
    const allowedModels = [r.model, ...r.allowedModels].filter((s) => s !== '');
    if (choice.model !== undefined && !allowedModels.includes(choice.model)) {
      throw new AppError('INVALID_PARAMETER', [
        `llm.model ${JSON.stringify(choice.model)} is not allowed on this server; allowed: ${allowedModels.join(', ')}`,
      ]);
    }
    const model = choice.model ?? (provider === r.provider ? r.model : '');
    if (provider === r.provider && model === r.model) return keep;
    if (provider === 'extractive' && base.kind === 'extractive') return keep;
    if (!r.create) throw new AppError('INVALID_PARAMETER', ['this server does not offer a per-request choice of LLM']);
    const llm = r.create(provider, model);
    return { llm, release: () => llm.close() };
  }

  async query(input: QueryInput): Promise<QueryResult> {
    const requested: RequestedStrategy = input.strategy ?? 'auto';
    if (requested !== 'auto' && !isStrategyName(requested))
      throw new AppError('UNKNOWN_STRATEGY', [JSON.stringify(requested)]);
    const budgets = input.budgets ?? {};
    validateBudgets(budgets);
    validateEscalation(input);
    validatePreference(input.preference);
    const llm = input.llm ?? this.o.answers.llm;
    const log = (input.log ?? this.o.logger).child({ strategy: requested });
    const emit = (e: QueryEvent): void => {
      try {
        input.onEvent?.(e);
      } catch (err) {
        log.warn({ err }, 'query event listener failed');
      }
    };

    const scope = input.documents ?? (await this.o.retrieval.resolveScope(input.namespace, input.documentIds));
    emit({ type: 'progress', stage: 'retrieve' });
    const r = await retrieveFor(this.o.retrieval, input, scope);
    // Over the whole namespace, every strategy weighs and reads only the documents retrieval picked.
    const docs = r.library ? readDocuments(scope, r.library) : scope;
    const estimates = this.o.answers.estimateCosts(docs, r.tokens.selected, llm, input.question);
    const window = llm.contextWindow - estimates.reserves.answer;
    const vocabularies = await this.scopeVocabularies(input.namespace, docs);
    const top = r.selected.find((c) => c.id === r.curve[0]?.id);
    const plan = planQuery(
      {
        requested,
        question: input.question,
        signals: r.signals,
        estimates,
        documentTokens: r.tokens.documents,
        window,
        budgets,
        ...(r.library ? { scopeReasons: [documentsReason(r.library.reasons)] } : {}),
        ...(vocabularies ? { absentTerms: absentTerms(input.question, vocabularies) } : {}),
        ...(vocabularies && top ? { topCoverage: termCoverage(input.question, top.text, vocabularies) } : {}),
        reader: llm.kind,
        selfRoute: input.selfRoute,
        probe: input.probe,
        preference: input.preference,
      },
      this.o.router,
    );
    const decision = decisionOf(plan, requested, r, { window, llm, estimates, budgets });
    emit({ type: 'decision', decision });
    return this.execute(plan, decision, {
      ...input,
      documents: docs,
      llm,
      budgets,
      estimates,
      retrieval: r,
      emit,
      queryLog: log,
    });
  }

  /** Runs a plan: the first read, then, when its escalation does not keep the answer, the whole text within what the budgets leave. */
  private async execute(
    plan: Plan,
    decision: QueryDecision,
    x: QueryInput & {
      documents: readonly DocumentRecord[];
      llm: LlmProvider;
      budgets: Budgets;
      estimates: CostEstimates;
      retrieval: RetrievalResult;
      emit: (e: QueryEvent) => void;
      /** The query's logger (bound to the requested strategy); `log` stays the caller's, for the answers. */
      queryLog: Logger;
    },
  ): Promise<QueryResult> {
    const base = {
      namespace: x.namespace,
      question: x.question,
      documentIds: x.documentIds,
      documents: x.documents,
      selection: x.selection,
      score: x.score,
      hybridAlpha: x.hybridAlpha,
      llm: x.llm,
      ...(x.signal ? { signal: x.signal } : {}),
      ...(x.log ? { log: x.log } : {}),
      onEvent: x.emit,
    };
    const esc = plan.escalation;
    // Retrieval answers read the passages the decision was made on, not a second retrieval.
    const first = await this.o.answers.answer({
      ...base,
      strategy: plan.strategy,
      retrieval: x.retrieval,
      ...(esc?.allowUnanswerable ? { allowUnanswerable: true } : {}),
    });
    if (!esc) {
      x.queryLog.info({ chosen: plan.strategy, escalated: false }, 'query answered');
      return { ...first, decision };
    }
    const check = esc.check(first.answer);
    if (esc.name === 'probe') decision.probe.verdict = check.verdict;
    if (check.keep) {
      if (check.reason) decision.reasons.push(check.reason);
      x.queryLog.info({ chosen: plan.strategy, escalated: false }, 'query answered');
      return { ...first, decision };
    }
    // Strategies before the fallback in this order did not fit the whole budgets, so not what is left of them either.
    const left = budgetsLeft(x.budgets, first.totals);
    const target = plan.order.find((s) => overBudget(s, x.estimates[s], left, plan.latencyMs[s]) === null);
    if (!target) {
      decision.reasons.push(esc.noRoom(check.insufficient));
      x.queryLog.info({ chosen: plan.strategy, escalated: false }, 'query not escalated: no budget left');
      return { ...first, decision };
    }
    const fits = x.estimates.full.feasible && !x.estimates.full.truncated;
    const reason =
      `${check.insufficient}: reading ` +
      (target === 'full'
        ? fits
          ? 'the whole text'
          : 'the middle-truncated text'
        : 'the whole text with Chain-of-Agents');
    x.emit({ type: 'escalate', from: 'rag', to: target, reason });
    const second = await this.o.answers.answer({ ...base, strategy: target });
    decision.strategy = target;
    decision.reasons.push(`${esc.label}: ${reason}`);
    decision.escalated = { from: 'rag', to: target, reason, firstAttempt: first };
    x.queryLog.info({ chosen: target, escalated: true, by: esc.label }, 'query answered after escalation');
    return { ...second, decision };
  }
}

function estimateViews(
  e: CostEstimates,
  budgets: Budgets,
  latency: Record<StrategyName, number>,
): QueryDecision['estimates'] {
  const view = (s: StrategyName): StrategyEstimateView => ({
    feasible: e[s].feasible,
    ...(e[s].reason ? { reason: e[s].reason } : {}),
    promptTokens: e[s].promptTokens,
    calls: e[s].calls,
    contextTokens: e[s].contextTokens,
    latencyMs: Math.round(latency[s]),
    excludedBy: overBudget(s, e[s], budgets, latency[s]),
  });
  return {
    rag: view('rag'),
    coa: { ...view('coa'), segments: e.coa.segments },
    full: { ...view('full'), truncated: e.full.truncated },
  };
}

/** The decision a query reports (and streams first): the plan in words, the retrieval signals it read, the costs. */
function decisionOf(
  plan: Plan,
  requested: RequestedStrategy,
  r: RetrievalResult,
  x: { window: number; llm: LlmProvider; estimates: CostEstimates; budgets: Budgets },
): QueryDecision {
  const { window, llm, estimates, budgets } = x;
  return {
    strategy: plan.strategy,
    requested,
    reasons: plan.reasons,
    documents: r.library
      ? {
          picked: r.library.picked.map((d) => d.id),
          namespaceDocuments: r.library.namespaceDocuments,
          fallback: r.library.fallback,
          singledOut: r.library.distinction.singledOut,
          alsoHeldBy: r.library.distinction.alsoHeldBy.map((d) => d.id),
          reasons: r.library.reasons,
        }
      : null,
    signals: {
      k: r.signals.k,
      candidates: r.signals.candidates,
      cutIndex: r.signals.cutIndex,
      largestGap: r.signals.largestGap,
      relativeGap: r.signals.relativeGap,
      aboveCut: r.signals.aboveCut,
      flat: r.signals.flat,
      topScore: r.signals.topScore,
      selectedShare: r.signals.selectedShare,
      spread: r.signals.spread,
      selectedTokens: r.tokens.selected,
      documentTokens: r.tokens.documents,
      window,
      llm: `${llm.id}:${llm.model}`,
    },
    cues: plan.cues,
    estimates: estimateViews(estimates, budgets, plan.latencyMs),
    budgets,
    selfRoute: plan.selfRoute,
    probe: plan.probe,
    escalated: null,
  };
}
