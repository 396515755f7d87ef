import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqlite } from '../../src/adapters/sqlite/database.js';
import { FtsTableLookup, FtsTables } from '../../src/adapters/sqlite/fts-tables.js';
import { Fts5TopK, phraseBound, prunes, type SearchTrace } from '../../src/adapters/sqlite/lexical-search.js';
import { SqliteVectorStore, ftsPhrases } from '../../src/adapters/sqlite/vector-store.js';
import { seededRandom } from '../../src/core/random.js';
import type { StoredChunk } from '../../src/ports/vector-store.js';
import { indexedRows, writeOldFile } from './sqlite-fts.js';
import { DIMS, MODEL, randomVector } from './vector-store.contract.js';

/**
 * The exhaustive scorer over a namespace's FTS5 index: one query scoring every matching row (what searchText ran
 * before MaxScore).
 */
function exhaustiveQuery(db: Database.Database, ns: string) {
  const t = new FtsTableLookup(db).get(DIMS, ns);
  if (t === null) throw new Error(`namespace ${ns} has no index`);
  return db.prepare<[ExhaustiveParams], { id: string; score: number }>(
    `SELECT c.id AS id, -bm25(${t}) AS score
     FROM ${t} JOIN chunks c ON c.seq = ${t}.rowid
     WHERE ${t} MATCH @match AND c.namespace = @ns AND c.dims = @dims
       AND (c.document_id, c.version) IN (
         SELECT v.document_id, v.version FROM json_each(@refs) j
           JOIN chunk_versions v ON v.document_id = j.value ->> 0 AND v.version = j.value ->> 1
         WHERE v.dims = @dims AND v.namespace = @ns AND v.model = @model)
     ORDER BY bm25(${t}), c.seq LIMIT @k`,
  );
}
interface ExhaustiveParams {
  match: string;
  ns: string;
  dims: number;
  refs: string;
  k: number;
  model: string;
}

const word = (i: number): string => `x${i.toString(36)}`;

/** Chunks of Zipf-distributed words: a few words in most chunks, most words in a few. */
function corpus(
  ns: string,
  docs: number,
  perDoc: number,
  rand: () => number,
  version = 'v1',
  vocabulary = 400,
): StoredChunk[] {
  const out: StoredChunk[] = [];
  for (let d = 0; d < docs; d++) {
    for (let o = 0; o < perDoc; o++) {
      const words = Array.from({ length: 8 + Math.floor(rand() * 20) }, () =>
        word(Math.floor(vocabulary ** rand()) - 1),
      );
      out.push({
        id: `${ns}:d${d}:${version}:${o}`,
        namespace: ns,
        documentId: `d${d}`,
        version,
        order: o,
        start: 0,
        end: 1,
        tokens: words.length,
        text: words.join(' '),
        vector: randomVector(rand),
      });
    }
  }
  return out;
}

/**
 * Two connections to one temporary file, each with its store (searches inline): this one's and another process's (a
 * worker's), whose commits change this one's data version.
 */
async function withTwoConnections(
  fn: (c: { here: Database.Database; mine: SqliteVectorStore; theirs: SqliteVectorStore }) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'air-fts-two-'));
  const here = openSqlite(join(dir, 'db.sqlite'));
  const there = openSqlite(join(dir, 'db.sqlite'));
  const mine = new SqliteVectorStore({ db: here, searchThread: false });
  const theirs = new SqliteVectorStore({ db: there, searchThread: false });
  try {
    await mine.ensureReady(DIMS, MODEL);
    await theirs.ensureReady(DIMS, MODEL);
    await fn({ here, mine, theirs });
  } finally {
    await mine.close();
    await theirs.close();
    here.close();
    there.close();
    await rm(dir, { recursive: true, force: true });
  }
}

