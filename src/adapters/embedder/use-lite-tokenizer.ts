/**
 * The SentencePiece-style unigram tokenizer of Universal Sentence Encoder
 * lite, producing exactly the ids of @energetic-ai/embeddings' Tokenizer
 * (itself a port of @tensorflow-models/universal-sentence-encoder).
 *
 * That implementation copies the rest of the input at every position
 * (`symbols.slice(i)`), which is quadratic: ~22 ms for a 400-token chunk, a
 * seventh of the time of the model itself. This one walks the trie in place.
 * Its quirks are kept on purpose, since ids must match the trained model:
 * a best score of exactly 0 counts as "unset", and consecutive unknown
 * symbols collapse into one unknown id.
 */
interface TrieNode {
  children: Map<string, TrieNode>;
  /** Vocabulary index when a piece ends here, else -1. */
  index: number;
  score: number;
  /** Length of the piece in symbols (code points). */
  length: number;
}

const SEPARATOR = '\u2581';
/** Ids 0–5 are <unk>, <s>, </s> and reserved tokens: never matched. */
const RESERVED_SYMBOLS = 6;

export type UseVocabulary = readonly (readonly [string, number])[];

export class UseLiteTokenizer {
  private readonly root: TrieNode = { children: new Map(), index: -1, score: 0, length: 0 };

  constructor(private readonly vocabulary: UseVocabulary) {
    for (let i = RESERVED_SYMBOLS; i < vocabulary.length; i++) {
      const [piece, score] = vocabulary[i]!;
      let node = this.root;
      let length = 0;
      for (const symbol of piece) {
        length++;
        let next = node.children.get(symbol);
        if (!next) {
          next = { children: new Map(), index: -1, score: 0, length };
          node.children.set(symbol, next);
        }
        node = next;
      }
      if (length > 0) {
        node.index = i;
        node.score = score;
      }
    }
  }

  /** Number of ids, special ones included. */
  get size(): number {
    return this.vocabulary.length;
  }

  encode(input: string): number[] {
    const normalized = input.normalize('NFKC');
    const text = normalized.length > 0 ? SEPARATOR + normalized.replace(/ /g, SEPARATOR) : normalized;
    const symbols = Array.from(text);
    const n = symbols.length;

    // Viterbi in one forward pass: a piece starting at i extends best[i], which is final by then (every piece ending at i
    // starts before it). For each end the candidates arrive in increasing start order, the order in which the original
    // (which first lists the pieces ending at each position) compares them, so ties resolve the same way.
    const best = new Float64Array(n + 1);
    const words = new Int32Array(n + 1);
    const relax = (end: number, score: number, index: number): void => {
      if (best[end] === 0 || score >= best[end]!) {
        best[end] = score;
        words[end] = index;
      }
    };
    for (let i = 0; i < n; i++) {
      let node = this.root.children.get(symbols[i]!);
      let matched = false;
      for (let j = i; j < n && node; j++) {
        if (node.index >= 0) {
          relax(i + node.length, node.score + best[i]!, node.index);
          matched = true;
        }
        node = j + 1 < n ? node.children.get(symbols[j + 1]!) : undefined;
      }
      if (!matched) relax(i + 1, best[i]!, 0);
    }

    const reversed: number[] = [];
    for (let at = n; at > 0; ) {
      const id = words[at]!;
      reversed.push(id);
      at -= this.vocabulary[id]![0].length;
    }
    const out: number[] = [];
    for (let i = reversed.length - 1, previousUnknown = false; i >= 0; i--) {
      // The original merges runs of unknowns while scanning backwards; same result either way.
      const id = reversed[i]!;
      if (!(previousUnknown && id === 0)) out.push(id);
      previousUnknown = id === 0;
    }
    return out;
  }
}
