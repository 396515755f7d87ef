import { createHash } from 'node:crypto';
import type { Embedder } from '../../src/ports/embedder.js';
import { analyze } from '../../src/core/text/analyse.js';

/**
 * A deterministic stand-in for a sentence encoder in LLM tests: a hashed bag of
 * stemmed content words (so cosine tracks word overlap), implementing the
 * Embedder port. Counts the texts it embeds.
 */
export class HashingEmbedder implements Embedder {
  readonly id = 'test-hashing-256';
  embedded = 0;
  calls = 0;
  constructor(private readonly dims = 256) {}

  async dimensions(): Promise<number> {
    return this.dims;
  }
  async embedDocuments(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]> {
    signal?.throwIfAborted();
    this.calls++;
    this.embedded += texts.length;
    return texts.map((t) => this.vector(t));
  }
  async embedQuery(text: string, signal?: AbortSignal): Promise<Float32Array> {
    signal?.throwIfAborted();
    return this.vector(text);
  }
  async health(): Promise<void> {}
  async close(): Promise<void> {}

  private vector(text: string): Float32Array {
    const v = new Float32Array(this.dims);
    for (const term of analyze(text)) {
      const h = createHash('sha1').update(term).digest();
      v[h.readUInt32LE(0) % this.dims]! += h[4]! & 1 ? 1 : -1;
    }
    return v;
  }
}
