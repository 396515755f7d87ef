import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PostgresDocumentStore } from '../../src/adapters/postgres/document-store.js';
import { PostgresVectorStore } from '../../src/adapters/postgres/vector-store.js';
import { RetrievalService } from '../../src/core/retrieval/service.js';
import type { DocumentRecord, DocumentStore, ListPage } from '../../src/ports/document-store.js';
import type { VectorStore } from '../../src/ports/vector-store.js';
import { makeRecord } from '../contract/document-store.contract.js';
import { HashingEmbedder } from '../contract/llm-test-embedder.js';
import { schemaPools } from '../helpers/postgres.js';
import { OwnSqliteDocumentStore, OwnSqliteVectorStore } from '../helpers/stores.js';

const record = (id: string, version: string | null): DocumentRecord =>
  makeRecord('ns', id, {
    title: id,
    status: version ? 'ready' : 'pending',
    version,
    chars: 10,
    tokens: 3,
    chunkCount: 1,
  });

/** Two handles on one database (the writer stands for another process, replica or worker) and the reader's vectors. */
interface Harness {
  writer: DocumentStore;
  reader: DocumentStore;
  vectors: VectorStore;
  cleanup(): Promise<void>;
}

async function sqlite(): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'ns-generation-'));
  const writer = new OwnSqliteDocumentStore(dir);
  const reader = new OwnSqliteDocumentStore(dir);
  const vectors = new OwnSqliteVectorStore(dir);
  return {
    writer,
    reader,
    vectors,
    async cleanup() {
      await Promise.all([writer.close(), reader.close(), vectors.close()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function postgres(): Promise<Harness> {
  // Two pools on one schema of the test's own.
  const pools = await schemaPools(2);
  return {
    writer: new PostgresDocumentStore({ db: pools.dbs[0]! }),
    reader: new PostgresDocumentStore({ db: pools.dbs[1]! }),
    vectors: new PostgresVectorStore({ db: pools.dbs[1]! }),
    cleanup: () => pools.cleanup(),
  };
}

describe.each([
  { store: 'SQLite (two connections to one file)', make: sqlite },
  { store: 'PostgreSQL (two pools on one schema)', make: postgres },
])('namespace generations on $store, and the whole-namespace listing kept between questions', ({ make }) => {
  let h: Harness;
  let pages: number;
  let retrieval: RetrievalService;

  beforeEach(async () => {
    h = await make();
    pages = 0;
    // Counts the listing pages the reader's side reads.
    const list = h.reader.list.bind(h.reader);
    h.reader.list = (namespace, opts): Promise<ListPage<DocumentRecord>> => {
      pages++;
      return list(namespace, opts);
    };
    retrieval = new RetrievalService({
      documents: h.reader,
      vectors: h.vectors,
      embedder: new HashingEmbedder(),
      namespaceCandidates: 10,
      logger: pino({ level: 'silent' }),
    });
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it("changes with every write and delete of the namespace's documents, seen from the other handle, and only its own", async () => {
    const generation = (ns: string) => h.reader.generation!(ns);
    expect(await generation('ns')).toBe('0');
    const seen = new Set([await generation('ns')]);
    await h.writer.put(record('a', 'v1'));
    seen.add(await generation('ns'));
    await h.writer.update('ns', 'a', (r) => (r ? { ...r, title: 'A' } : r));
    seen.add(await generation('ns'));
    const before = await generation('ns');
    await h.writer.put({ ...record('x', 'v1'), namespace: 'other' });
    expect(await generation('ns')).toBe(before);
    // A write whose transaction rolls back leaves the counter as it was: the bump is part of the write.
    await expect(
      h.writer.update('ns', 'a', () => {
        throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    expect(await generation('ns')).toBe(before);
    await h.writer.delete('ns', 'a');
    seen.add(await generation('ns'));
    expect(seen.size).toBe(4);
  });

  it('lists the namespace once while nothing changes, and again after the other handle writes', async () => {
    await h.writer.put(record('a', 'v1'));
    await h.writer.put(record('b', null));
    const ids = async () => (await retrieval.resolveScope('ns', null)).map((d) => d.id).sort();
    expect(await ids()).toEqual(['a']);
    const read = pages;
    expect(await ids()).toEqual(['a']);
    expect(pages).toBe(read);
    // b becomes ready elsewhere; a is deleted elsewhere: each shows at the next question.
    await h.writer.put(record('b', 'v1'));
    expect(await ids()).toEqual(['a', 'b']);
    await h.writer.delete('ns', 'a');
    expect(await ids()).toEqual(['b']);
    expect(pages).toBe(read + 2);
  });
});
