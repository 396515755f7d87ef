import { analyze } from '../text/analyse.js';

/**
 * Which of a question's terms the documents never use. A question that names
 * things absent from the text (a colour nobody mentions, a plan the report
 * never makes) often has no answer there; LaRA (Li et al., 2025, arXiv
 * 2502.09977) finds readers given retrieved passages decline such questions
 * more often than readers given the whole text. Terms are BM25's (lower-cased,
 * lightly stemmed, stopwords dropped), so the check agrees with retrieval's
 * own notion of a word.
 */

/** The distinct BM25 terms of a text. */
export function vocabulary(text: string): Set<string> {
  return new Set(analyze(text));
}

/** The question's distinct terms that occur in none of the vocabularies, in question order. */
export function absentTerms(question: string, vocabularies: ReadonlyArray<ReadonlySet<string>>): string[] {
  return [...new Set(analyze(question))].filter((t) => !vocabularies.some((v) => v.has(t)));
}

/**
 * Share of the question's distinct terms that the documents use and `text`
 * (the best chunk) holds; 0 when the documents use none of them. A best chunk
 * holding every term the text knows is retrieval's clearest case.
 */
export function termCoverage(question: string, text: string, vocabularies: ReadonlyArray<ReadonlySet<string>>): number {
  const known = [...new Set(analyze(question))].filter((t) => vocabularies.some((v) => v.has(t)));
  if (known.length === 0) return 0;
  const have = new Set(analyze(text));
  return known.filter((t) => have.has(t)).length / known.length;
}
