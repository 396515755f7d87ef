import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CachingEmbedder } from '../../src/adapters/embedder/cached.js';
import { SqliteEmbeddingCache } from '../../src/adapters/sqlite/embedding-cache.js';
import { openSqlite } from '../../src/adapters/sqlite/database.js';
import { AppError } from '../../src/errors.js';
import type { Embedder } from '../../src/ports/embedder.js';
import type { EmbeddingCacheStore } from '../../src/ports/embedding-cache.js';

const DIMS = 8;

/** Deterministic stand-in for a model: vector from the text's hash; records every call. */
class RecordingEmbedder implements Embedder {
  readonly calls: string[][] = [];
  queries = 0;
  failNext: Error | undefined;
  constructor(readonly id = 'fake-model@1') {}
  async dimensions(): Promise<number> {
    return DIMS;
  }
  async embedDocuments(texts: readonly string[]): Promise<Float32Array[]> {
    this.calls.push([...texts]);
    await new Promise((r) => setTimeout(r, 5));
    if (this.failNext) {
      const err = this.failNext;
      this.failNext = undefined;
      throw err;
    }
    return texts.map((t) => vectorOf(this.id + t));
  }
  async embedQuery(text: string): Promise<Float32Array> {
    this.queries++;
    return vectorOf(text);
  }
  async health(): Promise<void> {}
  async close(): Promise<void> {}
  embeddedTexts(): string[] {
    return this.calls.flat();
  }
}

function vectorOf(text: string): Float32Array {
  const h = createHash('sha256').update(text).digest();
  return Float32Array.from({ length: DIMS }, (_, i) => (h[i]! - 128) / 128);
}

/** A store whose reads and writes fail, as a broken disk or an unreachable database would. */
class FailingStore implements EmbeddingCacheStore {
  async getMany(): Promise<Array<Float32Array | null>> {
    throw new Error('disk I/O error');
  }
  async putMany(): Promise<void> {
    throw new Error('disk I/O error');
  }
  async close(): Promise<void> {}
}

