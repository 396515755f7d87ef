import type { Logger } from 'pino';
import type { Config } from '../../src/config.js';
import { buildContainer, type Container, type ContainerOptions } from '../../src/container.js';
import { createEmbedder } from '../../src/adapters/embedder/index.js';
import { ExtractiveReader } from '../../src/adapters/llm/extractive.js';
import type { RetrievalResult } from '../../src/core/retrieval/service.js';
import type { SelectionMethod } from '../../src/core/retrieval/select.js';
import { DEFAULTS, type ScoreKind } from '../../src/core/retrieval/defaults.js';
import type { QueryResult } from '../../src/core/routing/query-service.js';
import type { AnswerResult, StrategyName } from '../../src/core/strategies/types.js';
import type { Progress } from './progress.js';

/** A document the run needs in the service. */
export interface DocumentSpec {
  id: string;
  title: string;
  text: string;
}

/** What the harness reads of a retrieval: the same fields in process and over HTTP (POST /v1/retrieve). */
export type RetrievalView = Pick<
  RetrievalResult,
  'scope' | 'library' | 'passages' | 'curve' | 'adaptiveK' | 'signals' | 'tokens' | 'timings'
> & {
  /** Chunks read, best first (over HTTP without their text). */
  selected: Array<Omit<RetrievalResult['selected'][number], 'text'>>;
};

/** What identifies the service a run measured; written to run.json. */
export interface BackendDescription {
  mode: 'in-process' | 'http';
  reader: string;
  embedder: string;
  /** Settings the numbers depend on. */
  settings: Record<string, unknown>;
}

/**
 * The service as the harness uses it: in process (the core, as the routes
 * call it) or over HTTP against a running server. Both give the same shapes,
 * so the runner does not know which it talks to.
 */
export interface Backend {
  describe(): BackendDescription;
  /** Submits what is missing (the service skips content it already holds) and waits until every document is ready. */
  ensureDocuments(docs: readonly DocumentSpec[], progress: Progress): Promise<void>;
  /** Over one document, or over the whole namespace when `documentId` is null (the documents are then picked first). */
  retrieve(documentId: string | null, question: string, selection: SelectionMethod): Promise<RetrievalView>;
  answer(
    documentId: string,
    question: string,
    strategy: StrategyName,
    selection: SelectionMethod,
    signal?: AbortSignal,
  ): Promise<AnswerResult>;
  /** Strategy auto: the router decides. Over the whole namespace when `documentId` is null. */
  query(
    documentId: string | null,
    question: string,
    selection: SelectionMethod,
    signal?: AbortSignal,
  ): Promise<QueryResult>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function settingsOf(cfg: Config, window: number): Record<string, unknown> {
  const keys = [
    'CHUNK_TOKENS',
    'CHUNK_OVERLAP_TOKENS',
    'RETRIEVAL_SCORE',
    'ADAPTIVE_K_A',
    'ADAPTIVE_K_B',
    'ADAPTIVE_K_BUFFER',
    'ADAPTIVE_K_BUFFER_TOKENS',
    'ADAPTIVE_K_BUFFER_MAX_SHARE',
    'LLM_MAX_ANSWER_TOKENS',
    'ROUTER_MIN_RELATIVE_GAP',
    'ROUTER_MAX_ABOVE_CUT',
    'ROUTER_MAX_SELECTED_SHARE',
    'ROUTER_MAX_SPREAD',
    'ROUTER_DIFFUSE_CUES',
    'ROUTER_SELF_ROUTE',
  ] as const;
  return { ...Object.fromEntries(keys.map((k) => [k, cfg[k]])), hybridAlpha: DEFAULTS.hybridAlpha, window };
}

export interface InProcessOptions {
  config: Config;
  logger: Logger;
  namespace: string;
  /** Context window for the extractive reader (it has none of its own: default 1 000 000). Other readers use LLM_CONTEXT_WINDOW. */
  readerWindow?: number;
  /**
   * Extractive reader: most sentences it embeds per call (ExtractiveReader
   * `maxEmbeddedSentences`, default 160). Fewer make long runs on a small
   * machine feasible at some cost in answer quality; recorded in run.json.
   */
  readerSentences?: number;
  /** Replace adapters (tests). */
  overrides?: ContainerOptions['overrides'];
}

/** The core in this process: buildContainer with role 'local' (jobs run here). */
export class InProcessBackend implements Backend {
  readonly container: Container;
  private readonly score: ScoreKind;

