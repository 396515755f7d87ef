export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** A span of a source document, carried so answers can cite it. */
export interface SourceSpan {
  documentId: string;
  /** Chunk id when the span is a stored chunk; null for segments cut at read time. */
  chunkId: string | null;
  start: number;
  end: number;
  text: string;
}

/**
 * What a reading step asks for, in structured form. Generative providers read
 * `messages`; the extractive reader cannot read prompts and works from this.
 */
export type ReadingTask =
  | { kind: 'answer'; question: string; passages: readonly SourceSpan[] }
  | { kind: 'coa-worker'; question: string; segment: SourceSpan; previousNote: string; index: number; total: number }
  | { kind: 'coa-manager'; question: string; note: string; noteSources: readonly SourceSpan[] };

export interface Citation {
  documentId: string;
  chunkId: string | null;
  start: number;
  end: number;
  text: string;
}

export interface CompletionRequest {
  messages: readonly ChatMessage[];
  task?: ReadingTask;
  /** Most tokens the answer may take. */
  maxTokens: number;
  temperature?: number;
  signal?: AbortSignal;
  /** Called with each piece of text as it streams in. */
  onToken?: (text: string) => void;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  /** True when the counts come from an approximate tokenizer rather than the model's own. */
  estimated: boolean;
}

export interface CompletionResult {
  text: string;
  usage: Usage;
  latencyMs: number;
  finishReason: 'stop' | 'length' | 'cancelled' | 'unknown';
  /** Extractive reader only: the sentences it answered with. */
  citations?: Citation[];
}

export interface LlmProvider {
  /** Provider name: 'openai', 'llama-cpp', 'extractive'. */
  readonly id: string;
  readonly model: string;
  /** Total tokens a prompt plus its completion may take. */
  readonly contextWindow: number;
  /**
   * 'generative' providers write text from prompts; the 'extractive' reader
   * only quotes sentences of the context and cannot decline or reason.
   */
  readonly kind: 'generative' | 'extractive';
  /** True when countTokens approximates the model's tokenizer. */
  readonly tokenCountIsEstimate: boolean;
  countTokens(text: string): number;
  /** Tokens the chat template adds around messages (counted into every prompt). */
  countMessageTokens(messages: readonly ChatMessage[]): number;
  complete(req: CompletionRequest): Promise<CompletionResult>;
  /**
   * Resolves once a provider that loads its model in the background (llama-cpp)
   * has it, so prompts are sized with the model's own tokenizer; rejects if it
   * cannot load. Providers with nothing to load leave it out.
   */
  ready?(): Promise<void>;
  health(): Promise<void>;
  close(): Promise<void>;
}
