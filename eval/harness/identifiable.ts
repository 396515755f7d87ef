import { analyze } from '../../src/core/text/analyse.js';

/**
 * Whether a question's terms could say which document of a library it is
 * about. LaRA's questions were written for one document at a time, and many do
 * not name theirs ("What was the company's net loss for the three months ended
 * March 31, 2024?" over fifteen first-quarter filings). A question counts as
 * identifiable when no other document holds every question term (analysed as
 * BM25 analyses them) that its own document holds; otherwise no term tells the
 * two apart, and only how often the terms occur can. A diagnostic for reports,
 * computed from the texts alone; nothing is tuned on it.
 */
export class Vocabularies {
  readonly #terms = new Map<string, Set<string>>();

  constructor(texts: Iterable<readonly [string, string]>) {
    for (const [id, text] of texts) this.#terms.set(id, new Set(analyze(text)));
  }

  identifiable(question: string, documentId: string): boolean {
    const own = this.#terms.get(documentId);
    if (!own) throw new Error(`no text for document ${documentId}`);
    const terms = [...new Set(analyze(question))].filter((t) => own.has(t));
    for (const [id, vocabulary] of this.#terms)
      if (id !== documentId && terms.every((t) => vocabulary.has(t))) return false;
    return true;
  }
}