describe('Fts5TopK (MaxScore over FTS5)', () => {
  let db: Database.Database;
  let store: SqliteVectorStore;
  let rand: () => number;

  beforeEach(async () => {
    db = openSqlite(':memory:');
    store = new SqliteVectorStore({ db });
    await store.ensureReady(DIMS, MODEL);
    rand = seededRandom(11);
  });
  afterEach(async () => {
    await store.close();
    db.close();
  });

  it('bounds each phrase above by idf·(k1+1), and prunes only below the k-th best', () => {
    expect(phraseBound(10, 1000)).toBeCloseTo(Math.log(990.5 / 10.5) * 2.2, 12);
    // A phrase in more than half the rows has FTS5's floor idf.
    expect(phraseBound(900, 1000)).toBeCloseTo(1e-6 * 2.2, 15);
    expect(phraseBound(10, 2000)).toBeGreaterThan(phraseBound(10, 1000));
    expect(prunes(5, [2, 2.9])).toBe(true);
    expect(prunes(5, [2, 3])).toBe(false);
    expect(prunes(5, [])).toBe(true);
  });

  it('returns exactly what the exhaustive FTS5 query returns, by every path, with other namespaces and stale versions in the file', async () => {
    const ns = 'lib';
    await store.upsert(ns, corpus(ns, 40, 25, rand));
    // An old version of some documents and another tenant: in the index, never in the result.
    await store.upsert(ns, corpus(ns, 10, 25, rand, 'v0'));
    await store.upsert('other', corpus('other', 30, 25, rand));
    const all: Array<[string, string]> = Array.from({ length: 40 }, (_, d) => [`d${d}`, 'v1']);
    // 40 of the namespace index's 50 versions, and 5 of them: the index's best rows are read first only for the first.
    const scopes = [all, all.slice(0, 5)];
    const exhaustive = exhaustiveQuery(db, ns);
    const search = new Fts5TopK(db);
    const paths = new Map<SearchTrace['path'], number>();
    for (let i = 0; i < 160; i++) {
      // A question of one to five words, rare and common mixed, sometimes a word no chunk holds.
      const words = Array.from({ length: 1 + Math.floor(rand() * 5) }, () =>
        rand() < 0.1 ? 'absent' : word(Math.floor(400 ** rand()) - 1),
      );
      const k = [1, 5, 20, 60][i % 4]!;
      const refs = scopes[Math.floor(i / 4) % 2]!;
      const phrases = ftsPhrases(words.join(' '));
      const want = exhaustive.all({
        match: phrases.join(' OR '),
        ns,
        dims: DIMS,
        refs: JSON.stringify(refs),
        k,
        model: MODEL,
      });
      const got = search.search({
        phrases,
        namespace: ns,
        dims: DIMS,
        model: MODEL,
        refs: JSON.stringify(refs),
        limit: k,
      });
      paths.set(got.trace.path, (paths.get(got.trace.path) ?? 0) + 1);
      expect(got.rows.map((r) => r.id)).toEqual(want.map((r) => r.id));
      for (const [j, r] of got.rows.entries()) expect(r.score).toBeCloseTo(want[j]!.score, 9);
    }
    // Each way to the top k was taken, so each was checked against the exhaustive scorer.
    expect(paths.get('pruned')).toBeGreaterThan(5);
    expect(paths.get('others')).toBeGreaterThan(5);
    expect(paths.get('best')).toBeGreaterThan(5);
    expect(paths.get('full')).toBeGreaterThan(5);
  });

  it("runs the full query when the common phrase's best rows are mostly in documents the question does not ask for, with the same result", async () => {
    const ns = 'small';
    const chunk = (space: string, o: number, text: string): StoredChunk => ({
      id: `${space}${o}`,
      namespace: ns,
      // The other chunks in ten documents outside the scope: the scope is then one version of eleven, too small a
      // share of the index to read the index's best rows first.
      documentId: space === 's' ? 'doc' : `doc${o % 10}`,
      version: 'v1',
      order: o,
      start: 0,
      end: 1,
      tokens: 3,
      text,
      vector: randomVector(rand),
    });
    // Here: the rare word in 30 chunks, the common one in 3 of them and in 20 others; k = 40 needs the common word's chunks.
    await store.upsert(ns, [
      ...Array.from({ length: 30 }, (_, o) => chunk('s', o, `xrare ${o % 10 === 0 ? 'xcommon' : 'xplain'} x${o}`)),
      ...Array.from({ length: 20 }, (_, o) => chunk('s', 30 + o, `xcommon xplain xother x${o}`)),
    ]);
    // The documents not asked for: the common word twice in short chunks (they outrank ours), and filler so it stays
    // rare-ish.
    await store.upsert(ns, [
      ...Array.from({ length: 200 }, (_, o) => chunk('b', o, 'xcommon xcommon')),
      ...Array.from({ length: 800 }, (_, o) => chunk('b', 200 + o, `xfiller x${o}`)),
    ]);
    const refs: Array<[string, string]> = [['doc', 'v1']];
    const phrases = ftsPhrases('xcommon xrare');
    const want = exhaustiveQuery(db, ns)
      .all({ match: phrases.join(' OR '), ns, dims: DIMS, refs: JSON.stringify(refs), k: 40, model: MODEL })
      .map((r) => r.id);
    const got = new Fts5TopK(db).search({
      phrases,
      namespace: ns,
      dims: DIMS,
      model: MODEL,
      refs: JSON.stringify(refs),
      limit: 40,
    });
    expect(got.trace.path).toBe('full');
    expect(got.rows.map((r) => r.id)).toEqual(want);
    expect(want).toHaveLength(40);
  });

  it('searches the same refs again with the scope and the word counts of the file as it is now: written by this connection or another', async () => {
    await withTwoConnections(async ({ here, mine, theirs }) => {
      const chunk = (doc: string, text: string): StoredChunk => ({
        id: `${doc}:0`,
        namespace: 'ns',
        documentId: doc,
        version: 'v1',
        order: 0,
        start: 0,
        end: text.length,
        tokens: 3,
        text,
        vector: randomVector(rand),
      });
      const search = new Fts5TopK(here);
      // The same refs string every time, as whole-namespace questions ask; b has no chunks yet.
      const q = {
        phrases: ftsPhrases('xword'),
        namespace: 'ns',
        dims: DIMS,
        model: MODEL,
        refs: JSON.stringify([
          ['a', 'v1'],
          ['b', 'v1'],
        ]),
        limit: 10,
      };
      const ids = () => search.search(q).rows.map((r) => r.id);
      await mine.upsert('ns', [chunk('a', 'xword one')]);
      expect(ids()).toEqual(['a:0']);
      expect(ids()).toEqual(['a:0']);
      // A version of the refs gains chunks: written by the other connection, then by this one.
      await theirs.upsert('ns', [chunk('b', 'xword xword two')]);
      expect(ids()).toEqual(['b:0', 'a:0']);
      await theirs.deleteDocument('ns', 'b');
      expect(ids()).toEqual(['a:0']);
      await mine.upsert('ns', [chunk('b', 'xword xword two')]);
      expect(ids()).toEqual(['b:0', 'a:0']);
      await theirs.deleteDocument('ns', 'a');
      expect(ids()).toEqual(['b:0']);
      // A word no chunk holds yet, then held: written by either connection, it is found (its count is not kept as 0).
      const later = (phrase: string) => search.search({ ...q, phrases: ftsPhrases(phrase) }).rows.map((r) => r.id);
      expect(later('xlater')).toEqual([]);
      await theirs.upsert('ns', [chunk('a', 'xlater one')]);
      expect(later('xlater')).toEqual(['a:0']);
      expect(later('xsoon')).toEqual([]);
      await mine.upsert('ns', [chunk('a', 'xsoon one')]);
      expect(later('xsoon')).toEqual(['a:0']);
    });
  });

  it('stays exactly the exhaustive query while either connection rewrites and deletes documents between searches of the same refs', async () => {
    await withTwoConnections(async ({ here, mine, theirs }) => {
      const ns = 'lib';
      await mine.upsert(ns, corpus(ns, 30, 20, rand));
      // The same refs string for every search, as whole-namespace questions send it.
      const refs = JSON.stringify(Array.from({ length: 30 }, (_, d) => [`d${d}`, 'v1']));
      const exhaustive = exhaustiveQuery(here, ns);
      const search = new Fts5TopK(here);
      let writes = 0;
      for (let i = 0; i < 120; i++) {
        if (i % 6 === 5) {
          // A document's text rewritten (its words' document frequencies change) or deleted, by one connection or the other.
          const store = writes++ % 2 === 0 ? mine : theirs;
          const d = Math.floor(rand() * 30);
          if (rand() < 0.7)
            await store.upsert(
              ns,
              corpus(ns, 30, 20, rand).filter((c) => c.documentId === `d${d}`),
            );
          else await store.deleteDocument(ns, `d${d}`);
        }
        const words = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => word(Math.floor(400 ** rand()) - 1));
        const phrases = ftsPhrases(words.join(' '));
        const k = [1, 10, 40][i % 3]!;
        const want = exhaustive.all({ match: phrases.join(' OR '), ns, dims: DIMS, refs, k, model: MODEL });
        const got = search.search({ phrases, namespace: ns, dims: DIMS, model: MODEL, refs, limit: k }).rows;
        expect(got.map((r) => r.id)).toEqual(want.map((r) => r.id));
        for (const [j, r] of got.entries()) expect(r.score).toBeCloseTo(want[j]!.score, 9);
      }
      expect(writes).toBe(20);
    });
  });
});

