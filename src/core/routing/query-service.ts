import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import { AppError } from '../../errors.js';
import { Lru } from '../lru.js';
import type { DocumentRecord } from '../../ports/document-store.js';
import type { LlmProvider } from '../../ports/llm.js';
import type { ScoreKind } from '../retrieval/defaults.js';
import type { SelectionMethod } from '../retrieval/select.js';
import { readDocuments, type RetrievalService } from '../retrieval/service.js';
import { retrieveFor, type AnswerService, type CostEstimates } from '../strategies/answer-service.js';
import { isUnanswerable } from '../strategies/prompts.js';
import { isStrategyName, type AnswerEvent, type AnswerResult, type StrategyName } from '../strategies/types.js';
import { findCues, parseCueNames, type Cue } from './cues.js';
import { absentTerms, vocabulary } from './terms.js';
import { decide, estimateLatencyMs, overBudget, type Budgets, type RouterThresholds, type StrategyEstimate } from './policy.js';
import { escalationOrder, judgeProbe, type ProbeVerdict } from './probe.js';

export type RequestedStrategy = 'auto' | StrategyName;

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
  signal?: AbortSignal;
  onEvent?: (e: QueryEvent) => void;
}

/** Events of a query: the decision first, then the answer's, with `escalate` between two attempts. */
export type QueryEvent = { type: 'decision'; decision: QueryDecision } | { type: 'escalate'; from: 'rag'; to: StrategyName; reason: string } | AnswerEvent;

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
  documents: null | { picked: string[]; namespaceDocuments: number; fallback: string | null; reasons: string[] };
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
  estimates: { rag: StrategyEstimateView; coa: StrategyEstimateView & { segments: number }; full: StrategyEstimateView & { truncated: boolean } };
  budgets: Budgets;
  selfRoute: { requested: boolean; active: boolean; note: string | null };
  /** The retrieval probe (./probe.ts): whether it ran, and what it made of the retrieval answer. */
  probe: {
    requested: boolean;
    active: boolean;
    note: string | null;
    /** A retrieval answer of at most this many tokens is kept. */
    maxAnswerTokens: number;
    /** The whole-text strategy read when the retrieval answer is not kept (the policy's choice when it was not retrieval). */
    fallback: StrategyName | null;
    /** Set once the retrieval answer is in. */
    verdict: ProbeVerdict | null;
  };
  escalated: null | { from: 'rag'; to: StrategyName; reason: string; firstAttempt: AnswerResult };
}

export type QueryResult = AnswerResult & { decision: QueryDecision };

export interface QueryServiceOptions {
  retrieval: RetrievalService;
  answers: AnswerService;
  config: Config;
  logger: Logger;
  /**
   * Builds a reader from a config (the adapters' `createLlm`), for per-request
   * choices; the core never imports adapters itself.
   */
  createLlm?: (cfg: Config) => LlmProvider;
}

/** The router's thresholds from config (ROUTER_*). */
export function thresholdsFromConfig(cfg: Config): RouterThresholds {
  return {
    minRelativeGap: cfg.ROUTER_MIN_RELATIVE_GAP,
    maxAboveCut: cfg.ROUTER_MAX_ABOVE_CUT,
    maxSelectedShare: cfg.ROUTER_MAX_SELECTED_SHARE,
    maxSpread: cfg.ROUTER_MAX_SPREAD,
    diffuseCues: parseCueNames(cfg.ROUTER_DIFFUSE_CUES),
    maxQuestionWords: cfg.ROUTER_MAX_QUESTION_WORDS,
    minAbsentTerms: cfg.ROUTER_MIN_ABSENT_TERMS,
    latencyMsPerCall: cfg.ROUTER_LATENCY_MS_PER_CALL,
    latencyMsPerKiloToken: cfg.ROUTER_LATENCY_MS_PER_1K_TOKENS,
  };
}

