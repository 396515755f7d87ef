import type { ChunkRecord } from '../../ports/vector-store.js';

/**
 * The ChunkRecord fields of `c` and nothing else: a StoredChunk (or any wider
 * object) loses its vector and any extra property before it is persisted.
 */
export function toChunkRecord(c: ChunkRecord): ChunkRecord {
  return {
    id: c.id,
    namespace: c.namespace,
    documentId: c.documentId,
    version: c.version,
    order: c.order,
    start: c.start,
    end: c.end,
    tokens: c.tokens,
    text: c.text,
  };
}