describe('one FTS5 index per namespace (migration 007, fts-tables.ts)', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });
  const file = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'air-fts-ns-'));
    dirs.push(dir);
    return join(dir, 'db.sqlite');
  };
  const QUESTIONS = ['x1 x2', 'x0 x5 x9', 'x3', 'x40 x1', 'x7 x0 x2 x11'];
  const refsOf = (chunks: readonly StoredChunk[]): Array<{ documentId: string; version: string }> =>
    [...new Map(chunks.map((c) => [`${c.documentId}\0${c.version}`, c])).values()].map((c) => ({
      documentId: c.documentId,
      version: c.version,
    }));

  /** Every question's results (ids and scores) over `ns` through the store's searchText. */
  async function answers(store: SqliteVectorStore, ns: string, chunks: readonly StoredChunk[]) {
    const refs = refsOf(chunks);
    const out: Array<Array<[string, number]>> = [];
    for (const q of QUESTIONS)
      out.push((await store.searchText(ns, refs, q, 30)).map((s) => [s.chunk.id, s.score] as [string, number]));
    return out;
  }

  it("ranks a namespace's chunks the same whatever other namespaces the file holds, and keeps each index to its chunks", async () => {
    const rand = seededRandom(5);
    const mine = corpus('mine', 12, 10, rand);
    // Another tenant with the same words in other proportions (a small vocabulary: its common words are ours).
    const theirs = corpus('theirs', 40, 10, rand, 'v1', 30);
    const alone = openSqlite(await file());
    const shared = openSqlite(await file());
    const a = new SqliteVectorStore({ db: alone, searchThread: false });
    const s = new SqliteVectorStore({ db: shared, searchThread: false });
    try {
      for (const st of [a, s]) await st.ensureReady(DIMS, MODEL);
      await a.upsert('mine', mine);
      await s.upsert('theirs', theirs);
      await s.upsert('mine', mine);
      const want = await answers(a, 'mine', mine);
      expect(want.flat().length).toBeGreaterThan(50);
      expect(await answers(s, 'mine', mine)).toEqual(want);
      // The other tenant rewrites and deletes documents: still the same, and each index holds its namespace's chunks.
      await s.upsert('theirs', corpus('theirs', 10, 10, rand, 'v1', 30));
      await s.deleteDocument('theirs', 'd30');
      await s.deleteDocument('theirs', 'd31', { keepVersion: 'v2' });
      // Another embedding model writes a version anew: the first model's chunks of it go, from the index too.
      const other = new SqliteVectorStore({ db: shared, searchThread: false });
      await other.ensureReady(DIMS, 'another-model');
      await other.upsert(
        'theirs',
        theirs.filter((c) => c.documentId === 'd2'),
      );
      await other.close();
      expect(await answers(s, 'mine', mine)).toEqual(want);
      expect(indexedRows(shared)).toEqual(
        Object.fromEntries(
          shared.prepare<[], [string, number]>('SELECT namespace, count(*) FROM chunks GROUP BY namespace').raw().all(),
        ),
      );
    } finally {
      await a.close();
      await s.close();
      alone.close();
      shared.close();
    }
  });

  it("indexes a file's chunks again per namespace on the first open after the migration, as if written now", async () => {
    const rand = seededRandom(9);
    const mine = corpus('mine', 10, 10, rand);
    const theirs = corpus('theirs', 20, 10, rand, 'v1', 30);
    // A file as the code before migration 007 left it: chunks in the file's single index (its triggers fill it).
    const old = await file();
    expect(writeOldFile(old, [...theirs, ...mine])).toBe(mine.length + theirs.length);

    const fresh = openSqlite(await file());
    const now = new SqliteVectorStore({ db: fresh, searchThread: false });
    const upgraded = openSqlite(old);
    const reopened = new SqliteVectorStore({ db: upgraded, searchThread: false });
    try {
      await now.ensureReady(DIMS, MODEL);
      await now.upsert('mine', mine);
      await reopened.ensureReady(DIMS, MODEL);
      const want = await answers(now, 'mine', mine);
      expect(want.flat().length).toBeGreaterThan(50);
      expect(await answers(reopened, 'mine', mine)).toEqual(want);
      expect(upgraded.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'chunks_fts'").pluck().get()).toBe(0);
      // Opened again (another process, the next start): nothing left to index.
      expect(new FtsTables(upgraded).indexUnindexed()).toBe(0);
    } finally {
      await now.close();
      await reopened.close();
      fresh.close();
      upgraded.close();
    }
  });
});