/** Throws INVALID_PARAMETER unless every budget given is a non-negative number (calls an integer). */
export function validateBudgets(b: Budgets): void {
  for (const [name, v] of Object.entries(b) as Array<[keyof Budgets, number | undefined]>) {
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (name === 'maxCalls' && !Number.isInteger(v))) {
      throw new AppError('INVALID_PARAMETER', [`budgets.${name} must be ${name === 'maxCalls' ? 'an integer' : 'a number'} ≥ 0, got ${JSON.stringify(v)}`]);
    }
  }
}

/** Throws INVALID_PARAMETER when a request asks for both escalations: Self-Route escalates a declined retrieval answer, the probe keeps it. */
export function validateEscalation(o: { selfRoute?: boolean | undefined; probe?: boolean | undefined }): void {
  if (o.selfRoute === true && o.probe === true) {
    throw new AppError('INVALID_PARAMETER', ['selfRoute and probe are two different escalations (Self-Route escalates a declined retrieval answer, the probe keeps it): ask for one']);
  }
}

/**
 * Answers a question the way its evidence asks for: retrieves (Adaptive-k),
 * decides between retrieval, Chain-of-Agents and full context (or honours an
 * explicit strategy, within the budgets), answers through the AnswerService,
 * and reports the decision with the answer.
 *
 * The retrieval probe (./probe.ts, ROUTER_PROBE, on by default): with a
 * generative reader and strategy auto, every question is answered from
 * retrieval first; an answer that declines or is short is kept, any other is
 * escalated to the policy's whole-text strategy.
 *
 * Self-Route (Li et al., "Retrieval Augmented Generation or Long-Context LLMs?
 * A Comprehensive Study and Hybrid Approach", EMNLP 2024 industry track),
 * instead of the probe when asked for: when auto picks retrieval, the model may
 * reply UNANSWERABLE; the question is then read again whole (full context when
 * it fits, else Chain-of-Agents).
 *
 * Both are off for the extractive reader, which quotes sentences and cannot
 * decline honestly; the decision says so.
 */
/** Most documents in a scope the absent-terms rule reads. */
const VOCABULARY_CACHE = 64;
/** Terms of the document vocabularies kept (a 128k-token book uses ~10 000), least recently used dropped first. */
const VOCABULARY_TERMS = 1_000_000;

export class QueryService {
  private readonly thresholds: RouterThresholds;
  /** Term sets of recently read document versions, for the absent-terms rule. */
  private readonly vocabularies = new Lru<string, Set<string>>(VOCABULARY_TERMS, (v) => v.size);

  constructor(private readonly o: QueryServiceOptions) {
    this.thresholds = thresholdsFromConfig(o.config);
  }

  /**
   * The question's terms no document in scope uses; undefined when the rule is
   * off or the scope is too large to read every document's words for it.
   */
  private async absentTerms(namespace: string, docs: readonly DocumentRecord[], question: string): Promise<string[] | undefined> {
    if (this.thresholds.minAbsentTerms <= 0 || docs.length > VOCABULARY_CACHE) return undefined;
    const vocabularies: Array<Set<string>> = [];
    for (const d of docs) {
      const key = `${namespace}\0${d.id}\0${d.version}`;
      // Requests arriving together on a new version share one reading of its words (~70 ms for a 128k-token book).
      const v = await this.vocabularies.getOrLoad(key, async () => vocabulary(await this.o.retrieval.getText(namespace, d)));
      vocabularies.push(v);
    }
    return absentTerms(question, vocabularies);
  }

