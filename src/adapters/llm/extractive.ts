import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { AppError } from '../../errors.js';
import { Lru } from '../../core/lru.js';
import { cl100k } from '../../core/tokenizer.js';
import { analyze } from '../../core/text/analyse.js';
import { splitSentences } from '../../core/text/sentences.js';
import type { Embedder } from '../../ports/embedder.js';
import type {
  ChatMessage,
  Citation,
  CompletionRequest,
  CompletionResult,
  LlmProvider,
  ReadingTask,
  SourceSpan,
} from '../../ports/llm.js';

export interface ExtractiveReaderOptions {
  embedder: Embedder;
  /** Tokens it accepts: it reads anything, so budgets never cut its context. Default 1 000 000. */
  contextWindow?: number;
  /** Sentences in an answer. Default 3. */
  maxSentences?: number;
  /** Sentences a Chain-of-Agents note carries forward. Default 2 × maxSentences. */
  noteSentences?: number;
  /**
   * Most sentences embedded per call; beyond it, sentences are pre-filtered by
   * term overlap. USE lite embeds ~60 short sentences/s on 2 cores. Default 160.
   */
  maxEmbeddedSentences?: number;
  /** Weight of embedding similarity in a sentence's score; term overlap gets the rest. Default 0.5. */
  denseWeight?: number;
  /**
   * Sentences after the best one are quoted only if they score at least this
   * fraction of the best, so weak matches do not pad an answer. Default 0.5.
   */
  minRelativeScore?: number;
  /**
   * Approximate bytes of analysed passages kept (their sentences and content
   * terms), least recently used dropped first. Default 32 MiB: about ten
   * 128k-token books.
   */
  analysisCacheBytes?: number;
}

/** How many candidates of a read use a term. */
type DocumentFrequency = (term: string) => number;

/** For each term, the indices of the candidates (sentences) that use it, ascending. */
type Postings = ReadonlyMap<string, readonly number[]>;

/** A passage split into sentences with their content terms: the same for every question that reads it. */
interface AnalysedText {
  /** The passage itself (its sentences are slices of it anyway). */
  text: string;
  sentences: ReadonlyArray<{ start: number; end: number; terms: ReadonlySet<string>; normalised: string }>;
  /** Sentences of the passage that use each term. */
  df: ReadonlyMap<string, number>;
  /** The indices of those sentences, ascending. */
  postings: Postings;
  /** cl100k tokens of the passage. */
  tokens: number;
  /**
   * Its candidates as last placed (document, chunk, offset, rank of the
   * document in the task): the same passage read again — a whole document
   * for full context, the passages of a repeated retrieval — reuses them.
   * Candidates are never mutated.
   */
  placed?: { frame: string; candidates: Candidate[] };
}

/** Sentences analysed between two yields to the event loop (~10 ms of work). */
const ANALYSIS_SLICE = 500;
/** Characters of text split into sentences between two yields; cuts fall on blank lines, where a sentence always ends. */
const SPLIT_SLICE_CHARS = 20_000;

/** Every answer starts with it, so nobody mistakes quoted sentences for a model's reasoning. */
export const EXTRACTIVE_PREFIX = '[extractive] ';

interface Candidate {
  text: string;
  citation: Citation | null;
  /** Sort key for reading order: document rank, then offset. */
  order: readonly [number, number];
  /** Its content terms, when already known. */
  terms?: ReadonlySet<string>;
  /** `normalise(text)`, when already known: the same string object on every read keeps lookups by it cheap. */
  normalised?: string;
}

/**
 * The reader used when no LLM is configured: it answers by quoting the
 * sentences of the context most similar to the question (embedding cosine
 * plus IDF-weighted term overlap), in document order, with their spans as
 * citations. It cannot reason, decline or paraphrase; every answer says so
 * with the `[extractive] ` prefix. It ignores `messages` and reads the
 * structured `task` instead. Deterministic: ties break by reading order.
 *
 * In a Chain-of-Agents run (Zhang et al., 2024, "Chain of Agents: Large
 * Language Models Collaborating on Long-Context Tasks") a worker's note is the
 * best sentences of the previous note and of its segment, so evidence found
 * early is carried to the manager.
 *
 * It stands in for a remote LLM, whose time is spent elsewhere; this one runs
 * on the server's event loop, so it must not hold it: the analysis of a
 * passage (sentences, content terms; ~150 ms for a 128k-token book) is cached
 * by the passage's text and done in slices that yield to other requests, and
 * each question then only scores terms it has and ranks the sentences it
 * embedded.
 */
