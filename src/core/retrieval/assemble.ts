import { cl100k, type Tokenizer } from '../tokenizer.js';

/** A selected chunk with its place in the original document: `text === original.slice(start, end)`. */
export interface AssemblyChunk {
  documentId: string;
  chunkId: string;
  start: number;
  end: number;
  text: string;
  order: number;
  /** cl100k tokens of `text`, when known: the chunker's count, which is exact (tests/unit/chunker.test.ts). */
  tokens?: number;
}

/** The AssemblyChunk of a retrieved chunk (whose `id` is the chunk id). */
export function assemblyChunk(c: Omit<AssemblyChunk, 'chunkId'> & { id: string }): AssemblyChunk {
  return {
    documentId: c.documentId,
    chunkId: c.id,
    start: c.start,
    end: c.end,
    text: c.text,
    order: c.order,
    ...(c.tokens !== undefined ? { tokens: c.tokens } : {}),
  };
}

/** A contiguous stretch of one document: `text === original.slice(start, end)`. */
export interface Passage {
  documentId: string;
  start: number;
  end: number;
  text: string;
  /** The chunks merged into it, in document order. */
  chunkIds: string[];
}

export interface AssembledContext {
  /** Grouped by document (documents in the order their first chunk appears in the input), each in document order. */
  passages: Passage[];
  /** cl100k tokens of all passage texts (separators a prompt puts between them are not counted). */
  totalTokens: number;
}

export interface AssembleOptions {
  /**
   * The original text of a document, when the caller has it. With it, chunks
   * separated only by whitespace (the chunker trims it) are merged too.
   * Without it, passages are rebuilt from the chunk texts and their offsets.
   */
  getText?: (documentId: string) => string | undefined;
  /** Default cl100k. */
  tokenizer?: Tokenizer;
}

interface Open {
  start: number;
  end: number;
  parts: string[];
  chunkIds: string[];
  /** The count of its one chunk, when known; undefined once another chunk joins. */
  tokens: number | undefined;
}

/**
 * Puts selected chunks back in document order and merges overlapping or
 * adjacent ones, so a passage never repeats text. Reading retrieved chunks in
 * their original order rather than by score helps long-context QA
 * (Yu et al., "In Defense of RAG in the Era of Long-Context Language Models", 2024).
 */
export function assembleContext(chunks: readonly AssemblyChunk[], opts: AssembleOptions = {}): AssembledContext {
  const tok = opts.tokenizer ?? cl100k;
  const byDoc = new Map<string, AssemblyChunk[]>();
  for (const c of chunks) {
    let list = byDoc.get(c.documentId);
    if (!list) {
      list = [];
      byDoc.set(c.documentId, list);
    }
    list.push(c);
  }

  const passages: Passage[] = [];
  // A passage of one chunk is that chunk's text: its known count is the passage's, and BPE over the passages of a
  // library question (up to sixteen documents read, most of them one chunk at a time) is then skipped.
  const known = opts.tokenizer === undefined || opts.tokenizer === cl100k;
  let totalTokens = 0;
  for (const [documentId, list] of byDoc) {
    const original = opts.getText?.(documentId);
    const seen = new Set<string>();
    const sorted = list
      .filter((c) => (seen.has(c.chunkId) ? false : (seen.add(c.chunkId), true)))
      .sort((x, y) => x.start - y.start || x.end - y.end || x.order - y.order);

    let open: Open | undefined;
    const close = (o: Open) => {
      const text = original !== undefined ? original.slice(o.start, o.end) : o.parts.join('');
      passages.push({ documentId, start: o.start, end: o.end, text, chunkIds: o.chunkIds });
      totalTokens += (known ? o.tokens : undefined) ?? tok.count(text);
    };
    for (const c of sorted) {
      const joins =
        open !== undefined &&
        (c.start <= open.end || (original !== undefined && original.slice(open.end, c.start).trim() === ''));
      if (open !== undefined && joins) {
        if (c.end > open.end) {
          // Only the part of the chunk past the passage's end is new text (parts are
          // used only without the original, where joining implies c.start <= open.end).
          open.parts.push(c.text.slice(Math.max(0, open.end - c.start)));
          open.end = c.end;
        }
        open.chunkIds.push(c.chunkId);
        open.tokens = undefined;
      } else {
        if (open) close(open);
        open = { start: c.start, end: c.end, parts: [c.text], chunkIds: [c.chunkId], tokens: c.tokens };
      }
    }
    if (open) close(open);
  }

  return { passages, totalTokens };
}