  /**
   * The reader for a request: the configured one when `choice` asks for
   * nothing new; else a reader made for the request (release it after), only
   * among configured providers and allowed models (INVALID_PARAMETER otherwise).
   */
  chooseLlm(choice: LlmChoice | undefined): ChosenLlm {
    const cfg = this.o.config;
    const base = this.o.answers.llm;
    const keep = { llm: base, release: async () => {} };
    if (!choice || (choice.provider === undefined && choice.model === undefined)) return keep;
    const provider = choice.provider ?? cfg.LLM_PROVIDER;
    const configured = [...new Set([cfg.LLM_PROVIDER, 'extractive'])];
    if (!configured.includes(provider)) {
      throw new AppError('INVALID_PARAMETER', [`llm.provider ${JSON.stringify(provider)} is not configured on this server; available: ${configured.join(', ')}`]);
    }
    if (choice.model !== undefined && provider !== 'openai') {
      throw new AppError('INVALID_PARAMETER', [`llm.model can only be chosen for the openai provider, not ${provider}`]);
    }
    const allowedModels = [cfg.LLM_MODEL, ...cfg.ROUTER_ALLOWED_MODELS.split(',').map((s) => s.trim())].filter((s) => s !== '');
    if (choice.model !== undefined && !allowedModels.includes(choice.model)) {
      throw new AppError('INVALID_PARAMETER', [`llm.model ${JSON.stringify(choice.model)} is not allowed on this server; allowed: ${allowedModels.join(', ')}`]);
    }
    const model = choice.model ?? (provider === cfg.LLM_PROVIDER ? cfg.LLM_MODEL : '');
    if (provider === cfg.LLM_PROVIDER && model === cfg.LLM_MODEL) return keep;
    if (provider === 'extractive' && base.kind === 'extractive') return keep;
    if (!this.o.createLlm) throw new AppError('INVALID_PARAMETER', ['this server does not offer a per-request choice of LLM']);
    const llm = this.o.createLlm({ ...cfg, LLM_PROVIDER: provider, LLM_MODEL: model } as Config);
    return { llm, release: () => llm.close() };
  }

