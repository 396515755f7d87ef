import { cancelledBy } from '../../errors.js';
import type { ChunkSizes, TokenWork } from '../../ports/token-work.js';
import { cl100k } from '../tokenizer.js';
import { chunkText } from './chunker.js';

/** Runs on the calling thread: for small texts, and what a process without threads (TOKENIZER_THREADS=0) does. */
export const inlineTokenWork: TokenWork = Object.freeze({
  async count(text: string, signal?: AbortSignal) {
    if (signal?.aborted) throw cancelledBy(signal);
    return cl100k.count(text);
  },
  async chunk(text: string, sizes: ChunkSizes, signal?: AbortSignal) {
    if (signal?.aborted) throw cancelledBy(signal);
    return chunkText(text, { chunkTokens: sizes.chunkTokens, overlapTokens: sizes.overlapTokens });
  },
  async close() {},
});
