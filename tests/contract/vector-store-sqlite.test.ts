import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqlite } from '../../src/adapters/sqlite/database.js';
import { FtsTables } from '../../src/adapters/sqlite/fts-tables.js';
import { SqliteVectorStore, ftsQuery } from '../../src/adapters/sqlite/vector-store.js';
import type { AppError } from '../../src/errors.js';
import { seededRandom } from '../../src/core/random.js';
import type { StoredChunk } from '../../src/ports/vector-store.js';
import { ROOT } from '../helpers/paths.js';
import { indexedRows, writeOldFile } from './sqlite-fts.js';
import { DIMS, MODEL, cosine, makeChunks, randomVector } from './vector-store.contract.js';

const V1 = { documentId: 'doc', version: 'v1' };

describe('SqliteVectorStore on disk', () => {
  let dir: string;
  let rand: () => number;
  const dbs: Database.Database[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vs-sqlite-disk-'));
    rand = seededRandom(7);
  });

  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    for (const db of dbs.splice(0)) db.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A store on its own connection to the one file, as another process would have. */
  const stores: SqliteVectorStore[] = [];
  async function open(
    opts: { cacheBytes?: number; dims?: number; searchThread?: boolean } = {},
  ): Promise<SqliteVectorStore> {
    const db = openSqlite(join(dir, 'test.db'));
    dbs.push(db);
    const s = new SqliteVectorStore({
      db,
      ...(opts.cacheBytes === undefined ? {} : { cacheBytes: opts.cacheBytes }),
      ...(opts.searchThread === undefined ? {} : { searchThread: opts.searchThread }),
    });
    stores.push(s);
    await s.ensureReady(opts.dims ?? DIMS, MODEL);
    return s;
  }

  it('lets other work run while a dense search scores a large scope, and scores it whole', async () => {
    const s = await open();
    // 40 documents of 300 chunks: about three times the chunks scored between two turns of the event loop.
    const docs = Array.from({ length: 40 }, (_, d) => ({ documentId: `d${d}`, version: 'v1' }));
    const chunks = docs.flatMap((d) => makeChunks('ns', d.documentId, d.version, 300, rand));
    await s.upsert('ns', chunks);
    const q = randomVector(rand);
    let turns = 0;
    let done = false;
    const turn = () => {
      turns++;
      if (!done) setImmediate(turn);
    };
    setImmediate(turn);
    const best = await s.search('ns', docs, q, 5);
    const during = turns;
    done = true;
    // The event loop turned while it searched: it did not run as one task to the end.
    expect(during).toBeGreaterThan(1);
    const expected = chunks
      .map((c) => ({ id: c.id, score: cosine(c.vector, q) }))
      .sort((a, b) => b.score - a.score)
      .slice(0, 5);
    expect(best.map((h) => h.chunk.id)).toEqual(expected.map((e) => e.id));
  });

  it('keeps chunks and scores when the database is opened again', async () => {
    const chunks = makeChunks('ns', 'doc', 'v1', 20, rand);
    const a = await open();
    await a.upsert('ns', chunks);
    dbs.shift()!.close();
    const b = await open();
    const q = randomVector(rand);
    const scored = await b.scoreAll('ns', [V1], q);
    expect(scored).toHaveLength(20);
    for (const s of scored) expect(s.score).toBeCloseTo(cosine(chunks[s.chunk.order]!.vector, q), 5);
  });

  it('refuses to be used before ensureReady', async () => {
    const db = openSqlite(join(dir, 'test.db'));
    dbs.push(db);
    const err = await new SqliteVectorStore({ db }).getChunks('ns', V1).catch((e: unknown) => e);
    expect((err as AppError).code).toBe('VECTOR_STORE_ERROR');
  });

  it('keeps vectors of different sizes apart for reads and writes, as Qdrant does with one collection per size; a delete reaches every size', async () => {
    const a = await open();
    await a.upsert('ns', makeChunks('ns', 'doc', 'v1', 3, rand));
    const b = await open({ dims: DIMS * 2 });
    expect(await b.getChunks('ns', V1)).toEqual([]);
    await b.upsert('ns', makeChunks('ns', 'doc', 'v1', 2, rand, DIMS * 2));
    expect(await a.getChunks('ns', V1)).toHaveLength(3);
    expect(await b.getChunks('ns', V1)).toHaveLength(2);
    // The version re-embedded in b's size is kept; the other embedder's vectors of it are stale and go.
    await b.deleteDocument('ns', 'doc', { keepVersion: 'v1' });
    expect(await b.getChunks('ns', V1)).toHaveLength(2);
    expect(await a.getChunks('ns', V1)).toEqual([]);
    await a.upsert('ns', makeChunks('ns', 'doc', 'v1', 3, rand));
    await b.deleteDocument('ns', 'doc');
    expect(await a.getChunks('ns', V1)).toEqual([]);
    expect(await b.getChunks('ns', V1)).toEqual([]);
  });

  it('sees writes and deletes made on another connection (another process) after it cached the version', async () => {
    const reader = await open();
    const writer = await open();
    const first = makeChunks('ns', 'doc', 'v1', 5, rand);
    await writer.upsert('ns', first);
    const q = randomVector(rand);
    expect(await reader.scoreAll('ns', [V1], q)).toHaveLength(5);

    const changed = first.map((c) => ({ ...c, vector: randomVector(rand) }));
    await writer.upsert('ns', [...changed, ...makeChunks('ns', 'doc', 'v1', 8, rand).slice(5)]);
    const after = await reader.scoreAll('ns', [V1], q);
    expect(after).toHaveLength(8);
    expect(after.find((s) => s.chunk.order === 0)!.score).toBeCloseTo(cosine(changed[0]!.vector, q), 5);

    await writer.deleteDocument('ns', 'doc');
    expect(await reader.scoreAll('ns', [V1], q)).toEqual([]);
    await writer.upsert('ns', makeChunks('ns', 'doc', 'v1', 2, rand));
    expect(await reader.getChunks('ns', V1)).toHaveLength(2);
  });

  it('writes a batch whole or not at all', async () => {
    const s = await open();
    const chunks = makeChunks('ns', 'doc', 'v1', 6, rand);
    // A value SQLite cannot bind fails the batch mid-transaction, after the first rows were written.
    const bad = chunks.map((c, i) => (i === 4 ? ({ ...c, start: { not: 'a number' } } as unknown as StoredChunk) : c));
    const err = await s.upsert('ns', bad).catch((e: unknown) => e);
    expect((err as AppError).code).toBe('VECTOR_STORE_ERROR');
    expect(await s.getChunks('ns', V1)).toEqual([]);
    expect(await s.searchText('ns', [V1], 'chunk', 10)).toEqual([]);
    await s.upsert('ns', chunks);
    expect(await s.getChunks('ns', V1)).toHaveLength(6);
  });

  it('searches on its thread exactly as on the event loop, and sees what another connection just committed', async () => {
    const threaded = await open();
    const inline = await open({ searchThread: false });
    const chunks = makeChunks('ns', 'doc', 'v1', 40, rand).map((c, i) => ({
      ...c,
      text: `harbour ${'tide '.repeat(i % 5)} lamp ${i}`,
    }));
    await inline.upsert('ns', chunks);
    for (const q of ['harbour tide', 'lamp', 'tide tide "quoted"']) {
      const a = await threaded.searchText('ns', [V1], q, 15);
      expect(a).toEqual(await inline.searchText('ns', [V1], q, 15));
      expect(a.length).toBeGreaterThan(0);
    }
    await inline.upsert('ns', [{ ...chunks[0]!, text: 'a lighthouse now' }]);
    expect((await threaded.searchText('ns', [V1], 'lighthouse', 5)).map((h) => h.chunk.order)).toEqual([0]);
  });

  it('stays correct when the cache is too small to hold anything', async () => {
    const s = await open({ cacheBytes: 1 });
    await s.upsert('ns', makeChunks('ns', 'doc', 'v1', 10, rand));
    const q = randomVector(rand);
    for (let i = 0; i < 2; i++) expect(await s.scoreAll('ns', [V1], q)).toHaveLength(10);
  });

  it('reports a vector of the wrong length in the file as VECTOR_STORE_ERROR instead of returning partial data', async () => {
    const s = await open();
    await s.upsert('ns', makeChunks('ns', 'doc', 'v1', 2, rand));
    dbs[0]!.prepare("UPDATE chunks SET vector = x'00' WHERE ord = 1").run();
    const err = await s.scoreAll('ns', [V1], randomVector(rand)).catch((e: unknown) => e);
    expect((err as AppError).code).toBe('VECTOR_STORE_ERROR');
  });

  it('does not lose chunks when two processes upsert into the same document at once', async () => {
    const script = join(dir, 'upsert.mjs');
    await writeFile(
      script,
      `const { openSqlite } = await import(process.argv[2]);
       const { SqliteVectorStore } = await import(process.argv[3]);
       const [file, tag] = [process.argv[4], process.argv[5]];
       const s = new SqliteVectorStore({ db: openSqlite(file) });
       await s.ensureReady(${DIMS}, ${JSON.stringify(MODEL)});
       for (let i = 0; i < 25; i++) {
         const vector = new Float32Array(${DIMS}).fill(i + 1);
         await s.upsert('ns', [{ id: tag + i, namespace: 'ns', documentId: 'doc', version: 'v1', order: i,
           start: 0, end: 1, tokens: 1, text: tag + i, vector }]);
       }`,
    );
    const modules = [join(ROOT, 'src/adapters/sqlite/database.ts'), join(ROOT, 'src/adapters/sqlite/vector-store.ts')];
    const run = (tag: string) => {
      const child = spawn(process.execPath, ['--import', 'tsx', script, ...modules, join(dir, 'test.db'), tag], {
        cwd: ROOT,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      return once(child, 'exit').then(([code]) => expect(code, stderr).toBe(0));
    };
    await Promise.all([run('a'), run('b')]);
    const s = await open();
    const ids = (await s.getChunks('ns', V1)).map((c) => c.id).sort();
    expect(ids).toHaveLength(50);
    expect(new Set(ids).size).toBe(50);
    // Both created the namespace's FTS5 index on their first write, or found it: one table, every chunk in it once.
    expect(indexedRows(dbs[0]!)).toEqual({ ns: 50 });
  });

  it('indexes an old file once when two processes open it at the same time (migration 007)', async () => {
    const file = join(dir, 'test.db');
    oldFile(file, rand);
    // Both processes load first, then open the file at one signal. (Which of them indexes which namespace depends
    // on SQLite's busy waits; the next test takes the interleaving where both see the same namespaces left to do.)
    const script = join(dir, 'open.mjs');
    const go = join(dir, 'go');
    await writeFile(
      script,
      `const { existsSync } = await import('node:fs');
       const { openSqlite } = await import(process.argv[2]);
       const { SqliteVectorStore } = await import(process.argv[3]);
       process.stdout.write('ready\\n');
       while (!existsSync(process.argv[5])) await new Promise((r) => setTimeout(r, 1));
       const s = new SqliteVectorStore({ db: openSqlite(process.argv[4]), searchThread: false });
       await s.close();`,
    );
    const modules = [join(ROOT, 'src/adapters/sqlite/database.ts'), join(ROOT, 'src/adapters/sqlite/vector-store.ts')];
    const children = [0, 1].map(() => {
      const child = spawn(process.execPath, ['--import', 'tsx', script, ...modules, file, go], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      return {
        ready: once(child.stdout, 'data'),
        exited: once(child, 'exit').then(([code]) => expect(code, stderr).toBe(0)),
      };
    });
    await Promise.all(children.map((c) => c.ready));
    await writeFile(go, '');
    await Promise.all(children.map((c) => c.exited));
    const s = await open();
    expect(indexedRows(dbs[0]!)).toEqual({ a: 3000, b: 2000, c: 1000 });
    const found = await s.searchText('b', [V1], 'word5', 100);
    expect(found.length).toBeGreaterThan(0);
    expect(found.every((f) => f.chunk.text.startsWith('word5 '))).toBe(true);
  });

  it('skips a namespace another connection indexed after it read what was left to do: each is indexed once', () => {
    const file = join(dir, 'test.db');
    oldFile(file, rand);
    const [one, two] = [openSqlite(file), openSqlite(file)];
    dbs.push(one, two);
    const first = new FtsTables(one);
    const second = new FtsTables(two);
    // The second reads what is left to do, then the first does it all.
    const left = second.unindexed();
    expect(left.map((p) => p.namespace).sort()).toEqual(['a', 'b', 'c']);
    expect(first.indexUnindexed()).toBe(6000);
    for (const { dims, namespace } of left) expect(second.index(dims, namespace)).toBe(0);
    expect(indexedRows(one)).toEqual({ a: 3000, b: 2000, c: 1000 });
  });
});

describe('ftsQuery', () => {
  it('quotes each distinct word, leaves stopwords out, and gives null when nothing is left', () => {
    expect(ftsQuery('What did the "Keeper" write, and what did the keeper see?')).toBe('"keeper" OR "write" OR "see"');
    expect(ftsQuery('Who is it?')).toBeNull();
    expect(ftsQuery('NEAR(a*b)')).toBe('"near" OR "b"');
  });
});

/** A file as the code before migration 007 left it: three namespaces of chunks in the file's single FTS5 index. */
function oldFile(file: string, rand: () => number): void {
  const chunks = (
    [
      ['a', 3000],
      ['b', 2000],
      ['c', 1000],
    ] as const
  ).flatMap(([ns, n]) =>
    makeChunks(ns, 'doc', 'v1', n, rand).map((c) => ({ ...c, text: `word${c.order % 97} text of ${ns}` })),
  );
  writeOldFile(file, chunks);
}
