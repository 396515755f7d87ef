import type Database from 'better-sqlite3';
import { FtsTableLookup } from './fts-tables.js';

/** The FTS5 search of SqliteVectorStore.searchText: the question's phrases, the scope and how many chunks. */
export interface LexicalQuery {
  /** FTS5 phrases (quoted words, see `ftsPhrases`), in question order. */
  phrases: string[];
  namespace: string;
  dims: number;
  /** The embedding model whose versions are read (chunk_versions.model): another model's versions are absent. */
  model: string;
  /** The document versions asked for, as the JSON text of [[documentId, version], …]; those of `model` are the scope. */
  refs: string;
  limit: number;
}

/** A row of the `chunks` table as the store reads it (vector aside). */
export interface ChunkRow {
  id: string;
  document_id: string;
  version: string;
  ord: number;
  start_char: number;
  end_char: number;
  tokens: number;
  text: string;
}

export interface SearchRow extends ChunkRow {
  score: number;
}

/** k1 of FTS5's bm25() (fixed in SQLite's fts5_aux.c, with b = 0.75). */
const FTS5_K1 = 1.2;

/**
 * An upper bound of one phrase's contribution to FTS5's bm25 for any row:
 * idf · tf·(k1+1) / (tf + k1·(1 − b + b·dl/avgdl)) < idf · (k1+1), with FTS5's
 * idf = ln((N − df + 0.5) / (df + 0.5)), floored at 1e-6. `rows` may exceed
 * the index's N (idf grows with N), so a cheap over-count keeps it a bound.
 */
export function phraseBound(df: number, rows: number): number {
  const idf = Math.log((rows - df + 0.5) / (df + 0.5));
  return (idf > 0 ? idf : 1e-6) * (FTS5_K1 + 1);
}

/**
 * MaxScore's test (Turtle & Flood, "Query evaluation: strategies and
 * optimizations", IP&M 1995): a chunk holding none of the essential phrases
 * scores at most the sum of the other phrases' bounds, so when that sum is
 * below the k-th best score among the chunks that hold an essential phrase
 * (all of them fully scored), no other chunk can enter the top k. The margin
 * absorbs floating-point rounding in the sums.
 */
export function prunes(kthBest: number, nonEssential: readonly number[]): boolean {
  const sum = nonEssential.reduce((a, b) => a + b, 0);
  return sum * (1 + 1e-9) + 1e-12 < kthBest;
}

/** The essential phrases are at most this share of the postings the whole query reads; past it pruning saves little. */
const ESSENTIAL_SHARE = 0.25;

/** The other phrases' best chunks are read in rounds of 2k, 8k, 32k rows, at most; past that the full query runs. */
const OTHERS_ROUNDS = 3;

/**
 * The index's best rows are read first only when the scope holds at least a quarter of the index's versions: the share
 * of in-scope rows below which reading further is given up (`#withOthers`), so a scope that small would mostly pay
 * for a read it then discards.
 */
const SCOPE_SHARE_FOR_BEST = 4;

/**
 * ... and when the essential phrases hold at least a tenth of the query's postings: scoring a row of theirs against
 * the scope (and with the others' contributions) costs about ten times reading it among the index's best rows (4 µs
 * against 0.4 µs a posting on bench/library.ts's 1M-chunk namespace), so past a tenth the best rows cost less.
 */
const BEST_FIRST_POSTINGS = 10;

interface Hit {
  seq: number;
  score: number;
}

/** What a search did, for tests and the benchmark's notes. */
export interface SearchTrace {
  /** Phrases that hold a chunk. */
  phrases: number;
  /** Phrases scored in full for every chunk holding them (the rarest); equal to `phrases` when the full query ran. */
  essential: number;
  /**
   * How the top k was found: the essential phrases' chunks sufficed (MaxScore), or with the others' best chunks, or
   * from the index's best chunks for the whole query (where MaxScore would score many rows against the scope), or by
   * the full query.
   */
  path: 'none' | 'pruned' | 'others' | 'best' | 'full';
  /** Rows of the others' best chunks read (`others`). */
  othersRead: number;
}

