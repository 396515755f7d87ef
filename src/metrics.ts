import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { isAppError } from './errors.js';
import type { CompletionRequest, CompletionResult, LlmProvider } from './ports/llm.js';
import type { JobProcessor, JobQueue } from './ports/job-queue.js';
import { withComplete } from './core/wrap-llm.js';

/** Seconds: an HTTP request or a job, from a health probe (1 ms) to a Chain-of-Agents run over a book (minutes). */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const THROUGHPUT_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

/**
 * The process's Prometheus metrics, on one registry of its own (no global
 * default registry), named `<what>_<unit>` / `_total` with labels of low
 * cardinality: route patterns, strategies, status codes, error codes, never
 * document ids or namespaces. GET /metrics serves the API process's; the
 * worker serves its own when WORKER_METRICS_PORT is set.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });

  readonly decisions = new Counter({
    name: 'router_decisions_total',
    help: 'Questions answered, by the strategy requested (auto, rag, coa, full) and the strategy whose answer was returned.',
    labelNames: ['requested', 'strategy'] as const,
    registers: [this.registry],
  });

  readonly escalations = new Counter({
    name: 'router_escalations_total',
    help: 'Questions the retrieval probe or Self-Route read again with a whole-text strategy, by that strategy.',
    labelNames: ['to'] as const,
    registers: [this.registry],
  });

  readonly documentTokens = new Counter({
    name: 'document_tokens_total',
    help: 'Document tokens per answer run, by strategy: kind="read" the tokens given to the reader, kind="whole" the tokens of reading the documents whole. Tokens saved = whole - read.',
    labelNames: ['strategy', 'kind'] as const,
    registers: [this.registry],
  });

  readonly llmCalls = new Counter({
    name: 'llm_calls_total',
    help: 'Calls to the LLM by provider and role (answer, coa-worker, coa-manager, rewrite), and whether they succeeded.',
    labelNames: ['provider', 'role', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly llmErrors = new Counter({
    name: 'llm_errors_total',
    help: 'Failed LLM calls by provider and stable error code.',
    labelNames: ['provider', 'code'] as const,
    registers: [this.registry],
  });

  readonly llmTokens = new Counter({
    name: 'llm_tokens_total',
    help: 'Tokens of successful LLM calls by provider and kind (prompt, completion).',
    labelNames: ['provider', 'kind'] as const,
    registers: [this.registry],
  });

  readonly jobDuration = new Histogram({
    name: 'job_duration_seconds',
    help: 'Runs of background jobs by job name and outcome (completed, failed).',
    labelNames: ['name', 'outcome'] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });

  readonly ingestChunks = new Counter({
    name: 'ingest_chunks_total',
    help: 'Chunks stored by ingestion jobs; rate(ingest_chunks_total[1m]) is the chunks per second.',
    registers: [this.registry],
  });

  readonly ingestThroughput = new Histogram({
    name: 'ingest_chunks_per_second',
    help: 'Chunks per second of each ingestion job that stored chunks (chunking, embedding and storing).',
    buckets: THROUGHPUT_BUCKETS,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Reports the queue's depth at each scrape (nothing when the queue cannot be reached). */
  watchQueue(queue: JobQueue): void {
    new Gauge({
      name: 'queue_jobs',
      help: 'Jobs not finished yet, by state (waiting, active, delayed).',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        try {
          const c = await queue.counts();
          for (const [state, n] of Object.entries(c)) this.set({ state }, n);
        } catch {
          this.reset();
        }
      },
    });
  }

  /** Times each run of a job; an ingestion result's `chunks` counts towards the chunk rate. */
  timeJob<D, R>(name: string, processor: JobProcessor<D, R>): JobProcessor<D, R> {
    return async (job) => {
      const end = this.jobDuration.startTimer({ name });
      try {
        const result = await processor(job);
        const seconds = end({ outcome: 'completed' });
        const chunks = (result as { chunks?: unknown } | null)?.chunks;
        if (typeof chunks === 'number' && chunks > 0) {
          this.ingestChunks.inc(chunks);
          if (seconds > 0) this.ingestThroughput.observe(chunks / seconds);
        }
        return result;
      } catch (err) {
        end({ outcome: 'failed' });
        throw err;
      }
    };
  }

  /** An LLM whose calls are counted; every other member forwards to `llm`. */
  meterLlm(llm: LlmProvider): LlmProvider {
    const complete = async (req: CompletionRequest): Promise<CompletionResult> => {
      const role = req.task?.kind ?? 'rewrite';
      try {
        const res = await llm.complete(req);
        this.llmCalls.inc({ provider: llm.id, role, outcome: 'ok' });
        this.llmTokens.inc({ provider: llm.id, kind: 'prompt' }, res.usage.promptTokens);
        this.llmTokens.inc({ provider: llm.id, kind: 'completion' }, res.usage.completionTokens);
        return res;
      } catch (err) {
        this.llmCalls.inc({ provider: llm.id, role, outcome: 'error' });
        this.llmErrors.inc({ provider: llm.id, code: isAppError(err) ? err.code : 'INTERNAL' });
        throw err;
      }
    };
    return withComplete(llm, complete);
  }

  /** Counts the document tokens of each answer run of `service` (its `answer` method is wrapped in place). */
  meterAnswers<
    S extends { answer(input: I): Promise<R> },
    I,
    R extends { strategy: string; contextTokens: number; fullContextTokens: number },
  >(service: S): S {
    const answer = service.answer.bind(service);
    service.answer = async (input: I) => {
      const r = await answer(input);
      this.documentTokens.inc({ strategy: r.strategy, kind: 'read' }, r.contextTokens);
      this.documentTokens.inc({ strategy: r.strategy, kind: 'whole' }, r.fullContextTokens);
      return r;
    };
    return service;
  }

  /** Counts the decisions of `service` (its `query` method is wrapped in place). */
  meterQueries<
    S extends { query(input: I): Promise<R> },
    I extends { strategy?: string },
    R extends { strategy: string; decision: { escalated: null | { to: string } } },
  >(service: S): S {
    const query = service.query.bind(service);
    service.query = async (input: I) => {
      const r = await query(input);
      this.decisions.inc({ requested: input.strategy ?? 'auto', strategy: r.strategy });
      if (r.decision.escalated) this.escalations.inc({ to: r.decision.escalated.to });
      return r;
    };
    return service;
  }
}
