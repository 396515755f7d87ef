/**
 * How a written answer says that the text does not hold what was asked, in
 * the phrasings readers use ("The provided passages do not mention...", "No
 * information is given about...", "cannot be determined"). Shared by the
 * router's retrieval probe, which keeps a retrieval answer that declines, and
 * the approximate lexical judge (eval/judges/lexical.ts), which scores
 * hallucination questions by it, as LaRA's ground truths use the same phrasings
 * (Li et al., 2025, arXiv 2502.09977).
 */

/**
 * Phrases by which an answer says the information is not there. Both LaRA's
 * hallucination ground truths ("The text does not mention...") and model
 * refusals ("The provided chunks do not specify...") use them.
 */
const REFUSAL = new RegExp(
  [
    String.raw`\b(?:does|do|did|is|are|was|were|has|have|can|could)\s*(?:not|n't)\s+(?:\w+\s+){0,2}?(?:mention|provide|specify|include|contain|state|say|give|describe|indicate|detail|offer|discuss|reveal|disclose|address|list|report|identify|present|cover|explain|reference|refer)`,
    String.raw`\bnot\s+(?:\w+\s+){0,2}?(?:mentioned|provided|specified|stated|included|given|available|described|found|discussed|disclosed|addressed|reported|identified|covered|explained|detailed|present|known|referenced)\b`,
    String.raw`\bno\s+(?:\w+\s+){0,2}?(?:information|mention|indication|details?|data|record|evidence|reference)\b`,
    String.raw`\b(?:cannot|can't|can not|unable to)\s+(?:be\s+)?(?:determine|determined|answer|answered|find|found|identify|identified)`,
    String.raw`\bunanswerable\b`,
    String.raw`\bnot possible to (?:determine|answer|say)`,
    String.raw`\b(?:there is|there's) no\b`,
  ].join('|'),
  'i',
);

/** True when the text says that the information asked for is missing. */
export function saysMissing(text: string): boolean {
  return REFUSAL.test(text);
}

/** The first sentence, where a reply that declines says so. */
function lead(text: string): string {
  const m = /^[\s\S]*?[.!?](?:\s|$)/.exec(text.trim());
  return m ? m[0] : text;
}

/**
 * True when a reply declines in its first sentence (the passages or text do
 * not say). The router's retrieval probe keeps such a reply (src/core/routing/
 * query-service.ts); Self-Route would escalate it.
 */
export function declines(prediction: string): boolean {
  return saysMissing(lead(prediction));
}
