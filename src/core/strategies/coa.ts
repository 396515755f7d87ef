import { AppError } from '../../errors.js';
import type { SourceSpan } from '../../ports/llm.js';
import { boundNote, packSegments, sentencePieces, slack, type Reserves } from './budget.js';
import type { LlmCaller } from './caller.js';
import type { DocumentText } from './full.js';
import { coaManagerMessages, coaWorkerMessages } from './prompts.js';
import type { StrategyRun } from './output.js';

export interface CoaInput {
  caller: LlmCaller;
  question: string;
  docs: readonly DocumentText[];
  reserves: Reserves;
}

/** Below this many tokens per segment a chain would be mostly instructions: refuse instead. */
export const MIN_SEGMENT_TOKENS = 32;

/** A segment a worker reads, with its place in its document. */
export interface CoaSegment {
  documentId: string;
  title: string;
  start: number;
  end: number;
  tokens: number;
}

/**
 * Tokens of document text one worker can read: the window minus the worker's
 * instructions and question (with labels as long as they can get), the
 * previous note's reserve and the reserve for the note it writes.
 */
export function coaSegmentBudget(
  caller: Pick<LlmCaller, 'llm'>,
  question: string,
  titles: readonly string[],
  reserves: Reserves,
  /** Length of the longest text in characters: it bounds the offsets and the segment count in the labels. Default 99 999 999. */
  longestChars = 99_999_999,
): number {
  const llm = caller.llm;
  const longest = titles.reduce((a, b) => (b.length > a.length ? b : a), '');
  const big = Math.max(2, longestChars);
  const frame = llm.countMessageTokens(
    coaWorkerMessages({
      question,
      previousNote: '',
      segment: { title: longest, start: big, end: big, text: '' },
      index: big - 1,
      total: big,
    }),
  );
  const room = llm.contextWindow - frame - 2 * reserves.note;
  return room - slack(Math.max(0, room));
}

/**
 * Cuts documents into segments of at most `budget` tokens, on sentence
 * boundaries where a sentence fits, tiling each document without gaps; a
 * segment never spans two documents.
 */
export function cutSegments(docs: readonly DocumentText[], budget: number, count: (t: string) => number): CoaSegment[] {
  return docs.flatMap((d) =>
    packSegments(d.text, sentencePieces(d.text, budget, count), budget, count).map((s) => ({
      documentId: d.id,
      title: d.title,
      ...s,
    })),
  );
}

/**
 * Chain-of-Agents (Zhang et al., NeurIPS 2024, "Chain of Agents: Large
 * Language Models Collaborating on Long-Context Tasks"): worker i reads
 * segment i, the question and worker i-1's note, and writes a note; a manager
 * answers from the last note. Each note is bounded to its reserve with the
 * provider's tokenizer, so every worker's prompt fits whatever the previous
 * worker wrote. Reports a `segment` progress event after each worker and stops
 * between workers once the signal fires.
 */
export async function runCoa(input: CoaInput): Promise<StrategyRun> {
  const { caller, question, docs, reserves } = input;
  const llm = caller.llm;
  const count = (t: string) => llm.countTokens(t);
  const budget = coaSegmentBudget(
    caller,
    question,
    docs.map((d) => d.title),
    reserves,
    Math.max(...docs.map((d) => d.text.length)),
  );
  if (budget < MIN_SEGMENT_TOKENS) {
    throw new AppError('BUDGET_TOO_SMALL', [
      `Chain-of-Agents needs at least ${MIN_SEGMENT_TOKENS} tokens of text per worker; the context window of ${llm.contextWindow} leaves ${Math.max(0, budget)} after the question, the instructions and the note reserves of ${reserves.note}`,
    ]);
  }
  const texts = new Map(docs.map((d) => [d.id, d.text]));
  const segments = cutSegments(docs, budget, count);
  const spans: SourceSpan[] = segments.map((s) => ({
    documentId: s.documentId,
    chunkId: null,
    start: s.start,
    end: s.end,
    text: texts.get(s.documentId)!.slice(s.start, s.end),
  }));

  caller.emit({ type: 'progress', stage: 'read', total: segments.length });
  const notes: string[] = [];
  let note = '';
  for (let i = 0; i < segments.length; i++) {
    caller.checkCancelled();
    const seg = segments[i]!;
    const span = spans[i]!;
    let previousNote = boundNote(note, reserves.note, count);
    const build = () =>
      coaWorkerMessages({
        question,
        previousNote,
        segment: { title: seg.title, start: seg.start, end: seg.end, text: span.text },
        index: i,
        total: segments.length,
      });
    let messages = build();
    // Seams between note and segment can cost a few tokens more than budgeted: the note gives them back.
    const over = llm.countMessageTokens(messages) + reserves.note - llm.contextWindow;
    if (over > 0 && previousNote !== '') {
      previousNote = boundNote(previousNote, Math.max(0, count(previousNote) - over - slack(0)), count);
      messages = build();
    }
    const res = await caller.call({
      role: 'coa-worker',
      index: i,
      messages,
      task: { kind: 'coa-worker', question, segment: span, previousNote, index: i, total: segments.length },
      maxTokens: reserves.note,
      stream: false,
    });
    note = boundNote(res.text, reserves.note, count);
    notes.push(note);
    caller.emit({ type: 'progress', stage: 'segment', index: i + 1, total: segments.length, note });
  }

  caller.checkCancelled();
  caller.emit({ type: 'progress', stage: 'manager' });
  const res = await caller.call({
    role: 'coa-manager',
    index: null,
    messages: coaManagerMessages(question, note),
    task: { kind: 'coa-manager', question, note, noteSources: spans },
    maxTokens: reserves.answer,
    stream: true,
  });
  return {
    answer: res.text,
    citations: res.citations ?? [],
    contextTokens: segments.reduce((n, s) => n + s.tokens, 0),
    truncated: null,
    segments: { count: segments.length, tokensPerSegment: segments.map((s) => s.tokens) },
    notes,
    retrieval: null,
  };
}
