import { documentsReason, type QueryResult } from '../routing/query-service.js';

const STRATEGY_WORDS: Record<QueryResult['strategy'], string> = {
  rag: 'retrieval (the Adaptive-k passages)',
  coa: 'Chain-of-Agents (segments read in turn, then a manager)',
  full: 'full context (the whole text)',
};

const num = (x: number): string => Math.round(x).toLocaleString('en-US');

/**
 * How an answer was read, in a few lines of Markdown for the end of a chat
 * message: chat UIs show the message text only, so the decision, the token
 * cost and any fallback, which the response carries in fields of their own
 * (`decision`, `reading`, `conversation`), would otherwise go unseen there.
 * `note` is the conversation's note (how earlier turns were used), when any.
 */
export function explanation(r: QueryResult, note: string | null): string {
  const share = r.fullContextTokens > 0 ? ` (${((100 * r.contextTokens) / r.fullContextTokens).toFixed(1)}%)` : '';
  const lines = [
    `Read by ${STRATEGY_WORDS[r.strategy]}${r.decision.requested === 'auto' ? ', chosen by the router' : ', as asked'}: ` +
      `${num(r.contextTokens)} of ${num(r.fullContextTokens)} document tokens${share}, ` +
      (r.extractive
        ? 'answered by the extractive reader (quoted sentences, no LLM).'
        : `${r.totals.calls} LLM call${r.totals.calls === 1 ? '' : 's'}, ${num(r.totals.promptTokens)} prompt tokens.`),
  ];
  const docs = r.decision.documents;
  // The strategy's reasons in the order the router weighed them; the documents' own (the decision's first over a
  // namespace) get their line below.
  const scopeReason = docs ? documentsReason(docs.reasons) : null;
  const why = r.decision.reasons.filter((x) => x !== scopeReason);
  if (why.length > 0) lines.push(`Why: ${why.join('; ')}.`);
  if (docs) {
    lines.push(
      `Documents read: ${docs.picked.join(', ')} (${docs.picked.length} of ${num(docs.namespaceDocuments)} in the namespace).`,
    );
    if (!docs.singledOut)
      lines.push(
        `The question's terms do not single out one document${docs.alsoHeldBy.length > 0 ? `: ${docs.alsoHeldBy.join(', ')} ${docs.alsoHeldBy.length === 1 ? 'holds' : 'hold'} them too` : ''}; naming the document narrows it.`,
      );
    if (docs.fallback) lines.push(`Fallback: ${docs.fallback}.`);
  }
  if (r.decision.escalated) lines.push(`Escalated from retrieval: ${r.decision.escalated.reason}`);
  if (r.truncated)
    lines.push(
      `The text did not fit the window: ${num(r.truncated.droppedTokens)} tokens from its middle were not read.`,
    );
  if (note) lines.push(note.startsWith('fallback') ? `${note[0]!.toUpperCase()}${note.slice(1)}.` : `Note: ${note}.`);
  return `\n\n---\n${lines.join('\n\n')}`;
}
