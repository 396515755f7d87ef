import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { AppError } from '../../errors.js';
import { Lru } from '../../core/lru.js';
import type { Embedder } from '../../ports/embedder.js';
import type { EmbeddingCacheStore } from '../../ports/embedding-cache.js';
import { throwIfAborted } from './vectors.js';

export interface CachingEmbedderOptions {
  /**
   * Where vectors outlive the process (the embedded SQLite database, or
   * PostgreSQL with DATABASE_URL), shared by every process on the same data.
   * Absent: the cache is this process's memory only.
   */
  store?: EmbeddingCacheStore;
  /**
   * Bytes of chunk vectors kept in memory (EMBEDDING_CACHE_MB), least
   * recently used dropped first; a dropped vector is read back from the store
   * when asked for again. Default 64 MiB (~30 000 USE-lite vectors).
   */
  maxBytes?: number;
  /** Query vectors kept in memory, least recently used dropped first. Default 1024. */
  maxQueries?: number;
  logger?: Logger;
}

/** What a Map entry with a 64-character hex key and a Float32Array costs beyond the vector's own bytes (measured order of magnitude). */
const ENTRY_OVERHEAD_BYTES = 200;

/** The cache key of a text: its sha256, hex. */
export function textKey(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * Cache of document-chunk vectors in front of any embedder, keyed by
 * (embedder id, sha256 of the text): a chunk the same model has embedded
 * once — in this process, an earlier run, or another process sharing the
 * store — is never embedded again. Identical texts within a call, and texts
 * another call is already embedding, are embedded once.
 *
 * Memory is bounded: vectors live in an LRU of `maxBytes`; the durable
 * {@link EmbeddingCacheStore} holds them all, and an evicted vector is read
 * back from it instead of embedded again. Query vectors are kept in a small
 * LRU of their own, in memory only: a question asked again (an eval replay, a
 * retried request, every step of a Chain-of-Agents run that embeds the
 * question) is not embedded again.
 */
export class CachingEmbedder implements Embedder {
  readonly id: string;
  private readonly store: EmbeddingCacheStore | undefined;
  private readonly logger: Logger | undefined;
  private readonly vectors: Lru<string, Float32Array>;
  private readonly queries: Lru<string, Float32Array>;
  private readonly inFlight = new Map<string, Promise<Float32Array>>();
  private hits = 0;
  private misses = 0;

  constructor(
    private readonly inner: Embedder,
    opts: CachingEmbedderOptions = {},
  ) {
    this.id = inner.id;
    this.store = opts.store;
    this.logger = opts.logger;
    const weigh = (v: Float32Array): number => v.byteLength + ENTRY_OVERHEAD_BYTES;
    this.vectors = new Lru(opts.maxBytes ?? 64 * 1024 * 1024, weigh);
    this.queries = new Lru(opts.maxQueries ?? 1024);
  }

  /** Texts served from the cache (hits) and texts sent to the inner embedder (misses), since construction; vectors held in memory. */
  stats(): { hits: number; misses: number; vectorsInMemory: number; bytesInMemory: number; queriesInMemory: number } {
    return {
      hits: this.hits,
      misses: this.misses,
      vectorsInMemory: this.vectors.size,
      bytesInMemory: this.vectors.weight,
      queriesInMemory: this.queries.size,
    };
  }

  dimensions(): Promise<number> {
    return this.inner.dimensions();
  }

  async embedQuery(text: string, signal?: AbortSignal): Promise<Float32Array> {
    const key = textKey(text);
    let v = this.queries.get(key);
    if (!v) {
      v = await this.inner.embedQuery(text, signal);
      this.queries.set(key, v);
    }
    // A copy, so a caller scaling its vector cannot corrupt the cache.
    return v.slice();
  }

  health(): Promise<void> {
    return this.inner.health();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  async embedDocuments(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]> {
    throwIfAborted(signal);
    if (texts.length === 0) return [];
    const keys = texts.map(textKey);
    const found = new Map<string, Float32Array | Promise<Float32Array>>();
    const take = (): Map<string, string> => {
      const missing = new Map<string, string>();
      keys.forEach((key, i) => {
        if (found.has(key)) return;
        const v = this.vectors.get(key) ?? this.inFlight.get(key);
        if (v) found.set(key, v);
        else missing.set(key, texts[i]!);
      });
      return missing;
    };
    let missing = take();
    if (missing.size > 0) {
      // In the store (evicted from memory, embedded before a restart, or by another process)?
      for (const [key, v] of await this.readBack([...missing.keys()])) found.set(key, v);
      missing = take();
    }
    this.misses += missing.size;
    this.hits += texts.length - missing.size;
    if (missing.size > 0) {
      this.embedMissing(missing, signal);
      take();
    }

    // Taken synchronously above: an in-flight entry is removed as soon as its batch settles.
    const vectors = await Promise.all(keys.map((key) => found.get(key)));
    return vectors.map((v, i) => {
      if (!v) throw new AppError('INTERNAL', [], { cause: new Error(`embedding cache lost ${keys[i]}`) });
      // A copy, so a caller scaling its vector cannot corrupt the cache.
      return v.slice();
    });
  }

  /**
   * Starts one inner call for all missing texts. Calls that need the same texts
   * meanwhile wait for it, so they share its fate, cancellation included.
   */
  private embedMissing(missing: Map<string, string>, signal: AbortSignal | undefined): void {
    const keys = [...missing.keys()];
    const batch = this.inner.embedDocuments([...missing.values()], signal).then(async (vectors) => {
      if (vectors.length !== keys.length) {
        throw new AppError('EMBEDDER_BAD_RESPONSE', [`${this.id}: ${vectors.length} vectors for ${keys.length} texts`]);
      }
      for (const [i, key] of keys.entries()) this.vectors.set(key, vectors[i]!);
      await this.persist(keys.map((key, i) => ({ key, vector: vectors[i]! })));
      return vectors;
    });
    keys.forEach((key, i) => {
      const one = batch.then((vectors) => vectors[i]!);
      // Waiters observe the failure through their own await; this keeps it from being "unhandled".
      one.catch(() => undefined);
      this.inFlight.set(key, one);
    });
    const settle = (): void => {
      for (const key of keys) this.inFlight.delete(key);
    };
    batch.then(settle, settle);
  }

  /** Writes new vectors to the store. A failure costs their reuse after eviction or a restart, not the request. */
  private async persist(entries: Array<{ key: string; vector: Float32Array }>): Promise<void> {
    if (!this.store) return;
    try {
      await this.store.putMany(this.id, entries);
    } catch (err) {
      this.logger?.warn({ err, model: this.id }, 'embedding cache write failed');
    }
  }

  /** The vectors of `keys` the store holds, put back in memory; an unreadable store means they are embedded again. */
  private async readBack(keys: readonly string[]): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    if (!this.store) return out;
    try {
      const got = await this.store.getMany(this.id, keys);
      keys.forEach((key, i) => {
        const v = got[i];
        if (!v) return;
        out.set(key, v);
        this.vectors.set(key, v);
      });
    } catch (err) {
      this.logger?.warn({ err, model: this.id }, 'embedding cache unreadable');
    }
    return out;
  }
}
