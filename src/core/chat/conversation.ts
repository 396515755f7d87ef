import { AppError } from '../../errors.js';
import type { ChatMessage, LlmProvider } from '../../ports/llm.js';

/** One message of an OpenAI-style conversation, its content already reduced to text. */
export interface Turn {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content: string;
}

/**
 * How the earlier turns of a conversation reached the question the router read:
 * - `none`: there were none;
 * - `rewritten`: a generative reader rewrote the last user message into a question that stands alone;
 * - `context`: the extractive reader cannot rewrite, so the earlier user messages were appended to the
 *   question as context (a fallback: the router then reads a longer question).
 */
export type HistoryMode = 'none' | 'rewritten' | 'context';

export interface StandaloneQuestion {
  /** What the router and the reader were asked. */
  question: string;
  /** The last user message, as sent. */
  asked: string;
  mode: HistoryMode;
  /** Earlier user and assistant turns used. */
  turns: number;
  /** Tokens of the rewriting call (zero unless `rewritten`). */
  promptTokens: number;
  completionTokens: number;
  note: string | null;
}

/** Earlier turns read at most: the recent ones carry what a follow-up refers to. */
export const MAX_HISTORY_TURNS = 8;
/** Characters of one earlier turn read at most (its start). */
export const MAX_TURN_CHARS = 2_000;
/** Tokens the rewritten question may take. */
const REWRITE_MAX_TOKENS = 200;

/**
 * Splits a conversation into its question (the last user message) and the
 * user and assistant turns before it. System, developer and tool messages are
 * not part of the document question and are left out.
 */
export function splitConversation(messages: readonly Turn[]): { question: string; history: Turn[] } {
  let last = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]!.role === 'user') {
      last = i;
      break;
    }
  }
  if (last < 0)
    throw new AppError('VALIDATION', ['messages hold no user message: the last user message is the question']);
  const history = messages
    .slice(0, last)
    .filter((m) => (m.role === 'user' || m.role === 'assistant') && m.content.trim() !== '')
    .slice(-MAX_HISTORY_TURNS)
    .map((m) => ({
      role: m.role,
      content: m.content.length > MAX_TURN_CHARS ? `${m.content.slice(0, MAX_TURN_CHARS)}…` : m.content,
    }));
  return { question: messages[last]!.content, history };
}

/** The prompt that asks a reader to make the last question stand alone. */
export function rewriteMessages(history: readonly Turn[], question: string): ChatMessage[] {
  const transcript = history.map((t) => `${t.role}: ${t.content}`).join('\n');
  return [
    {
      role: 'system',
      content:
        'You rewrite the last question of a conversation about some documents so that it can be understood without the conversation: ' +
        'replace pronouns and references ("he", "that chapter", "the second one") by what they refer to in the earlier turns. ' +
        'Do not answer it and add nothing else. If it already stands alone, repeat it unchanged. Reply with the question only.',
    },
    { role: 'user', content: `Conversation:\n${transcript}\n\nLast question: ${question}` },
  ];
}

/** The extractive fallback: the earlier user messages appended to the question, within `maxChars`. */
export function questionWithContext(history: readonly Turn[], question: string, maxChars: number): string {
  const earlier = history.filter((t) => t.role === 'user').map((t) => t.content.trim());
  // As many of the most recent ones as fit: when the limit cuts, it cuts the oldest.
  for (let from = 0; from < earlier.length; from++) {
    const text = `${question}\n\nEarlier in this conversation: ${earlier.slice(from).join(' / ')}`;
    if (text.length <= maxChars) return text;
  }
  return question;
}

/**
 * Turns a conversation into the question the router reads. With earlier turns
 * and a generative reader, one LLM call rewrites the last user message so it
 * stands alone (its tokens are reported); the extractive reader cannot, so the
 * earlier user messages go with the question as context, and the note says so.
 */
export async function standaloneQuestion(
  llm: LlmProvider,
  messages: readonly Turn[],
  opts: { maxQuestionChars: number; signal?: AbortSignal },
): Promise<StandaloneQuestion> {
  const { question, history } = splitConversation(messages);
  const base = { asked: question, turns: history.length, promptTokens: 0, completionTokens: 0 };
  if (history.length === 0) return { ...base, question, mode: 'none', note: null };
  if (llm.kind === 'extractive') {
    return {
      ...base,
      question: questionWithContext(history, question, opts.maxQuestionChars),
      mode: 'context',
      note: 'fallback: the extractive reader cannot rewrite a follow-up into a question that stands alone, so the earlier user messages were appended to the question as context',
    };
  }
  let msgs = rewriteMessages(history, question);
  // The oldest turns go first when the conversation does not fit the reader's window.
  let kept = history;
  while (kept.length > 0 && llm.countMessageTokens(msgs) + REWRITE_MAX_TOKENS > llm.contextWindow) {
    kept = kept.slice(1);
    msgs = rewriteMessages(kept, question);
  }
  const res = await llm.complete({
    messages: msgs,
    maxTokens: REWRITE_MAX_TOKENS,
    temperature: 0,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const rewritten = res.text.trim().replace(/^(last question|question)\s*:\s*/i, '');
  const usable = rewritten !== '' && rewritten.length <= opts.maxQuestionChars;
  return {
    ...base,
    turns: kept.length,
    question: usable ? rewritten : question,
    mode: 'rewritten',
    promptTokens: llm.countMessageTokens(msgs),
    completionTokens: res.usage.completionTokens,
    note: usable ? null : 'the rewritten question was empty or too long; the last user message was read as it is',
  };
}