  async query(input: QueryInput): Promise<QueryResult> {
    const requested: RequestedStrategy = input.strategy ?? 'auto';
    if (requested !== 'auto' && !isStrategyName(requested)) throw new AppError('UNKNOWN_STRATEGY', [JSON.stringify(requested)]);
    const budgets = input.budgets ?? {};
    validateBudgets(budgets);
    const llm = input.llm ?? this.o.answers.llm;
    const log = this.o.logger.child({ strategy: requested });
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
    const ctx = { question: input.question, documentTokens: r.tokens.documents, window, budgets, estimates, absentTerms: await this.absentTerms(input.namespace, docs, input.question) };
    const latency = {
      rag: estimateLatencyMs(estimates.rag, this.thresholds),
      full: estimateLatencyMs(estimates.full, this.thresholds),
      coa: estimateLatencyMs(estimates.coa, this.thresholds),
    };
    let strategy: StrategyName;
    let reasons: string[];
    let cues: Cue[];
    const libraryReasons = r.library ? [`documents: ${r.library.reasons.join('; ')}`] : [];
    let answerMayBeAbsent = false;
    if (requested === 'auto') {
      const routed = decide(r.signals, ctx, this.thresholds);
      answerMayBeAbsent = routed.answerMayBeAbsent;
      strategy = routed.strategy;
      reasons = [...libraryReasons, ...routed.reasons];
      cues = routed.cues;
    } else {
      const why = overBudget(requested, estimates[requested], budgets, latency[requested]);
      if (why) {
        const e = estimates[requested];
        throw new AppError(
          'BUDGET_TOO_SMALL',
          [`The budget is too small for strategy ${requested}: ${why}. The minimum for it is ${e.promptTokens} prompt tokens and ${e.calls} LLM call${e.calls === 1 ? '' : 's'}.`],
          { details: { strategy: requested, minimum: { promptTokens: e.promptTokens, calls: e.calls, latencyMs: Math.round(latency[requested]) } } },
        );
      }
      strategy = requested;
      reasons = [`strategy ${requested} was requested`, ...libraryReasons];
      cues = findCues(input.question);
      // What auto would have done, for comparison; within these budgets it may have had no option at all.
      try {
        const routed = decide(r.signals, ctx, this.thresholds);
        if (routed.strategy !== requested) reasons.push(`auto would have chosen ${routed.strategy}: ${routed.reasons.join('; ')}`);
      } catch (err) {
        if (!(err instanceof AppError && err.code === 'BUDGET_TOO_SMALL')) throw err;
      }
    }

    validateEscalation(input);
    const selfRouteRequested = input.selfRoute ?? (input.probe === true ? false : this.o.config.ROUTER_SELF_ROUTE);
    let selfRouteNote: string | null = null;
    if (selfRouteRequested && llm.kind === 'extractive') {
      selfRouteNote = 'Self-Route escalation is off: the extractive reader quotes sentences and cannot decline honestly';
    } else if (selfRouteRequested && requested !== 'auto') {
      selfRouteNote = 'Self-Route escalation applies only to strategy auto';
    }
    if (selfRouteRequested && selfRouteNote === null && answerMayBeAbsent) {
      // Escalating would hand the question to the reader least likely to say the answer is not there.
      selfRouteNote = 'Self-Route escalation is off for this question: its answer may not be in the text, so a reply that the passages do not answer it is kept';
    }
    const selfRoute = selfRouteRequested && llm.kind === 'generative' && requested === 'auto' && strategy === 'rag' && !answerMayBeAbsent;
    // Said in the reasons only when asked for explicitly; the note field always carries it.
    if (input.selfRoute === true && selfRouteNote) reasons = [...reasons, selfRouteNote];

    const probeRequested = input.probe ?? (selfRouteRequested ? false : this.o.config.ROUTER_PROBE);
    const maxAnswerTokens = this.o.config.ROUTER_PROBE_MAX_ANSWER_TOKENS;
    let probeNote: string | null = null;
    const fits = estimates.full.feasible && !estimates.full.truncated;
    // Where a retrieval answer that is not kept goes (Self-Route's and the probe's escalation), first the strategy read if the budgets allow.
    const wholeText = escalationOrder(strategy, fits);
    const fallback = strategy !== 'rag' ? strategy : (wholeText.find((s) => overBudget(s, estimates[s], budgets, latency[s]) === null) ?? null);
    if (probeRequested) {
      if (llm.kind === 'extractive') probeNote = 'The retrieval probe is off: the extractive reader quotes sentences, so neither a decline nor the length of its answer says anything';
      else if (requested !== 'auto') probeNote = 'The retrieval probe applies only to strategy auto';
      else if (overBudget('rag', estimates.rag, budgets, latency.rag) !== null) probeNote = 'The retrieval probe is off for this question: retrieval does not fit the budgets or the window';
      else if (strategy !== 'rag' && overBudget(strategy, sumEstimates(estimates.rag, estimates[strategy]), budgets, latency.rag + latency[strategy]) !== null) {
        probeNote = `The retrieval probe is off for this question: the budgets leave no room for a retrieval answer before ${strategy}`;
      }
    }
    const probe = probeRequested && probeNote === null;
    if (probe) {
      reasons = [
        ...reasons,
        `retrieval probe: answering from the passages first; the answer is kept if it says the text does not hold the answer or is short (at most ${maxAnswerTokens} tokens)` +
          (fallback ? `, else the question is read with ${fallback}` : ''),
      ];
      strategy = 'rag';
    } else if (input.probe === true && probeNote) reasons = [...reasons, probeNote];

    const decision: QueryDecision = {
      strategy,
      requested,
      reasons,
      documents: r.library ? { picked: r.library.picked.map((d) => d.id), namespaceDocuments: r.library.namespaceDocuments, fallback: r.library.fallback, reasons: r.library.reasons } : null,
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
      cues,
      estimates: estimateViews(estimates, budgets, latency),
      budgets,
      selfRoute: { requested: selfRouteRequested, active: selfRoute, note: selfRouteNote },
      probe: { requested: probeRequested, active: probe, note: probeNote, maxAnswerTokens, fallback: probe ? fallback : null, verdict: null },
      escalated: null,
    };
    emit({ type: 'decision', decision });

    const base = {
      namespace: input.namespace,
      question: input.question,
      documentIds: input.documentIds,
      documents: docs,
      selection: input.selection,
      score: input.score,
      hybridAlpha: input.hybridAlpha,
      llm,
      ...(input.signal ? { signal: input.signal } : {}),
      onEvent: emit,
    };
    // Retrieval answers read the passages the decision was made on, not a second retrieval.
    const first = await this.o.answers.answer({ ...base, strategy, retrieval: r, ...(selfRoute ? { allowUnanswerable: true } : {}) });
    // Why the first answer is not the last, in words; null keeps it.
    let insufficient: string | null = null;
    if (selfRoute && isUnanswerable(first.answer)) insufficient = `the model found the retrieved passages insufficient (replied ${first.answer.trim().slice(0, 40)})`;
    if (probe) {
      const verdict = judgeProbe(first.answer, maxAnswerTokens);
      decision.probe.verdict = verdict;
      if (verdict.why === 'declined') {
        decision.reasons.push('retrieval probe: the answer says the passages do not hold what was asked; kept, since a reader given the whole text more often invents an answer to such questions (ask with strategy full to read it whole anyway)');
      } else if (verdict.why === 'short') {
        decision.reasons.push(`retrieval probe: a short answer (${verdict.answerTokens} tokens, at most ${maxAnswerTokens}) found in the passages; kept`);
      } else {
        insufficient =
          verdict.why === 'empty'
            ? 'the retrieval answer is empty'
            : `the retrieval answer is long (${verdict.answerTokens} tokens, more than ${maxAnswerTokens}): the passages were likely not enough`;
      }
    }
    if (insufficient === null) {
      log.info({ chosen: strategy, escalated: false }, 'query answered');
      return { ...first, decision };
    }

    // Read more, within what the budgets leave after the first attempt.
    const left: Budgets = {
      ...(budgets.maxPromptTokens !== undefined ? { maxPromptTokens: budgets.maxPromptTokens - first.totals.promptTokens } : {}),
      ...(budgets.maxCalls !== undefined ? { maxCalls: budgets.maxCalls - first.totals.calls } : {}),
      ...(budgets.maxLatencyMs !== undefined ? { maxLatencyMs: budgets.maxLatencyMs - first.totals.latencyMs } : {}),
    };
    // Strategies before the fallback in this order did not fit the whole budgets, so not what is left of them either.
    const target = wholeText.find((s) => overBudget(s, estimates[s], left, latency[s]) === null);
    const by = selfRoute ? 'Self-Route' : 'retrieval probe';
    if (!target) {
      decision.reasons.push(
        selfRoute
          ? 'the model found the passages insufficient (UNANSWERABLE), but the budgets leave no room to read more'
          : `${by}: ${insufficient}, but the budgets leave no room to read more; the retrieval answer is kept`,
      );
      log.info({ chosen: strategy, escalated: false }, 'query not escalated: no budget left');
      return { ...first, decision };
    }
    const reason = `${insufficient}: reading ` + (target === 'full' ? (fits ? 'the whole text' : 'the middle-truncated text') : 'the whole text with Chain-of-Agents');
    emit({ type: 'escalate', from: 'rag', to: target, reason });
    const second = await this.o.answers.answer({ ...base, strategy: target });
    decision.strategy = target;
    decision.reasons.push(`${by}: ${reason}`);
    decision.escalated = { from: 'rag', to: target, reason, firstAttempt: first };
    log.info({ chosen: target, escalated: true, by }, 'query answered after escalation');
    return { ...second, decision };
  }
}

/** The cost of two strategies run one after the other. */
function sumEstimates(a: StrategyEstimate, b: StrategyEstimate): StrategyEstimate {
  return { feasible: a.feasible && b.feasible, promptTokens: a.promptTokens + b.promptTokens, calls: a.calls + b.calls, contextTokens: a.contextTokens + b.contextTokens };
}

function estimateViews(e: CostEstimates, budgets: Budgets, latency: Record<StrategyName, number>): QueryDecision['estimates'] {
  const view = (s: StrategyName): StrategyEstimateView => ({
    feasible: e[s].feasible,
    ...(e[s].reason ? { reason: e[s].reason } : {}),
    promptTokens: e[s].promptTokens,
    calls: e[s].calls,
    contextTokens: e[s].contextTokens,
    latencyMs: Math.round(latency[s]),
    excludedBy: overBudget(s, e[s], budgets, latency[s]),
  });
  return { rag: view('rag'), coa: { ...view('coa'), segments: e.coa.segments }, full: { ...view('full'), truncated: e.full.truncated } };
}
