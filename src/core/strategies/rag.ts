import type { Citation, CompletionResult, SourceSpan } from '../../ports/llm.js';
import { assembleContext, assemblyChunk, type Passage } from '../retrieval/assemble.js';
import type { RetrievalResult, ScoredCandidate } from '../retrieval/service.js';
import type { Reserves } from './budget.js';
import type { LlmCaller } from './caller.js';
import { ragMessages, type LabelledText } from './prompts.js';
import type { StrategyOutput } from './output.js';

export interface RagInput {
  caller: LlmCaller;
  question: string;
  retrieval: RetrievalResult;
  /** Document titles by id, for the passage labels. */
  titles: ReadonlyMap<string, string>;
  /** Original text of a document at the retrieved version, to re-assemble passages after dropping chunks. */
  getText?: (documentId: string) => string | undefined;
  reserves: Reserves;
  allowUnanswerable: boolean;
}

/**
 * Retrieval-augmented reading: the passages Adaptive-k selected, in document
 * order and labelled with their document and offsets, then the question.
 * When they do not fit the window with the answer reserve, the
 * lowest-scored chunks are dropped (the most that fit is found by binary
 * search over exact prompt counts) and the result lists them.
 */
export async function runRag(input: RagInput): Promise<StrategyOutput> {
  const { caller, question, retrieval: r, reserves } = input;
  const llm = caller.llm;
  const limit = llm.contextWindow - reserves.answer;
  const build = (ps: readonly Passage[]) =>
    ragMessages(
      question,
      ps.map((p) => labelled(p, input.titles)),
      { allowUnanswerable: input.allowUnanswerable },
    );

  let passages = r.passages;
  let kept: readonly ScoredCandidate[] = r.selected;
  let messages = build(passages);
  // Counted once here and handed to the caller's fit check, unless chunks are dropped below.
  let promptTokens: number | undefined = llm.countMessageTokens(messages);
  if (promptTokens > limit) {
    // selected is best first: keeping a prefix drops the lowest-scored chunks.
    const assemble = (m: number) => assemblePrefix(r.selected, m, input.getText);
    let lo = 0;
    let hi = r.selected.length - 1;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (llm.countMessageTokens(build(assemble(mid))) <= limit) lo = mid;
      else hi = mid - 1;
    }
    kept = r.selected.slice(0, lo);
    passages = assemble(lo);
    messages = build(passages);
    promptTokens = undefined;
  }
  const keptIds = new Set(kept.map((c) => c.id));
  const dropped = r.selected.filter((c) => !keptIds.has(c.id));

  const spans: SourceSpan[] = passages.map((p) => ({
    documentId: p.documentId,
    chunkId: p.chunkIds.length === 1 ? p.chunkIds[0]! : null,
    start: p.start,
    end: p.end,
    text: p.text,
  }));
  const res = await caller.call({
    role: 'answer',
    index: null,
    messages,
    task: { kind: 'answer', question, passages: spans },
    maxTokens: reserves.answer,
    stream: true,
    ...(promptTokens !== undefined ? { promptTokens } : {}),
  });

  return {
    answer: res.text,
    citations: citationsOf(res, spans, kept),
    contextTokens: passages.reduce((n, p) => n + llm.countTokens(p.text), 0),
    truncated: null,
    segments: null,
    notes: [],
    retrieval: {
      method: r.method,
      score: r.score,
      signals: r.signals,
      tokens: r.tokens,
      adaptiveK: r.adaptiveK,
      timings: r.timings,
      droppedForWindow:
        dropped.length === 0
          ? null
          : { chunkIds: dropped.map((c) => c.id), tokens: dropped.reduce((n, c) => n + c.tokens, 0) },
    },
  };
}

function labelled(p: Passage, titles: ReadonlyMap<string, string>): LabelledText {
  return { title: titles.get(p.documentId) || p.documentId, start: p.start, end: p.end, text: p.text };
}

function assemblePrefix(selected: readonly ScoredCandidate[], m: number, getText: RagInput['getText']): Passage[] {
  return assembleContext(selected.slice(0, m).map(assemblyChunk), getText ? { getText } : {}).passages;
}

/**
 * Extractive reader: its quoted sentences, each attributed to the chunk that
 * holds it. Generative: the passages the answer cites as [n], or every
 * passage read when it cites none.
 */
function citationsOf(
  res: CompletionResult,
  spans: readonly SourceSpan[],
  chunks: readonly ScoredCandidate[],
): Citation[] {
  if (res.citations) {
    return res.citations.map((c) => ({ ...c, chunkId: c.chunkId ?? chunkAt(chunks, c.documentId, c.start, c.end) }));
  }
  const cited = new Set<number>();
  for (const m of res.text.matchAll(/\[(\d{1,4})\]/g)) {
    const n = Number(m[1]) - 1;
    if (n >= 0 && n < spans.length) cited.add(n);
  }
  const chosen = cited.size > 0 ? [...cited].sort((a, b) => a - b).map((i) => spans[i]!) : spans;
  return chosen.map((s) => ({
    documentId: s.documentId,
    chunkId: s.chunkId,
    start: s.start,
    end: s.end,
    text: s.text,
  }));
}

/** The chunk that contains the span (or at least its start), preferring the one that contains all of it. */
function chunkAt(chunks: readonly ScoredCandidate[], documentId: string, start: number, end: number): string | null {
  const same = chunks.filter((c) => c.documentId === documentId);
  return (
    (same.find((c) => c.start <= start && end <= c.end) ?? same.find((c) => c.start <= start && start < c.end))?.id ??
    null
  );
}
