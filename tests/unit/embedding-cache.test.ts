import { appendFile, mkdtemp, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CachingEmbedder, cacheFileName, decodeRecords, encodeRecords, sha256 } from '../../src/adapters/embedder/cached.js';
import { AppError } from '../../src/errors.js';
import type { Embedder } from '../../src/ports/embedder.js';

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
  const h = sha256(text);
  return Float32Array.from({ length: DIMS }, (_, i) => (h[i]! - 128) / 128);
}

const recordBytes = HEADER_BYTES(DIMS);
function HEADER_BYTES(dims: number): number {
  return 4 + 4 + 32 + dims * 4 + 4;
}

describe('CachingEmbedder', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'embedding-cache-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('embeds a chunk once and serves the second request from the cache', async () => {
    const inner = new RecordingEmbedder();
    const cache = new CachingEmbedder(inner, { dir });
    const first = await cache.embedDocuments(['alpha', 'beta']);
    const second = await cache.embedDocuments(['beta', 'alpha', 'gamma']);
    expect(inner.calls).toEqual([['alpha', 'beta'], ['gamma']]);
    expect(second[0]).toEqual(first[1]);
    expect(second[1]).toEqual(first[0]);
    expect(second[2]).toEqual(vectorOf(inner.id + 'gamma'));
    expect(cache.stats()).toMatchObject({ hits: 2, misses: 3 });
  });

  it('keeps vectors across instances, as after a restart', async () => {
    const before = await new CachingEmbedder(new RecordingEmbedder(), { dir }).embedDocuments(['one', 'two', 'three']);
    const inner = new RecordingEmbedder();
    const restarted = new CachingEmbedder(inner, { dir });
    const after = await restarted.embedDocuments(['three', 'one', 'two']);
    expect(inner.calls).toEqual([]);
    expect(after).toEqual([before[2], before[0], before[1]]);
    expect(restarted.stats()).toMatchObject({ hits: 3, misses: 0 });
  });

  it('indexes a file larger than its read buffer across the buffer boundaries', async () => {
    // 4000 records of 76 bytes: more than the smallest read buffer (one record of the largest size, 256 KiB).
    const texts = Array.from({ length: 4000 }, (_, i) => `record ${i}`);
    await new CachingEmbedder(new RecordingEmbedder(), { dir }).embedDocuments(texts);
    const inner = new RecordingEmbedder();
    const reopened = new CachingEmbedder(inner, { dir, readChunkBytes: 1 });
    const out = await reopened.embedDocuments(texts);
    expect(inner.calls).toEqual([]);
    expect(out[3999]).toEqual(vectorOf('fake-model@1record 3999'));
    expect(reopened.stats().indexed).toBe(4000);
  });

  it('sees vectors another process appended after it loaded the file', async () => {
    const innerA = new RecordingEmbedder();
    const a = new CachingEmbedder(innerA, { dir });
    await a.embedDocuments(['warm-up']);
    const b = new CachingEmbedder(new RecordingEmbedder(), { dir });
    await b.embedDocuments(['written by b']);
    await a.embedDocuments(['written by b']);
    expect(innerA.embeddedTexts()).toEqual(['warm-up']);
  });

  it('keeps the vectors of different models apart', async () => {
    await new CachingEmbedder(new RecordingEmbedder('model-a'), { dir }).embedDocuments(['same text']);
    const innerB = new RecordingEmbedder('model-b');
    const [v] = await new CachingEmbedder(innerB, { dir }).embedDocuments(['same text']);
    expect(innerB.calls).toEqual([['same text']]);
    expect(v).toEqual(vectorOf('model-bsame text'));
    expect((await readdir(dir)).sort()).toEqual([cacheFileName('model-a'), cacheFileName('model-b')].sort());
  });

  it('embeds identical texts of one batch once and returns a vector for each', async () => {
    const inner = new RecordingEmbedder();
    const cache = new CachingEmbedder(inner, { dir });
    const out = await cache.embedDocuments(['x', 'y', 'x', 'x']);
    expect(inner.calls).toEqual([['x', 'y']]);
    expect(out).toHaveLength(4);
    expect(out[2]).toEqual(out[0]);
    expect(cache.stats()).toMatchObject({ hits: 2, misses: 2 });
  });

  it('shares one inner call between concurrent requests for the same texts', async () => {
    const inner = new RecordingEmbedder();
    const cache = new CachingEmbedder(inner, { dir });
    const [a, b] = await Promise.all([cache.embedDocuments(['p', 'q']), cache.embedDocuments(['q', 'r'])]);
    expect(inner.embeddedTexts().sort()).toEqual(['p', 'q', 'r']);
    expect(b[0]).toEqual(a[1]);
  });

  it('writes one record per new vector and nothing for hits', async () => {
    const cache = new CachingEmbedder(new RecordingEmbedder(), { dir });
    await cache.embedDocuments(['a', 'b', 'c']);
    await cache.embedDocuments(['a', 'b', 'c', 'd']);
    const size = (await stat(join(dir, cacheFileName('fake-model@1')))).size;
    expect(size).toBe(4 * recordBytes);
  });

  it('ignores a record torn by a crash and keeps appending readable records after it', async () => {
    const file = join(dir, cacheFileName('fake-model@1'));
    await new CachingEmbedder(new RecordingEmbedder(), { dir }).embedDocuments(['kept-1', 'kept-2', 'torn']);
    await truncate(file, 3 * recordBytes - 7);

    const inner = new RecordingEmbedder();
    const reopened = new CachingEmbedder(inner, { dir });
    await reopened.embedDocuments(['kept-1', 'kept-2', 'torn', 'new']);
    expect(inner.embeddedTexts()).toEqual(['torn', 'new']);

    const inner3 = new RecordingEmbedder();
    const out = await new CachingEmbedder(inner3, { dir }).embedDocuments(['kept-1', 'kept-2', 'torn', 'new']);
    expect(inner3.calls).toEqual([]);
    expect(out[2]).toEqual(vectorOf('fake-model@1torn'));
  });

  it('loses only the damaged record when bytes in the middle of the file are corrupted', async () => {
    const file = join(dir, cacheFileName('fake-model@1'));
    await new CachingEmbedder(new RecordingEmbedder(), { dir }).embedDocuments(['r0', 'r1', 'r2']);
    const bytes = await readFile(file);
    bytes[recordBytes + 50] = bytes[recordBytes + 50]! ^ 0xff;
    await writeFile(file, bytes);
    const inner = new RecordingEmbedder();
    await new CachingEmbedder(inner, { dir }).embedDocuments(['r0', 'r1', 'r2']);
    expect(inner.embeddedTexts()).toEqual(['r1']);
  });

  it('skips garbage between records when decoding', () => {
    const a = encodeRecords([{ hash: sha256('a'), vector: vectorOf('a') }]);
    const b = encodeRecords([{ hash: sha256('b'), vector: vectorOf('b') }]);
    const seen: string[] = [];
    const { consumed, skippedBytes } = decodeRecords(Buffer.concat([a, Buffer.from('EMB1garbage'), b]), (key) => seen.push(key));
    expect(seen).toEqual([sha256('a').toString('hex'), sha256('b').toString('hex')]);
    expect(skippedBytes).toBe(11);
    expect(consumed).toBe(a.length + 11 + b.length);
  });

  it('stops before a record that is still being written so the next read can finish it', async () => {
    const rec = encodeRecords([{ hash: sha256('late'), vector: vectorOf('late') }]);
    const seen: string[] = [];
    const { consumed } = decodeRecords(rec.subarray(0, rec.length - 10), (key) => seen.push(key));
    expect(seen).toEqual([]);
    expect(consumed).toBe(0);
  });

  it('keeps query vectors in memory only, the least recently used dropped beyond maxQueries', async () => {
    const inner = new RecordingEmbedder();
    const cache = new CachingEmbedder(inner, { dir, maxQueries: 2 });
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
    expect(await readdir(dir)).toEqual([]);
  });

  it('holds at most maxBytes of vectors in memory and reads evicted ones back from the file, not from the model', async () => {
    const inner = new RecordingEmbedder();
    // Room for three vectors with their bookkeeping.
    const cache = new CachingEmbedder(inner, { dir, maxBytes: 3 * (DIMS * 4 + 200) });
    const texts = Array.from({ length: 10 }, (_, i) => `chunk ${i}`);
    const first = await cache.embedDocuments(texts);
    expect(cache.stats()).toMatchObject({ vectorsInMemory: 3, misses: 10 });
    const again = await cache.embedDocuments(texts);
    expect(inner.calls).toHaveLength(1);
    expect(again).toEqual(first);
    expect(cache.stats()).toMatchObject({ hits: 10, misses: 10, vectorsInMemory: 3, indexed: 10 });
  });

  it('caches nothing when the inner embedder fails, and retries next time', async () => {
    const inner = new RecordingEmbedder();
    const cache = new CachingEmbedder(inner, { dir });
    inner.failNext = new AppError('EMBEDDER_UNAVAILABLE', ['down']);
    await expect(cache.embedDocuments(['s', 't'])).rejects.toMatchObject({ code: 'EMBEDDER_UNAVAILABLE' });
    const out = await cache.embedDocuments(['s', 't']);
    expect(out[0]).toEqual(vectorOf(inner.id + 's'));
    expect(inner.calls).toEqual([['s', 't'], ['s', 't']]);
  });

  it('hands out copies, so a caller mutating a vector does not change the cache', async () => {
    const cache = new CachingEmbedder(new RecordingEmbedder(), { dir });
    const [v] = await cache.embedDocuments(['mutable']);
    v!.fill(0);
    const [again] = await cache.embedDocuments(['mutable']);
    expect(again).toEqual(vectorOf('fake-model@1mutable'));
  });

  it('still returns vectors when the cache directory cannot be written', async () => {
    const blocker = join(dir, 'not-a-dir');
    await appendFile(blocker, 'x');
    const cache = new CachingEmbedder(new RecordingEmbedder(), { dir: join(blocker, 'cache') });
    const [v] = await cache.embedDocuments(['still works']);
    expect(v).toEqual(vectorOf('fake-model@1still works'));
  });

  it('passes identity, dimensions and health through to the inner embedder', async () => {
    const cache = new CachingEmbedder(new RecordingEmbedder('model-z'), { dir });
    expect(cache.id).toBe('model-z');
    expect(await cache.dimensions()).toBe(DIMS);
    await expect(cache.health()).resolves.toBeUndefined();
    expect(await cache.embedDocuments([])).toEqual([]);
  });
});
