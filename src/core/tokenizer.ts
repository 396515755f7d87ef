import { createHash } from 'node:crypto';
import { Lru } from './lru.js';
import { countTokens as cl100kCount, encode as cl100kEncode, decode as cl100kDecode } from 'gpt-tokenizer/encoding/cl100k_base';

/**
 * The service tokenizer: OpenAI's cl100k_base BPE (the "gpt-4" encoding that
 * LaRA used to measure and truncate its documents), from gpt-tokenizer, which
 * ships its ranks inside the npm package.
 * Providers that know their own model's tokenizer use that instead for prompts.
 */
export interface Tokenizer {
  readonly name: string;
  count(text: string): number;
  encode(text: string): number[];
  decode(tokens: readonly number[]): string;
}

/**
 * Token counts of long texts, keyed by the SHA-256 of the text and forgotten
 * least recently used first. One answer counts the same passages several
 * times (assembly, the prompt, its fit check, the reader's usage), and BPE
 * costs about 1 ms per thousand tokens on the event loop, against ~0.01 ms to
 * hash them. A digest, not the text, is the key, so a cached count never keeps
 * a document (or the string a passage was sliced from) in memory.
 */
export class CountMemo {
  private readonly counts: Lru<string, number>;

  /**
   * @param count the exact count, called on a miss
   * @param minChars shorter texts are counted every time (default 256: a
   *   chunk of 400 tokens is ~1,700 characters, and every passage of a
   *   retrieval is counted again by each request that reads it)
   * @param maxEntries counts kept (default 16 384, about 2 MiB)
   */
  constructor(
    private readonly count: (text: string) => number,
    private readonly minChars = 256,
    maxEntries = 16_384,
  ) {
    this.counts = new Lru(maxEntries);
  }

  get size(): number {
    return this.counts.size;
  }

  get(text: string): number {
    if (text.length < this.minChars) return this.count(text);
    const key = createHash('sha256').update(text, 'utf8').digest('base64');
    const hit = this.counts.get(key);
    if (hit !== undefined) return hit;
    const n = this.count(text);
    this.counts.set(key, n);
    return n;
  }
}

const cl100kCounts = new CountMemo((text) => cl100kCount(text));

export const cl100k: Tokenizer = Object.freeze({
  name: 'cl100k_base',
  count: (text: string) => (text.length === 0 ? 0 : cl100kCounts.get(text)),
  encode: (text: string) => cl100kEncode(text),
  decode: (tokens: readonly number[]) => cl100kDecode(tokens as number[]),
});