describe('CachingEmbedder', () => {
  let dir: string;
  const dbs: Database.Database[] = [];
  /** The SQLite store on the test's one file, on a connection of its own (as another process or a restart has). */
  const sqliteStore = (): SqliteEmbeddingCache => {
    const db = openSqlite(join(dir, 'cache.db'));
    dbs.push(db);
    return new SqliteEmbeddingCache({ db });
  };
  const cached = (inner: Embedder, opts: { maxBytes?: number; maxQueries?: number } = {}): CachingEmbedder =>
    new CachingEmbedder(inner, { store: sqliteStore(), ...opts });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'embedding-cache-'));
  });
  afterEach(async () => {
    for (const db of dbs.splice(0)) db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('embeds a chunk once and serves the second request from the cache', async () => {
    const inner = new RecordingEmbedder();
    const cache = cached(inner);
    const first = await cache.embedDocuments(['alpha', 'beta']);
    const second = await cache.embedDocuments(['beta', 'alpha', 'gamma']);
    expect(inner.calls).toEqual([['alpha', 'beta'], ['gamma']]);
    expect(second[0]).toEqual(first[1]);
    expect(second[1]).toEqual(first[0]);
    expect(second[2]).toEqual(vectorOf(inner.id + 'gamma'));
    expect(cache.stats()).toMatchObject({ hits: 2, misses: 3 });
  });

  it('keeps vectors across instances, as after a restart', async () => {
    const before = await cached(new RecordingEmbedder()).embedDocuments(['one', 'two', 'three']);
    const inner = new RecordingEmbedder();
    const restarted = cached(inner);
    const after = await restarted.embedDocuments(['three', 'one', 'two']);
    expect(inner.calls).toEqual([]);
    expect(after).toEqual([before[2], before[0], before[1]]);
    expect(restarted.stats()).toMatchObject({ hits: 3, misses: 0 });
  });

  it('sees vectors another process stored after it started', async () => {
    const innerA = new RecordingEmbedder();
    const a = cached(innerA);
    await a.embedDocuments(['warm-up']);
    const b = cached(new RecordingEmbedder());
    await b.embedDocuments(['written by b']);
    await a.embedDocuments(['written by b']);
    expect(innerA.embeddedTexts()).toEqual(['warm-up']);
  });

  it('keeps the vectors of different models apart', async () => {
    await cached(new RecordingEmbedder('model-a')).embedDocuments(['same text']);
    const innerB = new RecordingEmbedder('model-b');
    const [v] = await cached(innerB).embedDocuments(['same text']);
    expect(innerB.calls).toEqual([['same text']]);
    expect(v).toEqual(vectorOf('model-bsame text'));
  });

  it('embeds identical texts of one batch once and returns a vector for each', async () => {
    const inner = new RecordingEmbedder();
    const cache = cached(inner);
    const out = await cache.embedDocuments(['x', 'y', 'x', 'x']);
    expect(inner.calls).toEqual([['x', 'y']]);
    expect(out).toHaveLength(4);
    expect(out[2]).toEqual(out[0]);
    expect(cache.stats()).toMatchObject({ hits: 2, misses: 2 });
  });

  it('shares one inner call between concurrent requests for the same texts', async () => {
    const inner = new RecordingEmbedder();
    const cache = cached(inner);
    const [a, b] = await Promise.all([cache.embedDocuments(['p', 'q']), cache.embedDocuments(['q', 'r'])]);
    expect(inner.embeddedTexts().sort()).toEqual(['p', 'q', 'r']);
    expect(b[0]).toEqual(a[1]);
  });

  it('keeps query vectors in memory only, the least recently used dropped beyond maxQueries', async () => {
    const inner = new RecordingEmbedder();
    const cache = cached(inner, { maxQueries: 2 });
    const first = await cache.embedQuery('what happened?');
    first.fill(0);
    expect(await cache.embedQuery('what happened?')).toEqual(vectorOf('what happened?'));
    expect(inner.queries).toBe(1);
    await cache.embedQuery('who was there?');
    await cache.embedQuery('what happened?');
    await cache.embedQuery('where was it?'); // drops "who was there?", used least recently
    expect(inner.queries).toBe(3);
    await cache.embedQuery('what happened?');
    expect(inner.queries).toBe(3);
    await cache.embedQuery('who was there?');
    expect(inner.queries).toBe(4);
    expect(cache.stats().queriesInMemory).toBe(2);
    expect(dbs[0]!.prepare('SELECT count(*) FROM embedding_cache').pluck().get()).toBe(0);
  });

  it('holds at most maxBytes of vectors in memory and reads evicted ones back from the store, not from the model', async () => {
    const inner = new RecordingEmbedder();
    // Room for three vectors with their bookkeeping.
    const cache = cached(inner, { maxBytes: 3 * (DIMS * 4 + 200) });
    const texts = Array.from({ length: 10 }, (_, i) => `chunk ${i}`);
    const first = await cache.embedDocuments(texts);
    expect(cache.stats()).toMatchObject({ vectorsInMemory: 3, misses: 10 });
    const again = await cache.embedDocuments(texts);
    expect(inner.calls).toHaveLength(1);
    expect(again).toEqual(first);
    expect(cache.stats()).toMatchObject({ hits: 10, misses: 10, vectorsInMemory: 3 });
  });

  it('caches nothing when the inner embedder fails, and retries next time', async () => {
    const inner = new RecordingEmbedder();
    const cache = cached(inner);
    inner.failNext = new AppError('EMBEDDER_UNAVAILABLE', ['down']);
    await expect(cache.embedDocuments(['s', 't'])).rejects.toMatchObject({ code: 'EMBEDDER_UNAVAILABLE' });
    const out = await cache.embedDocuments(['s', 't']);
    expect(out[0]).toEqual(vectorOf(inner.id + 's'));
    expect(inner.calls).toEqual([
      ['s', 't'],
      ['s', 't'],
    ]);
  });

  it('hands out copies, so a caller mutating a vector does not change the cache', async () => {
    const cache = cached(new RecordingEmbedder());
    const [v] = await cache.embedDocuments(['mutable']);
    v!.fill(0);
    const [again] = await cache.embedDocuments(['mutable']);
    expect(again).toEqual(vectorOf('fake-model@1mutable'));
  });

  it('still returns vectors, and embeds again, when the store fails', async () => {
    const inner = new RecordingEmbedder();
    const cache = new CachingEmbedder(inner, { store: new FailingStore(), maxBytes: 1 });
    const [v] = await cache.embedDocuments(['still works']);
    expect(v).toEqual(vectorOf('fake-model@1still works'));
    await cache.embedDocuments(['still works']);
    expect(inner.calls).toHaveLength(2);
  });

  it('keeps vectors in memory only when no store is given', async () => {
    const inner = new RecordingEmbedder();
    const cache = new CachingEmbedder(inner);
    await cache.embedDocuments(['one']);
    await cache.embedDocuments(['one']);
    expect(inner.calls).toEqual([['one']]);
  });
  it('passes identity, dimensions and health through to the inner embedder', async () => {
    const cache = cached(new RecordingEmbedder('model-z'));
    expect(cache.id).toBe('model-z');
    expect(await cache.dimensions()).toBe(DIMS);
    await expect(cache.health()).resolves.toBeUndefined();
    expect(await cache.embedDocuments([])).toEqual([]);
  });
});