/**
 * The best `limit` chunks of a scope by FTS5's bm25() over the question's
 * phrases OR-ed, exactly as one FTS5 query ordered by bm25 (then by rowid)
 * gives them, without scoring every chunk that holds a common phrase in scope.
 *
 * One FTS5 query scores every row matching any phrase and joins each to its
 * chunk to test the scope: at 1M chunks a question's common word is in
 * 2–15% of them, and that is most of a search. Instead, MaxScore (Turtle &
 * Flood, "Query evaluation: strategies and optimizations", IP&M 1995), term
 * at a time: phrases sorted by document frequency, the rarest are
 * "essential", and every chunk in scope holding one is scored in full (its
 * essential phrases by one query, all its phrases by a second,
 * `(essential) AND (others)`, which FTS5 answers by seeking in the others'
 * posting lists, not reading them). A chunk holding no essential phrase
 * scores at most the others' bounds added up; when that is below the k-th
 * best so far, nothing else can enter the top k. The essential phrases are
 * as many of the rarest as stay a small share of the postings. Failing the
 * test, the others' best chunks in the namespace's whole
 * index are read, best first, without the join (one bm25 pass over their
 * postings, the cost of the exact bound the test lacked): a chunk holding no
 * essential phrase scores the same there as in the full query, so the top k
 * is final once the k-th best ranks above the last row read. Where MaxScore
 * would itself score many rows against the scope (no essential phrase, or
 * essential ones holding a tenth of the postings) and the scope is a good
 * share of the index, the index's best rows for the whole query are read that
 * way first. The full query runs only when the best rows read are mostly
 * out of scope.
 *
 * Scores are FTS5's own bm25 of each row over the same phrases (FTS5 weighs
 * each phrase by its own document frequency, whichever query it is in), so
 * the result is the full query's: the same chunks in the same order, scores
 * equal up to the order in which FTS5 adds the phrases' contributions (the
 * second query lists them in another order: a few ulps). Each namespace
 * (and vector size) has an index of its own (fts-tables.ts), so its
 * statistics are the namespace's alone.
 */
export class Fts5TopK {
  /** The scope of the search running (empty between searches): what chunk_in_scope tests. */
  #scope: ReadonlySet<string> = NO_SCOPE;
  /**
   * The last scope built, with what it was built from: the question's refs and the file's state (its data version,
   * which other connections' commits change, and this connection's count of changes). Whole-namespace questions ask
   * for the same refs each time: at 10,000 documents, parsing them and filtering the versions took some 20 ms a search.
   */
  #kept: { refs: string; stamp: string; scope: ReadonlySet<string> } | null = null;
  /**
   * Each phrase's document frequency in its namespace's index (and the index's versions' count), kept while the file
   * is unchanged (`stamp`, as for the scope), at most DF_KEPT phrases: counting a common word's rows is a pass over its postings (12 ms for a word in a fifth of
   * a 1M-chunk file), and common words are the ones questions repeat.
   */
  #dfKept: FileCounts = { stamp: '', counts: new Map(), indexVersions: new Map() };
  readonly #db: Database.Database;
  readonly #tables: FtsTableLookup;
  /** Each namespace's index statements, prepared on its first search. */
  readonly #byTable = new Map<string, TableStatements>();
  readonly #sql;
  readonly #snapshot: (q: LexicalQuery, k: number, trace: SearchTrace) => SearchRow[];