export class ExtractiveReader implements LlmProvider {
  readonly id = 'extractive';
  readonly kind = 'extractive' as const;
  readonly tokenCountIsEstimate = false;
  readonly model: string;
  readonly contextWindow: number;
  private readonly embedder: Embedder;
  private readonly maxSentences: number;
  private readonly noteSentences: number;
  private readonly maxEmbedded: number;
  private readonly denseWeight: number;
  private readonly minRelativeScore: number;
  /** Notes this reader wrote, with the spans of their sentences, so later steps can cite them. */
  private readonly notes = new Lru<string, Candidate[]>(256);
  private readonly vectors = new Lru<string, Float32Array>(4096);
  private readonly analysed: Lru<string, AnalysedText>;

  constructor(opts: ExtractiveReaderOptions) {
    this.embedder = opts.embedder;
    this.contextWindow = opts.contextWindow ?? 1_000_000;
    this.maxSentences = Math.max(1, opts.maxSentences ?? 3);
    this.noteSentences = Math.max(1, opts.noteSentences ?? 2 * this.maxSentences);
    this.maxEmbedded = Math.max(1, opts.maxEmbeddedSentences ?? 160);
    this.denseWeight = Math.min(1, Math.max(0, opts.denseWeight ?? 0.5));
    this.minRelativeScore = Math.min(1, Math.max(0, opts.minRelativeScore ?? 0.5));
    this.model = `extractive:${opts.embedder.id}`;
    // Per sentence: offsets, a Set of ~10 terms, its share of the df map and postings, its normalised text and its placed candidate.
    this.analysed = new Lru(
      opts.analysisCacheBytes ?? 32 * 1024 * 1024,
      (a) => 64 + a.text.length + a.sentences.length * 1400,
    );
  }

  countTokens(text: string): number {
    return cl100k.count(text);
  }

  /** Content tokens only: it reads no chat template. */
  countMessageTokens(messages: readonly ChatMessage[]): number {
    return messages.reduce((n, m) => n + cl100k.count(m.content), 0);
  }

  async complete(req: CompletionRequest): Promise<CompletionResult> {
    const started = performance.now();
    const task = req.task;
    if (!task) {
      throw new AppError('INTERNAL', [], {
        cause: new Error(
          'the extractive reader needs a structured task (answer, coa-worker or coa-manager); it cannot read free-form prompts',
        ),
      });
    }
    if (req.signal?.aborted) throw new AppError('CANCELLED', [], { cause: req.signal.reason });
    try {
      switch (task.kind) {
        case 'answer':
          return await this.answer(task, req, started);
        case 'coa-worker':
          return await this.work(task, req, started);
        case 'coa-manager':
          return await this.manage(task, req, started);
      }
    } catch (err) {
      if (req.signal?.aborted && !(err instanceof AppError && err.code === 'CANCELLED')) {
        throw new AppError('CANCELLED', [], { cause: err });
      }
      throw err;
    }
  }

  health(): Promise<void> {
    return this.embedder.health();
  }

  /** The embedder belongs to the caller, who closes it. */
  async close(): Promise<void> {}

  private async answer(
    task: Extract<ReadingTask, { kind: 'answer' }>,
    req: CompletionRequest,
    started: number,
  ): Promise<CompletionResult> {
    const { candidates, df, postings, tokens } = await this.spansToCandidates(task.passages, req.signal);
    const chosen = await this.select(task.question, candidates, this.maxSentences, req, df, postings);
    const read = tokens + cl100k.count(task.question);
    return this.finish(chosen, read, req, started, true);
  }

  private async work(
    task: Extract<ReadingTask, { kind: 'coa-worker' }>,
    req: CompletionRequest,
    started: number,
  ): Promise<CompletionResult> {
    const previous = this.noteEntries(task.previousNote, []).map((c, i) => ({ ...c, order: [0, i] as const }));
    const segment = (await this.spansToCandidates([task.segment], req.signal)).candidates.map((c) => ({
      ...c,
      order: [1, c.order[1]] as const,
    }));
    const chosen = await this.select(task.question, [...previous, ...segment], this.noteSentences, req);
    const read = cl100k.count(task.previousNote) + cl100k.count(task.segment.text) + cl100k.count(task.question);
    return this.finish(chosen, read, req, started, false);
  }

