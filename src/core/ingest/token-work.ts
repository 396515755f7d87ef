import { cancelledBy } from '../../errors.js';
import { cl100k } from '../tokenizer.js';
import { chunkText, type TextChunk } from './chunker.js';

/** Chunk sizes in cl100k tokens (see {@link chunkText}). */
export interface ChunkSizes {
  chunkTokens: number;
  overlapTokens: number;
}

/**
 * The tokenizer-heavy steps of ingestion: BPE over a whole book costs ~100 ms
 * per 88k tokens, so whoever runs them decides where (the event loop, or a
 * thread: {@link TokenPool}). Both give exactly what `cl100k.count` and
 * `chunkText` give.
 */
export interface TokenWork {
  /** The exact cl100k count of `text`. Rejects with CANCELLED (transient) when `signal` fires first. */
  count(text: string, signal?: AbortSignal): Promise<number>;
  /** `chunkText(text, sizes)` with the cl100k tokenizer. Rejects with CANCELLED (transient) when `signal` fires first. */
  chunk(text: string, sizes: ChunkSizes, signal?: AbortSignal): Promise<TextChunk[]>;
  /** Stops the threads, if any; pending calls reject. Idempotent. */
  close(): Promise<void>;
}

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