  constructor(db: Database.Database) {
    // The scope test runs in SQL, so only in-scope rows cross into JavaScript; the set is this search's (one at a time per connection).
    db.function('chunk_in_scope', { deterministic: false, varargs: false }, (doc: unknown, version: unknown) =>
      this.#scope.has(`${doc}\u0000${version}`) ? 1 : 0,
    );
    this.#db = db;
    this.#tables = new FtsTableLookup(db);
    this.#sql = {
      // INTEGER PRIMARY KEY values are distinct and positive: at least as many as the rows of any namespace's index.
      rows: db.prepare<[], number | null>('SELECT max(seq) FROM chunks').pluck(),
      // One range of chunk_versions' primary key: every version of the namespace's index (its dims and namespace).
      indexVersions: db
        .prepare<[number, string], number>('SELECT count(*) FROM chunk_versions WHERE dims = ? AND namespace = ?')
        .pluck(),
      // The namespace's versions this model wrote, one range of the primary key. (Joined to json_each in SQL, the
      // planner scanned the JSON once per version: 200 ms for 1,000 versions.)
      versions: db
        .prepare<[number, string, string], [string, string]>(
          'SELECT document_id, version FROM chunk_versions WHERE dims = ? AND namespace = ? AND model = ?',
        )
        .raw(),
      dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),
      changes: db.prepare<[], number>('SELECT total_changes()').pluck(),
      row: db.prepare<[number], ChunkRow>(
        'SELECT id, document_id, version, ord, start_char, end_char, tokens, text FROM chunks WHERE seq = ?',
      ),
    };
    // Every statement of a search reads one snapshot: another process's commit cannot fall between them.
    this.#snapshot = db.transaction((q: LexicalQuery, k: number, trace: SearchTrace) => {
      // The first read starts the snapshot, so the data version read next is the snapshot's.
      const n = this.#sql.rows.get() ?? 0;
      const table = this.#tables.get(q.dims, q.namespace);
      // Nothing of the namespace was ever indexed at these dimensions: no chunk can match.
      if (table === null) return [];
      const fts = this.#statements(table);
      // The file's state: its data version (other connections' commits) and this connection's count of changes.
      const file = `${this.#sql.dataVersion.get()}\u0000${this.#sql.changes.get()}`;
      if (this.#dfKept.stamp !== file) this.#dfKept = { stamp: file, counts: new Map(), indexVersions: new Map() };
      this.#scope = this.#scopeOf(q, file);
      return this.#topK(fts, q, k, n, trace).map((h) => ({ ...this.#sql.row.get(h.seq)!, score: h.score }));
    });
  }

  /** The versions asked for that this model wrote, as `document\0version` keys; kept while the file is unchanged. */
  #scopeOf(q: LexicalQuery, file: string): ReadonlySet<string> {
    const { versions } = this.#sql;
    const stamp = `${q.dims}\u0000${q.namespace}\u0000${q.model}\u0000${file}`;
    if (this.#kept && this.#kept.refs === q.refs && this.#kept.stamp === stamp) return this.#kept.scope;
    const asked = new Set((JSON.parse(q.refs) as Array<[string, string]>).map(([d, v]) => `${d}\u0000${v}`));
    const scope = new Set<string>();
    for (const [doc, version] of versions.all(q.dims, q.namespace, q.model)) {
      const key = `${doc}\u0000${version}`;
      if (asked.has(key)) scope.add(key);
    }
    this.#kept = { refs: q.refs, stamp, scope };
    return scope;
  }

  search(q: LexicalQuery): { rows: SearchRow[]; trace: SearchTrace } {
    const k = Math.floor(q.limit);
    const trace: SearchTrace = { phrases: 0, essential: 0, path: 'none', othersRead: 0 };
    if (k <= 0 || q.phrases.length === 0) return { rows: [], trace };
    try {
      return { rows: this.#snapshot(q, k, trace), trace };
    } finally {
      this.#scope = NO_SCOPE;
    }
  }

  /** `fts`: the namespace's index; `n`: an upper bound of its rows (the file's largest seq), for the phrases' bounds. */
  #topK(fts: TableStatements, q: LexicalQuery, k: number, n: number, trace: SearchTrace): Hit[] {
    const { top } = fts;
    // A phrase no row holds adds exactly 0 to every score: leaving it out changes nothing.
    const present = q.phrases
      .map((phrase, at) => ({ phrase, at, df: this.#df(fts, phrase) }))
      .filter((p) => p.df > 0)
      .map((p) => ({ ...p, bound: phraseBound(p.df, n) }));
    trace.phrases = present.length;
    if (present.length === 0) return [];
    const byDf = [...present].sort((a, b) => a.df - b.df || a.at - b.at);
    const postings = present.reduce((a, p) => a + p.df, 0);
    // The essential phrases: the rarest, as many as read at most a share of the postings, never all. A larger set
    // prunes whenever a smaller one does (more chunks scored in full, a smaller bound for the rest), so only it is tried.
    let j = 0;
    for (let read = byDf[0]!.df; j + 1 < byDf.length && read <= ESSENTIAL_SHARE * postings; read += byDf[++j]!.df);
    const essentialPostings = byDf.slice(0, j).reduce((a, p) => a + p.df, 0);
    // The index's best rows first when the scope is a good share of the index and MaxScore would score many rows
    // against the scope anyway: no phrase is rare enough to be essential (two common words), or the essential ones
    // hold a tenth of the postings. (`present` is in question order, so the rows score bit for bit as in the full query.)
    if (
      (j === 0 || essentialPostings * BEST_FIRST_POSTINGS >= postings) &&
      this.#scope.size * SCOPE_SHARE_FOR_BEST >= this.#indexVersions(q.dims, q.namespace)
    ) {
      const done = this.#withOthers(fts, [], present, q, k, trace);
      if (done) {
        trace.essential = 0;
        trace.path = 'best';
        return done;
      }
    }
    if (j > 0) {
      const essential = byDf.slice(0, j);
      // The others in question order: a chunk holding none of the essential phrases then scores bit for bit as in the full query.
      const others = byDf.slice(j).sort((a, b) => a.at - b.at);
      const scored = this.#essential(fts, essential, others, q);
      trace.essential = j;
      if (
        scored.length >= k &&
        prunes(
          scored[k - 1]!.score,
          others.map((p) => p.bound),
        )
      ) {
        trace.path = 'pruned';
        return scored.slice(0, k);
      }
      const done = this.#withOthers(fts, scored, others, q, k, trace);
      if (done) {
        trace.path = 'others';
        return done;
      }
    }
    trace.essential = present.length;
    trace.path = 'full';
    // The full query, phrases in question order as before (the contributions are added in the same order).
    return top.all(or(present), q.namespace, q.dims, k);
  }

  /** The rows of the namespace's index holding `phrase`, from #dfKept when counted since the file last changed. */
  #df(fts: TableStatements, phrase: string): number {
    const { counts } = this.#dfKept;
    const key = `${fts.table}\u0000${phrase}`;
    let df = counts.get(key);
    if (df === undefined) {
      df = fts.df.get(phrase) ?? 0;
      if (counts.size >= DF_KEPT) counts.clear();
      counts.set(key, df);
    }
    return df;
  }

  /** The versions of the namespace's index (at `dims`), counted once while the file is unchanged. */
  #indexVersions(dims: number, namespace: string): number {
    const kept = this.#dfKept.indexVersions;
    const key = `${dims}\u0000${namespace}`;
    let n = kept.get(key);
    if (n === undefined) {
      n = this.#sql.indexVersions.get(dims, namespace) ?? 0;
      kept.set(key, n);
    }
    return n;
  }

  /** A namespace's index statements, prepared once. */
  #statements(table: string): TableStatements {
    let st = this.#byTable.get(table);
    if (st) return st;
    const db = this.#db;
    // chunks_scope (migration 005) covers the join: a chunk row holds its vector, so the table itself is a page per row.
    const inScope = 'c.namespace = ? AND c.dims = ? AND chunk_in_scope(c.document_id, c.version)';
    const hits = `SELECT c.seq AS seq, -bm25(${table}) AS score
      FROM ${table} JOIN chunks c INDEXED BY chunks_scope ON c.seq = ${table}.rowid
      WHERE ${table} MATCH ? AND ${inScope}`;
    st = {
      table,
      hits: db.prepare<[string, string, number], Hit>(hits),
      top: db.prepare<[string, string, number, number], Hit>(`${hits} ORDER BY bm25(${table}), c.seq LIMIT ?`),
      // The index's best rows first, then the scope test for those only.
      best: db.prepare<[string, number, string, number], Hit & { ok: number }>(
        `SELECT b.seq AS seq, b.score AS score, c.seq IS NOT NULL AS ok FROM (
           SELECT rowid AS seq, -bm25(${table}) AS score FROM ${table} WHERE ${table} MATCH ?
           ORDER BY bm25(${table}), rowid LIMIT ?
         ) b LEFT JOIN chunks c INDEXED BY chunks_scope ON c.seq = b.seq AND ${inScope}
         ORDER BY b.score DESC, b.seq`,
      ),
      df: db.prepare<[string], number>(`SELECT count(*) FROM ${table} WHERE ${table} MATCH ?`).pluck(),
    };
    this.#byTable.set(table, st);
    return st;
  }

  /** Every chunk in scope holding an essential phrase, with its full score, best first. */
  #essential(fts: TableStatements, essential: readonly Phrase[], others: readonly Phrase[], q: LexicalQuery): Hit[] {
    const { hits } = fts;
    const scored = new Map<number, number>();
    for (const h of hits.all(or(essential), q.namespace, q.dims)) scored.set(h.seq, h.score);
    // Those holding another phrase too: their full score (FTS5 scores every phrase of a query).
    if (scored.size > 0)
      for (const h of hits.all(`(${or(essential)}) AND (${or(others)})`, q.namespace, q.dims))
        scored.set(h.seq, h.score);
    return [...scored].map(([seq, score]) => ({ seq, score })).sort(byScore);
  }

  /**
   * The top k from the essential phrases' chunks (`scored`) and the best chunks of the other phrases alone: a chunk
   * in scope holding no essential phrase scores there what it scores in the full query. Null when the others' best
   * rows are mostly outside the scope (then reading further costs more than the full query).
   */
  #withOthers(
    fts: TableStatements,
    scored: Hit[],
    others: readonly Phrase[],
    q: LexicalQuery,
    k: number,
    trace: SearchTrace,
  ): Hit[] | null {
    const essential = new Set(scored.map((h) => h.seq));
    for (let round = 0, m = 2 * k; round < OTHERS_ROUNDS; round++, m *= 4) {
      const best = fts.best.all(or(others), m, q.namespace, q.dims);
      trace.othersRead += best.length;
      const candidates = [...scored, ...best.filter((h) => h.ok && !essential.has(h.seq))].sort(byScore);
      // Rows not read rank after the last one read (same order: score, then rowid).
      const last = best.at(-1);
      if (best.length < m || !last || (candidates.length >= k && byScore(candidates[k - 1]!, last) <= 0))
        return candidates.slice(0, k);
      if (best.filter((h) => h.ok).length * 4 < best.length) return null;
    }
    return null;
  }
}

const NO_SCOPE: ReadonlySet<string> = new Set();

/** Counts kept while the file is unchanged (`stamp`): phrases' rows per index, each index's versions. */
interface FileCounts {
  stamp: string;
  counts: Map<string, number>;
  indexVersions: Map<string, number>;
}

/** One namespace's FTS5 index (fts-tables.ts) and the statements that search it. */
interface TableStatements {
  table: string;
  hits: Database.Statement<[string, string, number], Hit>;
  top: Database.Statement<[string, string, number, number], Hit>;
  best: Database.Statement<[string, number, string, number], Hit & { ok: number }>;
  df: Database.Statement<[string], number>;
}
const DF_KEPT = 10_000;

interface Phrase {
  phrase: string;
  /** Position in the question. */
  at: number;
  df: number;
  bound: number;
}

const or = (ps: readonly { phrase: string }[]): string => ps.map((p) => p.phrase).join(' OR ');

function byScore(a: Hit, b: Hit): number {
  return b.score - a.score || a.seq - b.seq;
}