  private async manage(
    task: Extract<ReadingTask, { kind: 'coa-manager' }>,
    req: CompletionRequest,
    started: number,
  ): Promise<CompletionResult> {
    const entries = this.noteEntries(task.note, task.noteSources);
    const chosen = await this.select(task.question, entries, this.maxSentences, req);
    const read = cl100k.count(task.note) + cl100k.count(task.question);
    return this.finish(chosen, read, req, started, true);
  }

  /** A note's sentences with their spans: remembered if this reader wrote it, else found in `sources`. */
  private noteEntries(note: string, sources: readonly SourceSpan[]): Candidate[] {
    const known = this.notes.get(note);
    if (known) return known;
    const docRank = documentRanks(sources);
    return splitSentences(note).map((s, i) => {
      const text = note.slice(s.start, s.end);
      for (const src of sources) {
        const at = src.text.indexOf(text);
        if (at !== -1) {
          const start = src.start + at;
          return {
            text,
            citation: { documentId: src.documentId, chunkId: src.chunkId, start, end: start + text.length, text },
            order: [docRank.get(src.documentId) ?? 0, start] as const,
          };
        }
      }
      return { text, citation: null, order: [Number.MAX_SAFE_INTEGER, i] as const };
    });
  }

  /** The best `limit` candidates that fit `req.maxTokens`, in reading order; `df` as in {@link score}. */
  private async select(
    question: string,
    candidates: readonly Candidate[],
    limit: number,
    req: CompletionRequest,
    df?: DocumentFrequency,
    postings?: Postings,
  ): Promise<Candidate[]> {
    if (candidates.length === 0) return [];
    const { scores, embedded } = await this.score(question, candidates, req.signal, df, postings);
    // Only embedded sentences have finite scores, and the loop below stops at the first that is not: rank just those.
    const ranked = embedded.sort((a, b) => scores[b]! - scores[a]! || compareOrder(candidates[a]!, candidates[b]!));
    const chosen: Candidate[] = [];
    let tokens = cl100k.count(EXTRACTIVE_PREFIX);
    const best = scores[ranked[0]!]!;
    const floor = best > 0 ? best * this.minRelativeScore : best;
    for (const i of ranked) {
      if (chosen.length >= limit || !Number.isFinite(scores[i]!) || scores[i]! < floor) break;
      const c = candidates[i]!;
      const cost = cl100k.count(` ${normalise(c.text)}`);
      if (tokens + cost > req.maxTokens) continue;
      chosen.push(c);
      tokens += cost;
    }
    if (chosen.length === 0)
      chosen.push(truncate(candidates[ranked[0]!]!, req.maxTokens - cl100k.count(EXTRACTIVE_PREFIX)));
    return chosen.sort(compareOrder);
  }

  /**
   * denseWeight × cosine(question, sentence) + (1 − denseWeight) × the share
   * of the question's IDF mass (BM25 IDF over the candidate sentences) that
   * the sentence contains. Sentences left out by the pre-filter score
   * -Infinity; `embedded` lists the others. `df`, when given, is the number
   * of candidates that use each term (as computed here otherwise).
   */
  private async score(
    question: string,
    candidates: readonly Candidate[],
    signal: AbortSignal | undefined,
    knownDf?: DocumentFrequency,
    postings?: Postings,
  ): Promise<{ scores: number[]; embedded: number[] }> {
    const qTerms = [...new Set(analyze(question))];
    const n = candidates.length;
    if (postings && knownDf) {
      // Sparse: only sentences that use a question term get an overlap, summed in the same order as below.
      const { qIdf, qMass } = questionWeights(qTerms, n, knownDf);
      const overlap = new Float64Array(n);
      const touched: number[] = [];
      if (qMass !== 0) {
        qTerms.forEach((t, k) => {
          for (const i of postings.get(t) ?? []) {
            if (overlap[i] === 0) touched.push(i);
            overlap[i]! += qIdf[k]!;
          }
        });
        for (const i of touched) overlap[i]! /= qMass;
      }
      return this.scoreEmbedded(
        question,
        candidates,
        overlap,
        n > this.maxEmbedded
          ? topOfSparse(candidates, overlap, touched, this.maxEmbedded)
          : candidates.map((_, i) => i),
        signal,
      );
    }
    const cTerms = candidates.map((c) => c.terms ?? new Set(analyze(c.text)));
    let df = knownDf;
    if (!df) {
      const counted = new Map<string, number>();
      for (const terms of cTerms) for (const t of terms) counted.set(t, (counted.get(t) ?? 0) + 1);
      df = (t) => counted.get(t) ?? 0;
    }
    const { qIdf, qMass } = questionWeights(qTerms, n, df);
    const overlap = cTerms.map((terms) => {
      if (qMass === 0) return 0;
      let s = 0;
      for (let k = 0; k < qTerms.length; k++) if (terms.has(qTerms[k]!)) s += qIdf[k]!;
      return s / qMass;
    });

    const embedded =
      n > this.maxEmbedded ? mostOverlapping(candidates, overlap, this.maxEmbedded) : candidates.map((_, i) => i);
    return this.scoreEmbedded(question, candidates, overlap, embedded, signal);
  }

