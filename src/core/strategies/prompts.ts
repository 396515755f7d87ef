import type { ChatMessage } from '../../ports/llm.js';

/**
 * The prompts of the three reading strategies. Kept short on purpose: every
 * token of instructions is paid again by each Chain-of-Agents worker, and small
 * local models have small windows.
 */

/** Reply a RAG prompt asks for when `allowUnanswerable` is set and the passages are not enough. */
export const UNANSWERABLE = 'UNANSWERABLE';

/** What a prompt says about a stretch of document text: where it comes from. */
export interface LabelledText {
  /** Document title (or id when it has none). */
  title: string;
  start: number;
  end: number;
  text: string;
}

function label(t: Pick<LabelledText, 'title' | 'start' | 'end'>): string {
  return `document "${t.title}", characters ${t.start}-${t.end}`;
}

/**
 * Retrieval: numbered passages, in the order they occur in their documents,
 * then the question. With `allowUnanswerable` the model may decline with the
 * single word UNANSWERABLE, which Self-Route style routing reads as "escalate
 * to a strategy that reads more" (Li et al., 2024, "Retrieval Augmented
 * Generation or Long-Context LLMs? A Comprehensive Study and Hybrid Approach").
 */
export function ragMessages(
  question: string,
  passages: readonly LabelledText[],
  opts: { allowUnanswerable?: boolean } = {},
): ChatMessage[] {
  const rules = [
    'Answer the question from the numbered passages only: excerpts of longer documents, in their original order.',
    'Cite the passages you use by number, like [2].',
    opts.allowUnanswerable
      ? `If they do not hold enough to answer, reply with the single word ${UNANSWERABLE} and nothing else.`
      : 'If they do not hold the answer, say so.',
    'Be brief.',
  ];
  const body =
    passages.length === 0
      ? '(no passages were found)'
      : passages.map((p, i) => `[${i + 1}] (${label(p)})\n${p.text}`).join('\n\n');
  return [
    { role: 'system', content: rules.join(' ') },
    { role: 'user', content: `Passages:\n\n${body}\n\nQuestion: ${question}` },
  ];
}

/** Put where middle truncation removed text, so the model knows the text is not continuous. */
export function omissionMarker(droppedTokens: number): string {
  return `[... about ${droppedTokens} tokens of the middle left out ...]`;
}

/** One document as the full-context prompt shows it: its head and, when cut, the marker and its tail. */
export interface FullDocument {
  title: string;
  parts: readonly LabelledText[];
  /** Tokens cut from the middle; 0 when the document is whole. */
  droppedTokens: number;
}

/** Full context: the document(s), whole or middle-truncated, then the question. */
export function fullMessages(question: string, docs: readonly FullDocument[]): ChatMessage[] {
  const cut = docs.some((d) => d.droppedTokens > 0);
  const rules = [
    `Answer the question from the ${docs.length > 1 ? 'documents' : 'document'} below only.`,
    cut ? 'A marker shows where the middle of a long document was left out.' : '',
    'Be brief.',
  ].filter(Boolean);
  const body = docs
    .map((d) => {
      const [head, tail] = d.parts;
      const text =
        d.droppedTokens > 0
          ? [head?.text ?? '', omissionMarker(d.droppedTokens), tail?.text ?? ''].filter((t) => t !== '').join('\n\n')
          : (head?.text ?? '');
      return `=== Document "${d.title}" ===\n${text}`;
    })
    .join('\n\n');
  return [
    { role: 'system', content: rules.join(' ') },
    { role: 'user', content: `${body}\n\nQuestion: ${question}` },
  ];
}

/**
 * Chain-of-Agents worker (Zhang et al., NeurIPS 2024, "Chain of Agents: Large
 * Language Models Collaborating on Long-Context Tasks"): reads one segment with
 * the note of the worker before it and writes the note passed on.
 */
export function coaWorkerMessages(input: {
  question: string;
  previousNote: string;
  segment: LabelledText;
  index: number;
  total: number;
}): ChatMessage[] {
  // Short on purpose: every worker pays for these tokens again.
  const rules =
    'You read one part of a long text, in order, for a question. Update the notes: keep earlier points that matter, ' +
    'add what this part says about the question (names, numbers, short quotes). Do not answer yet. Write only the notes.';
  const note = input.previousNote.trim() === '' ? '(none yet: you read the first part)' : input.previousNote;
  return [
    { role: 'system', content: rules },
    {
      role: 'user',
      content:
        `Question: ${input.question}\n\nNotes so far:\n${note}\n\n` +
        `Part ${input.index + 1} of ${input.total} (${label(input.segment)}):\n${input.segment.text}\n\nUpdated notes:`,
    },
  ];
}

/** Chain-of-Agents manager: answers from the last worker's note. */
export function coaManagerMessages(question: string, note: string): ChatMessage[] {
  return [
    {
      role: 'system',
      content:
        'Readers took these notes from a long text, start to end, for a question. Answer it from the notes; if they do not hold the answer, say so. Be brief.',
    },
    {
      role: 'user',
      content: `Notes:\n${note.trim() === '' ? '(the readers found nothing relevant)' : note}\n\nQuestion: ${question}`,
    },
  ];
}

/**
 * True when a reply declines as the `allowUnanswerable` RAG prompt asks: the
 * word UNANSWERABLE alone (any case, with stray quotes, markdown or a final
 * period), or UNANSWERABLE in capitals opening a longer reply.
 */
export function isUnanswerable(text: string): boolean {
  const t = text.trim();
  if (/^[\W_]*unanswerable[\W_]*$/i.test(t)) return true;
  return /^[\W_]*UNANSWERABLE\b/.test(t);
}
