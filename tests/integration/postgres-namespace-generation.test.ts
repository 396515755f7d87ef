import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PostgresDocumentStore } from '../../src/adapters/postgres/document-store.js';
import { PostgresVectorStore } from '../../src/adapters/postgres/vector-store.js';
import { RetrievalService } from '../../src/core/retrieval/service.js';
import type { DocumentRecord } from '../../src/ports/document-store.js';
import { HashingEmbedder } from '../contract/llm-test-embedder.js';
import { schemaPools } from '../helpers/postgres.js';

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
class CountingDocuments extends PostgresDocumentStore {
  pages = 0;
  override list(...args: Parameters<PostgresDocumentStore['list']>): ReturnType<PostgresDocumentStore['list']> {
    this.pages++;
    return super.list(...args);
  }
}

describe('namespace generations (PostgreSQL) and the whole-namespace listing kept between questions', () => {
  let pools: Awaited<ReturnType<typeof schemaPools>>;
  let writer: PostgresDocumentStore;
  let reader: CountingDocuments;
  let retrieval: RetrievalService;

  beforeEach(async () => {
    // Two pools on one schema of the test's own: the writer stands for another replica or worker.
    pools = await schemaPools(2);
    writer = new PostgresDocumentStore({ db: pools.dbs[0]! });
    reader = new CountingDocuments({ db: pools.dbs[1]! });
    retrieval = new RetrievalService({
      documents: reader,
      vectors: new PostgresVectorStore({ db: pools.dbs[1]! }),
      embedder: new HashingEmbedder(),
      namespaceCandidates: 10,
      logger: pino({ level: 'silent' }),
    });
  });
  afterEach(async () => {
    await pools.cleanup();
  });

  it("changes with every write and delete of the namespace's documents, seen from another pool, and only its own", async () => {
    expect(await reader.generation('ns')).toBe('0');
    const seen = new Set([await reader.generation('ns')]);
    await writer.put(record('a', 'v1'));
    seen.add(await reader.generation('ns'));
    await writer.update('ns', 'a', (r) => (r ? { ...r, title: 'A' } : r));
    seen.add(await reader.generation('ns'));
    const before = await reader.generation('ns');
    await writer.put({ ...record('x', 'v1'), namespace: 'other' });
    expect(await reader.generation('ns')).toBe(before);
    // A write whose transaction rolls back leaves the counter as it was: the bump is part of the write.
    await expect(
      writer.update('ns', 'a', () => {
        throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    expect(await reader.generation('ns')).toBe(before);
    await writer.delete('ns', 'a');
    seen.add(await reader.generation('ns'));
    expect(seen.size).toBe(4);
  });

  it('lists the namespace once while nothing changes, and again after another pool writes', async () => {
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
