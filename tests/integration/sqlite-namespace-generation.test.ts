import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RetrievalService } from '../../src/core/retrieval/service.js';
import type { DocumentRecord } from '../../src/ports/document-store.js';
import { HashingEmbedder } from '../contract/llm-test-embedder.js';
import { OwnSqliteDocumentStore, OwnSqliteVectorStore } from '../helpers/stores.js';

function record(id: string, version: string | null): DocumentRecord {
  const now = new Date().toISOString();
  return {
    namespace: 'ns',
    id,
    title: id,
    status: version ? 'ready' : 'pending',
    version,
    pending: null,
    chars: 10,
    tokens: 3,
    chunkCount: 1,
    metadata: {},
    source: 'json',
    error: null,
    createdAt: now,
    updatedAt: now,
  };
}

/** Counts the listing pages it reads. */
class CountingDocuments extends OwnSqliteDocumentStore {
  pages = 0;
  override list(...args: Parameters<OwnSqliteDocumentStore['list']>): ReturnType<OwnSqliteDocumentStore['list']> {
    this.pages++;
    return super.list(...args);
  }
}

describe('namespace generations (SQLite) and the whole-namespace listing kept between questions', () => {
  let dir: string;
  let writer: OwnSqliteDocumentStore;
  let reader: CountingDocuments;
  let vectors: OwnSqliteVectorStore;
  let retrieval: RetrievalService;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ns-generation-'));
    // Two connections to one file: the writer stands for another process sharing the DATA_DIR.
    writer = new OwnSqliteDocumentStore(dir);
    reader = new CountingDocuments(dir);
    vectors = new OwnSqliteVectorStore(dir);
    retrieval = new RetrievalService({
      documents: reader,
      vectors,
      embedder: new HashingEmbedder(),
      namespaceCandidates: 10,
      logger: pino({ level: 'silent' }),
    });
  });
  afterEach(async () => {
    await Promise.all([writer.close(), reader.close(), vectors.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  it("changes with every write and delete of the namespace's documents, seen from another connection, and only its own", async () => {
    expect(await reader.generation('ns')).toBe('0');
    const seen = new Set([await reader.generation('ns')]);
    await writer.put(record('a', 'v1'));
    seen.add(await reader.generation('ns'));
    await writer.update('ns', 'a', (r) => (r ? { ...r, title: 'A' } : r));
    seen.add(await reader.generation('ns'));
    const before = await reader.generation('ns');
    await writer.put({ ...record('x', 'v1'), namespace: 'other' });
    expect(await reader.generation('ns')).toBe(before);
    await writer.delete('ns', 'a');
    seen.add(await reader.generation('ns'));
    expect(seen.size).toBe(4);
  });

  it('lists the namespace once while nothing changes, and again after another connection writes', async () => {
    await writer.put(record('a', 'v1'));
    await writer.put(record('b', null));
    const ids = async () => (await retrieval.resolveScope('ns', null)).map((d) => d.id).sort();
    expect(await ids()).toEqual(['a']);
    const pages = reader.pages;
    expect(await ids()).toEqual(['a']);
    expect(reader.pages).toBe(pages);
    // b becomes ready elsewhere; a is deleted elsewhere: each shows at the next question.
    await writer.put(record('b', 'v1'));
    expect(await ids()).toEqual(['a', 'b']);
    await writer.delete('ns', 'a');
    expect(await ids()).toEqual(['b']);
    expect(reader.pages).toBe(pages + 2);
  });
});