  /** Scores of the `embedded` candidates (see {@link score}), -Infinity for the rest. */
  private async scoreEmbedded(
    question: string,
    candidates: readonly Candidate[],
    overlap: ArrayLike<number>,
    embedded: number[],
    signal: AbortSignal | undefined,
  ): Promise<{ scores: number[]; embedded: number[] }> {
    const dense = await this.similarities(
      question,
      embedded.map((i) => candidates[i]!.normalised ?? normalise(candidates[i]!.text)),
      signal,
    );
    const scores = new Array<number>(candidates.length).fill(Number.NEGATIVE_INFINITY);
    embedded.forEach((i, k) => {
      scores[i] = this.denseWeight * dense[k]! + (1 - this.denseWeight) * overlap[i]!;
    });
    return { scores, embedded };
  }

  /**
   * The sentences of the spans as candidates, each quoted once where
   * overlapping spans repeat it, with the number of candidates using each
   * term (summed from the spans' cached analyses when nothing was repeated).
   */
  private async spansToCandidates(
    spans: readonly SourceSpan[],
    signal: AbortSignal | undefined,
  ): Promise<{ candidates: Candidate[]; df: DocumentFrequency | undefined; postings?: Postings; tokens: number }> {
    const docRank = documentRanks(spans);
    const analyses: AnalysedText[] = [];
    for (const span of spans) analyses.push(await this.analyse(span.text, signal));
    const tokens = analyses.reduce((n, a) => n + a.tokens, 0);
    if (overlapping(spans)) {
      // Overlapping chunks repeat sentences; quote each once, and count terms over what is quoted.
      const seen = new Set<string>();
      const out: Candidate[] = [];
      spans.forEach((span, k) => {
        for (const c of placed(span, analyses[k]!, docRank.get(span.documentId) ?? 0)) {
          const key = `${span.documentId}\u0000${c.citation!.start}\u0000${c.citation!.end}`;
          if (seen.has(key)) continue;
          seen.add(key);
          out.push(c);
        }
      });
      return { candidates: out, df: undefined, tokens };
    }
    if (spans.length === 1) {
      // One span's candidates are its sentences, in reading order: its postings index them as they are.
      const a = analyses[0]!;
      return { candidates: placed(spans[0]!, a, 0), df: (t) => a.df.get(t) ?? 0, postings: a.postings, tokens };
    }
    const candidates = spans.flatMap((span, k) => placed(span, analyses[k]!, docRank.get(span.documentId) ?? 0));
    // Only the question's terms are ever looked up: sum those, rather than merging every passage's whole table.
    const df: DocumentFrequency = (t) => analyses.reduce((sum, a) => sum + (a.df.get(t) ?? 0), 0);
    return { candidates, df, tokens };
  }

  /** The sentences of `text` and their terms, from the cache or computed in slices that let other requests run in between. */
  private async analyse(text: string, signal: AbortSignal | undefined): Promise<AnalysedText> {
    // Keyed by length and ends, and confirmed by comparing the whole text: usually the very string cached by retrieval
    // (one pointer comparison), where hashing a book costs milliseconds on every read.
    const key = `${text.length}\u0000${text.slice(0, 64)}\u0000${text.slice(-64)}`;
    const hit = this.analysed.get(key);
    if (hit?.text === text) return hit;
    // Readers of the same new passage at once (a burst of full-context questions) share one analysis; it is not
    // cancelled with any one of them, as the others still need it.
    let a = hit ? undefined : await this.analysed.getOrLoad(key, () => this.analyseNow(text));
    if (a?.text !== text) {
      // Another text of the same length and ends (two versions of a document differing only in the middle): its own.
      a = await this.analyseNow(text);
      this.analysed.set(key, a);
    }
    if (signal?.aborted) throw new AppError('CANCELLED', [], { cause: signal.reason });
    return a;
  }