  constructor(private readonly o: InProcessOptions) {
    const overrides = { ...(o.overrides ?? {}) };
    // Built here rather than through the `llms` registry: the registry builds readers from Config, and the
    // extractive reader's window and sentence cap are eval knobs (recorded in run.json) with no setting.
    if (
      o.config.LLM_PROVIDER === 'extractive' &&
      (o.readerWindow !== undefined || o.readerSentences !== undefined) &&
      !overrides.llm
    ) {
      overrides.embedder ??= createEmbedder(o.config, { logger: o.logger });
      overrides.llm = new ExtractiveReader({
        embedder: overrides.embedder,
        ...(o.readerWindow !== undefined ? { contextWindow: o.readerWindow } : {}),
        ...(o.readerSentences !== undefined ? { maxEmbeddedSentences: o.readerSentences } : {}),
      });
    }
    this.container = buildContainer(o.config, o.logger, { role: 'local', overrides });
    this.score = o.config.RETRIEVAL_SCORE;
  }

  async start(): Promise<void> {
    await this.container.runner?.start();
  }

  describe(): BackendDescription {
    const c = this.container;
    return {
      mode: 'in-process',
      reader: `${c.llm.id}:${c.llm.model}`,
      embedder: c.embedder.id,
      settings: {
        ...settingsOf(c.config, c.llm.contextWindow),
        ...(this.o.readerSentences !== undefined ? { readerSentences: this.o.readerSentences } : {}),
      },
    };
  }

  async ensureDocuments(docs: readonly DocumentSpec[], progress: Progress): Promise<void> {
    const c = this.container;
    progress.start('ingest', docs.length);
    for (const d of docs)
      await c.documentService.submit({
        namespace: this.o.namespace,
        id: d.id,
        title: d.title,
        text: d.text,
        source: 'eval',
      });
    for (const d of docs) {
      for (;;) {
        const rec = await c.documents.get(this.o.namespace, d.id);
        if (rec?.status === 'failed' && rec.pending === null)
          throw new Error(`ingestion of ${d.id} failed: ${JSON.stringify(rec.error)}`);
        if (rec && rec.version !== null && rec.pending === null) break;
        await sleep(200);
      }
      progress.tick(d.id);
    }
    progress.stop();
  }

  retrieve(documentId: string | null, question: string, selection: SelectionMethod): Promise<RetrievalView> {
    return this.container.retrieval.retrieve({
      namespace: this.o.namespace,
      question,
      documentIds: documentId === null ? null : [documentId],
      method: selection,
      score: this.score,
      hybridAlpha: DEFAULTS.hybridAlpha,
    });
  }

  answer(
    documentId: string,
    question: string,
    strategy: StrategyName,
    selection: SelectionMethod,
    signal?: AbortSignal,
  ): Promise<AnswerResult> {
    return this.container.answers.answer({
      namespace: this.o.namespace,
      question,
      documentIds: [documentId],
      strategy,
      selection,
      score: this.score,
      hybridAlpha: DEFAULTS.hybridAlpha,
      ...(signal ? { signal } : {}),
    });
  }

  query(
    documentId: string | null,
    question: string,
    selection: SelectionMethod,
    signal?: AbortSignal,
  ): Promise<QueryResult> {
    return this.container.query.query({
      namespace: this.o.namespace,
      question,
      documentIds: documentId === null ? null : [documentId],
      strategy: 'auto',
      selection,
      score: this.score,
      hybridAlpha: DEFAULTS.hybridAlpha,
      ...(signal ? { signal } : {}),
    });
  }

