import { AppError } from '../../errors.js';
import type { SourceSpan } from '../../ports/llm.js';
import { middleTruncate, slack, type HeadTail, type Reserves } from './budget.js';
import type { LlmCaller } from './caller.js';
import { fullMessages, type FullDocument } from './prompts.js';
import type { StrategyRun } from './output.js';

/** A document to read whole. */
export interface DocumentText {
  id: string;
  title: string;
  text: string;
}

export interface FullInput {
  caller: LlmCaller;
  question: string;
  docs: readonly DocumentText[];
  reserves: Reserves;
}

/** Most attempts at fitting a truncated prompt; each one shrinks the budget by what the last overflowed. */
const FIT_ATTEMPTS = 6;

/**
 * Full-context reading: every document in scope, whole when the prompt and the
 * answer reserve fit the window. Otherwise each document is middle-truncated
 * (head and tail kept, as LaRA did; see `middleTruncate`) to a share of the
 * token budget proportional to its size, so every document keeps the same
 * fraction of itself; the result says how much was cut.
 */
export async function runFull(input: FullInput): Promise<StrategyRun> {
  const { caller, question, docs, reserves } = input;
  const llm = caller.llm;
  const count = (t: string) => llm.countTokens(t);
  const limit = llm.contextWindow - reserves.answer;
  const totals = docs.map((d) => count(d.text));
  const whole = docs.map((d, i) =>
    view(d, { head: { start: 0, end: d.text.length }, tail: null, keptTokens: totals[i]!, totalTokens: totals[i]! }),
  );
  let messages = fullMessages(question, whole);
  const fullContextTokens = llm.countMessageTokens(messages);
  let promptTokens = fullContextTokens;

  let cuts: HeadTail[] | null = null;
  if (fullContextTokens > limit) ({ cuts, messages, promptTokens } = fitToWindow(input, totals, limit));
  const parts = sourceSpans(docs, cuts);
  caller.checkCancelled();
  const res = await caller.call({
    role: 'answer',
    index: null,
    messages,
    task: { kind: 'answer', question, passages: parts },
    maxTokens: reserves.answer,
    stream: true,
    promptTokens,
  });

  const kept = cuts ? cuts.reduce((n, c) => n + c.keptTokens, 0) : totals.reduce((a, b) => a + b, 0);
  const all = totals.reduce((a, b) => a + b, 0);
  return {
    answer: res.text,
    citations: res.citations ?? [],
    contextTokens: kept,
    truncated: cuts
      ? { keptTokens: kept, droppedTokens: all - kept, droppedShare: all === 0 ? 0 : (all - kept) / all }
      : null,
    segments: null,
    notes: [],
    retrieval: null,
    fullContextTokens,
  };
}

/**
 * Middle-truncates every document to a share of the window proportional to its size, shrinking the budget by what
 * the last attempt overflowed until the prompt fits `limit` (BUDGET_TOO_SMALL when no text fits).
 */
function fitToWindow(
  input: FullInput,
  totals: readonly number[],
  limit: number,
): { cuts: HeadTail[]; messages: ReturnType<typeof fullMessages>; promptTokens: number } {
  const { question, docs } = input;
  const llm = input.caller.llm;
  const count = (t: string) => llm.countTokens(t);
  const total = totals.reduce((a, b) => a + b, 0);
  // The frame around the texts, measured with markers as long as the longest they can get.
  const frame = llm.countMessageTokens(
    fullMessages(
      question,
      docs.map((d, i) => ({ title: d.title, parts: [span(d, 0, 0), span(d, 0, 0)], droppedTokens: totals[i]! })),
    ),
  );
  let budget = limit - frame;
  budget -= slack(budget);
  for (let attempt = 0; ; attempt++) {
    if (budget <= 0 || attempt === FIT_ATTEMPTS) {
      throw new AppError('BUDGET_TOO_SMALL', [
        `the context window of ${llm.contextWindow} tokens leaves no room for document text after the question, the instructions and the answer reserve of ${input.reserves.answer}`,
      ]);
    }
    const b = budget;
    const cuts = docs.map((d, i) => middleTruncate(d.text, Math.floor((b * totals[i]!) / total), count, totals[i]!));
    const messages = fullMessages(
      question,
      docs.map((d, i) => view(d, cuts[i]!)),
    );
    const promptTokens = llm.countMessageTokens(messages);
    const over = promptTokens - limit;
    if (over <= 0) return { cuts, messages, promptTokens };
    budget -= over + slack(budget);
  }
}

/** What the reader is given of each document, as citable spans: the whole text, or the head and tail kept. */
function sourceSpans(docs: readonly DocumentText[], cuts: readonly HeadTail[] | null): SourceSpan[] {
  return docs.flatMap((d, i) => {
    const c = cuts?.[i];
    const head = c ? c.head : { start: 0, end: d.text.length };
    const out = [
      { documentId: d.id, chunkId: null, start: head.start, end: head.end, text: d.text.slice(head.start, head.end) },
    ];
    if (c?.tail)
      out.push({
        documentId: d.id,
        chunkId: null,
        start: c.tail.start,
        end: c.tail.end,
        text: d.text.slice(c.tail.start, c.tail.end),
      });
    return out.filter((p) => p.end > p.start);
  });
}

function span(d: DocumentText, start: number, end: number) {
  return { title: d.title, start, end, text: d.text.slice(start, end) };
}

function view(d: DocumentText, c: HeadTail): FullDocument {
  const parts = [span(d, c.head.start, c.head.end)];
  if (c.tail) parts.push(span(d, c.tail.start, c.tail.end));
  return {
    title: d.title,
    parts,
    droppedTokens: c.tail || c.keptTokens < c.totalTokens ? c.totalTokens - c.keptTokens : 0,
  };
}