  private async analyseNow(text: string): Promise<AnalysedText> {
    const spans: Array<{ start: number; end: number }> = [];
    for (const piece of blankLinePieces(text, SPLIT_SLICE_CHARS)) {
      for (const s of splitSentences(text.slice(piece.start, piece.end)))
        spans.push({ start: piece.start + s.start, end: piece.start + s.end });
      if (piece.end < text.length) await yieldToLoop();
    }
    const sentences: AnalysedText['sentences'][number][] = [];
    const df = new Map<string, number>();
    const postings = new Map<string, number[]>();
    for (let i = 0; i < spans.length; i++) {
      if (i > 0 && i % ANALYSIS_SLICE === 0) await yieldToLoop();
      const sentence = text.slice(spans[i]!.start, spans[i]!.end);
      const terms = new Set(analyze(sentence));
      for (const t of terms) {
        df.set(t, (df.get(t) ?? 0) + 1);
        const list = postings.get(t);
        if (list) list.push(i);
        else postings.set(t, [i]);
      }
      sentences.push({ ...spans[i]!, terms, normalised: normalise(sentence) });
    }
    return { text, sentences, df, postings, tokens: cl100k.count(text) };
  }

  private async similarities(
    question: string,
    texts: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<number[]> {
    if (this.denseWeight === 0) return texts.map(() => 0);
    const q = await this.embedder.embedQuery(question, signal);
    const local = new Map<string, Float32Array>();
    for (const t of texts) {
      const v = this.vectors.get(t);
      if (v) local.set(t, v);
    }
    const missing = [...new Set(texts.filter((t) => !local.has(t)))];
    if (missing.length > 0) {
      const vecs = await this.embedder.embedDocuments(missing, signal);
      if (vecs.length !== missing.length)
        throw new AppError('EMBEDDER_BAD_RESPONSE', [`${vecs.length} vectors for ${missing.length} sentences`]);
      missing.forEach((t, i) => {
        local.set(t, vecs[i]!);
        this.vectors.set(t, vecs[i]!);
      });
    }
    return texts.map((t) => cosine(q, local.get(t)!));
  }

  private finish(
    chosen: Candidate[],
    readTokens: number,
    req: CompletionRequest,
    started: number,
    isAnswer: boolean,
  ): CompletionResult {
    const pieces = chosen.map((c, i) => `${i === 0 ? '' : isAnswer ? ' ' : '\n\n'}${normalise(c.text)}`);
    if (isAnswer) pieces[0] = `${EXTRACTIVE_PREFIX}${pieces[0] ?? 'The context holds no sentences to quote.'}`;
    const text = pieces.join('');
    if (!isAnswer) this.notes.set(text, chosen);
    for (const p of pieces) req.onToken?.(p);
    const truncated = chosen.some((c) => c.citation !== null && normalise(c.text) !== normalise(c.citation.text));
    return {
      text,
      usage: { promptTokens: readTokens, completionTokens: cl100k.count(text), estimated: false },
      latencyMs: performance.now() - started,
      finishReason: truncated ? 'length' : 'stop',
      citations: chosen.flatMap((c) => (c.citation ? [c.citation] : [])),
    };
  }
}

/** BM25 IDF of each question term over `n` candidates, and their sum (the question's IDF mass). */
function questionWeights(
  qTerms: readonly string[],
  n: number,
  df: DocumentFrequency,
): { qIdf: number[]; qMass: number } {
  const qIdf = qTerms.map((t) => Math.log(1 + (n - df(t) + 0.5) / (df(t) + 0.5)));
  return { qIdf, qMass: qIdf.reduce((sum, x) => sum + x, 0) };
}

/**
 * The `k` candidates of most overlap, ties in reading order: what sorting
 * all of them by (overlap, reading order) and taking the first `k` gives,
 * without sorting the thousands of sentences of a book that share none of
 * the question's terms.
 */
function mostOverlapping(candidates: readonly Candidate[], overlap: readonly number[], k: number): number[] {
  const some: number[] = [];
  const none: number[] = [];
  for (const [i, o] of overlap.entries()) (o > 0 ? some : none).push(i);
  const byOrder = (a: number, b: number): number => compareOrder(candidates[a]!, candidates[b]!);
  some.sort((a, b) => overlap[b]! - overlap[a]! || byOrder(a, b));
  if (some.length >= k) return some.slice(0, k);
  const inOrder = none.every((i, j) => j === 0 || byOrder(none[j - 1]!, i) <= 0);
  return [...some, ...(inOrder ? none : none.sort(byOrder)).slice(0, k - some.length)];
}

/**
 * {@link mostOverlapping} for candidates in reading order whose overlaps are
 * zero but at `touched`: the touched ones ranked, then the first untouched
 * ones, without visiting the rest.
 */
function topOfSparse(
  candidates: readonly Candidate[],
  overlap: ArrayLike<number>,
  touched: readonly number[],
  k: number,
): number[] {
  const some = [...touched].sort((a, b) => overlap[b]! - overlap[a]! || compareOrder(candidates[a]!, candidates[b]!));
  if (some.length >= k) return some.slice(0, k);
  const taken = new Set(touched);
  for (let i = 0; some.length < k && i < candidates.length; i++) if (!taken.has(i)) some.push(i);
  return some;
}

/** The candidates of one analysed span at its place in a task, reused while the place is the same. */
function placed(span: SourceSpan, a: AnalysedText, rank: number): Candidate[] {
  const frame = `${span.documentId}\u0000${span.chunkId}\u0000${span.start}\u0000${rank}`;
  if (a.placed?.frame !== frame) {
    const candidates = a.sentences.map((s): Candidate => {
      const text = span.text.slice(s.start, s.end);
      const start = span.start + s.start;
      return {
        text,
        citation: { documentId: span.documentId, chunkId: span.chunkId, start, end: span.start + s.end, text },
        order: [rank, start],
        terms: s.terms,
        normalised: s.normalised,
      };
    });
    a.placed = { frame, candidates };
  }
  return a.placed.candidates;
}

/** True when two spans of one document share characters (overlapping chunks): their common sentences must be quoted once. */
function overlapping(spans: readonly SourceSpan[]): boolean {
  const byDoc = new Map<string, SourceSpan[]>();
  for (const s of spans) byDoc.set(s.documentId, [...(byDoc.get(s.documentId) ?? []), s]);
  for (const list of byDoc.values()) {
    const sorted = [...list].sort((a, b) => a.start - b.start);
    for (let i = 1; i < sorted.length; i++) if (sorted[i]!.start < sorted[i - 1]!.end) return true;
  }
  return false;
}

/**
 * `text` cut into pieces of about `size` characters, each cut just after a
 * line break that starts an empty line: a blank line always ends a sentence
 * and a block, so splitting the pieces gives the sentences of the whole.
 */
function blankLinePieces(text: string, size: number): Array<{ start: number; end: number }> {
  const out: Array<{ start: number; end: number }> = [];
  let start = 0;
  while (text.length - start > size) {
    const at = text.indexOf('\n\n', start + size);
    if (at === -1) break;
    out.push({ start, end: at + 1 });
    start = at + 1;
  }
  out.push({ start, end: text.length });
  return out;
}

function documentRanks(spans: readonly SourceSpan[]): Map<string, number> {
  const ranks = new Map<string, number>();
  for (const s of spans) if (!ranks.has(s.documentId)) ranks.set(s.documentId, ranks.size);
  return ranks;
}

function compareOrder(a: Candidate, b: Candidate): number {
  return a.order[0] - b.order[0] || a.order[1] - b.order[1];
}

function normalise(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Cuts a sentence to whole words within `budget` tokens; its citation still spans the full sentence. */
function truncate(c: Candidate, budget: number): Candidate {
  const words = normalise(c.text).split(' ');
  let text = '';
  for (const w of words) {
    const next = text ? `${text} ${w}` : w;
    if (cl100k.count(` ${next}`) > Math.max(1, budget)) break;
    text = next;
  }
  // Its normalised text is that of the whole sentence: not carried over.
  const { normalised: _whole, ...rest } = c;
  return { ...rest, text: text || (words[0] ?? '') };
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