  close(): Promise<void> {
    return this.container.close();
  }
}

/** The body fields of a selection method (routes/retrieve.ts SelectionParams). */
export function selectionBody(s: SelectionMethod): Record<string, unknown> {
  switch (s.kind) {
    case 'top-k':
      return { method: 'top-k', k: s.k };
    case 'token-budget':
      return { method: 'token-budget', tokens: s.tokens };
    case 'adaptive-k': {
      const { kind: _kind, ...rest } = s;
      return { method: 'adaptive-k', ...rest };
    }
  }
}

export interface HttpOptions {
  /** Server base URL, e.g. http://127.0.0.1:3000 (the /v1 prefix is added). */
  url: string;
  apiKey?: string;
  /** Sent as x-namespace (admin key or no auth); a tenant key acts in its own namespace. */
  namespace: string;
  /** Per request. Default 600 000 ms: a Chain-of-Agents answer over a long text takes long. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** A running server over HTTP: POST /v1/documents, /v1/retrieve, /v1/answer, /v1/query. */
export class HttpBackend implements Backend {
  private readonly base: string;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly o: HttpOptions) {
    this.base = o.url.replace(/\/+$/, '');
    this.fetchImpl = o.fetch ?? fetch;
  }

  describe(): BackendDescription {
    return { mode: 'http', reader: `server:${this.base}`, embedder: `server:${this.base}`, settings: {} };
  }

  private async call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = { 'x-namespace': this.o.namespace };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.o.apiKey) headers.authorization = `Bearer ${this.o.apiKey}`;
    const timeout = AbortSignal.timeout(this.o.timeoutMs ?? 600_000);
    const res = await this.fetchImpl(`${this.base}/v1${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = text;
    }
    if (!res.ok) {
      const e = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
      const err = new Error(
        `${method} ${path}: HTTP ${res.status} ${e?.code ?? ''} ${e?.message ?? String(text).slice(0, 200)}`.trim(),
      ) as Error & { code?: string };
      err.code = e?.code ?? `HTTP_${res.status}`;
      throw err;
    }
    return parsed as T;
  }

  async ensureDocuments(docs: readonly DocumentSpec[], progress: Progress): Promise<void> {
    progress.start('ingest', docs.length);
    for (const d of docs) await this.call('POST', '/documents', { id: d.id, title: d.title, text: d.text });
    for (const d of docs) {
      for (;;) {
        const rec = await this.call<{ status: string; version: string | null; pending: unknown; error: unknown }>(
          'GET',
          `/documents/${encodeURIComponent(d.id)}`,
        );
        if (rec.status === 'failed' && rec.pending === null)
          throw new Error(`ingestion of ${d.id} failed: ${JSON.stringify(rec.error)}`);
        if (rec.version !== null && rec.pending === null) break;
        await sleep(500);
      }
      progress.tick(d.id);
    }
    progress.stop();
  }

  retrieve(documentId: string | null, question: string, selection: SelectionMethod): Promise<RetrievalView> {
    return this.call('POST', '/retrieve', {
      question,
      ...(documentId === null ? {} : { documentIds: [documentId] }),
      ...selectionBody(selection),
      includeCurve: true,
      denseScores: true,
    });
  }

  answer(
    documentId: string,
    question: string,
    strategy: StrategyName,
    selection: SelectionMethod,
    signal?: AbortSignal,
  ): Promise<AnswerResult> {
    return this.call(
      'POST',
      '/answer',
      { question, documentIds: [documentId], strategy, ...selectionBody(selection) },
      signal,
    );
  }

  query(
    documentId: string | null,
    question: string,
    selection: SelectionMethod,
    signal?: AbortSignal,
  ): Promise<QueryResult> {
    return this.call(
      'POST',
      '/query',
      {
        question,
        ...(documentId === null ? {} : { documentIds: [documentId] }),
        strategy: 'auto',
        ...selectionBody(selection),
      },
      signal,
    );
  }

  async close(): Promise<void> {}
}
