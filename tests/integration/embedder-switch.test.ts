import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { UseLiteStaticEmbedder } from '../../src/adapters/embedder/use-lite-static.js';
import { loadConfig } from '../../src/config.js';
import { buildContainer } from '../../src/container.js';
import { ingestJobId } from '../../src/core/ids.js';
import { createLogger } from '../../src/logger.js';
import type { Embedder } from '../../src/ports/embedder.js';
import { HashingEmbedder } from '../contract/llm-test-embedder.js';
import { needleDocument } from '../helpers/documents.js';
import { ScriptedLlm } from '../helpers/llm.js';
import { freePort } from '../helpers/net.js';
import { ROOT } from '../helpers/paths.js';
import { startServer, waitForJob } from '../helpers/server.js';
import { exited, serveEmbedded, until } from '../reliability/helpers.js';

const FIXTURE = join(ROOT, 'tests/fixtures/data-0.1');
/** What the 0.1 service answered about the fixture (scripts/make-fixture-0.1.ts): three documents, live, one chunk each. */
const expected = JSON.parse(await readFile(`${FIXTURE}.expected.json`, 'utf8'));
const ns: string = expected.namespace;
const docs = expected.documents as Array<{ id: string; version: string; chunkCount: number }>;
const totalChunks = docs.reduce((n, d) => n + d.chunkCount, 0);

/** Rows of the embedded database per vector size: what the DATA_DIR holds, stale or not. */
function sizes(dir: string): { chunks: Record<number, number>; versions: Record<number, number> } {
  const db = new Database(join(dir, 'adaptive-reader.db'), { readonly: true });
  try {
    const count = (table: string) =>
      Object.fromEntries(
        db
          .prepare<[], { dims: number; n: number }>(`SELECT dims, count(*) AS n FROM ${table} GROUP BY dims`)
          .all()
          .map((r) => [r.dims, r.n]),
      );
    return { chunks: count('chunks'), versions: count('chunk_versions') };
  } finally {
    db.close();
  }
}

describe('a DATA_DIR filled by USE lite, opened with the default embedder (use-lite-static)', () => {
  const staticModel = new UseLiteStaticEmbedder();
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterEach(async () => {
    for (const f of cleanups.splice(0).reverse()) await f();
  });
  afterAll(async () => {
    await staticModel.close();
  });
  const copy = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'air-switch-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await cp(FIXTURE, dir, { recursive: true });
    return dir;
  };
  const open = (dir: string, settings: Record<string, string> = {}) => {
    const c = buildContainer(
      loadConfig(
        {},
        {
          dotenvPath: null,
          overrides: { DATA_DIR: dir, LOG_LEVEL: 'silent', REDIS_URL: '', DATABASE_URL: '', ...settings },
        },
      ),
      createLogger('silent'),
      { role: 'local' },
    );
    cleanups.push(() => c.close());
    return c;
  };

  it("the 0.1 import under the default embeds every chunk with the static model (USE lite's cache is another model's and is not read)", async () => {
    const c = open(await copy());
    expect(c.embedder.id).toMatch(/^use-lite-static@/);
    const summary = (await c.importLegacy())!;
    expect(summary.steps.embeddingCache).toMatchObject({ vectors: 0, otherModelFiles: 1 });
    expect(summary.steps.chunks).toMatchObject({
      documents: docs.length,
      chunks: totalChunks,
      fromCache: 0,
      embedded: totalChunks,
    });
  });

  it('is re-embedded at start: every document answers retrieval with static vectors, and no USE lite vector is left', async () => {
    const dir = await copy();
    // USE lite's DATA_DIR: 0.1's data imported with EMBEDDER=use-lite takes every vector from its cache (nothing embedded).
    const before = open(dir, { EMBEDDER: 'use-lite' });
    const imported = (await before.importLegacy())!;
    expect(imported.steps.chunks).toMatchObject({ documents: docs.length, embedded: 0 });
    await before.close();
    expect(sizes(dir)).toEqual({ chunks: { 512: totalChunks }, versions: { 512: docs.length } });

    // The server with the default settings, as `npm start` runs it.
    const port = await freePort();
    const { base, child } = await serveEmbedded(dir, port, { AUTH: 'off' }, cleanups);
    const headers = { 'content-type': 'application/json', 'x-namespace': ns };
    await until(
      async () => {
        const list = (await (await fetch(`${base}/v1/documents?limit=10`, { headers })).json()) as {
          items: Array<{ pending: unknown }>;
        };
        return list.items.length === docs.length && list.items.every((d) => d.pending === null);
      },
      'the re-embedding jobs',
      120_000,
      100,
    );

    for (const doc of docs) {
      const r = await fetch(`${base}/v1/retrieve`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ question: 'What happens here?', documentIds: [doc.id], score: 'dense' }),
      });
      const body = (await r.json()) as { selected: Array<{ dense: number | null }>; documents?: unknown };
      expect(r.status, JSON.stringify(body)).toBe(200);
      expect(body.selected.length, doc.id).toBeGreaterThan(0);
      expect(body.selected.every((s) => typeof s.dense === 'number')).toBe(true);
      const listed = (await (await fetch(`${base}/v1/documents/${doc.id}`, { headers })).json()) as {
        version: string;
        status: string;
      };
      expect(listed).toMatchObject({ version: doc.version, status: 'ready' });
    }
    child.kill('SIGTERM');
    await exited(child);

    // Only the static model's vectors are left, one per chunk, and they are its vectors of the chunks' texts.
    expect(sizes(dir)).toEqual({ chunks: { 256: totalChunks }, versions: { 256: docs.length } });
    const after = open(dir);
    await after.ready();
    for (const doc of docs) {
      const chunks = await after.vectors.getChunks(ns, { documentId: doc.id, version: doc.version });
      expect(chunks).toHaveLength(doc.chunkCount);
      const [own] = await staticModel.embedDocuments([chunks[0]!.text]);
      const scored = await after.vectors.scoreAll(ns, [{ documentId: doc.id, version: doc.version }], own!);
      expect(scored.find((s) => s.chunk.order === 0)!.score).toBeCloseTo(1, 5);
    }
    // Started again, nothing is embedded a second time.
    expect(await after.documentService.reembedStale()).toBe(0);
  });
});

/** Another model of HashingEmbedder's size (256): its vectors negated, so a cosine between the two models' vectors of one text is -1. */
class NegatedHashing implements Embedder {
  readonly id = 'test-hashing-256-negated';
  embedded = 0;
  readonly #inner = new HashingEmbedder();
  dimensions(): Promise<number> {
    return this.#inner.dimensions();
  }
  async embedDocuments(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]> {
    this.embedded += texts.length;
    return (await this.#inner.embedDocuments(texts, signal)).map((v) => v.map((x) => -x));
  }
  async embedQuery(text: string, signal?: AbortSignal): Promise<Float32Array> {
    return (await this.#inner.embedQuery(text, signal)).map((x) => -x);
  }
  health(): Promise<void> {
    return this.#inner.health();
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

describe('a DATA_DIR filled by one embedding model, opened with another of the same vector size', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const f of cleanups.splice(0).reverse()) await f();
  });

  it('re-embeds the live version at start with the configured model, whose vectors alone are read afterwards; started again, nothing is re-embedded', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'air-same-size-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const server = async (embedder: Embedder) => {
      const s = await startServer({ DATA_DIR: dataDir, AUTH: 'off' }, { embedder, llm: new ScriptedLlm(32_768) });
      cleanups.push(() => s.close());
      return s;
    };
    const first = await server(new HashingEmbedder());
    const submitted = await first.call('POST', '/v1/documents', {
      id: 'needle',
      title: 'needle',
      text: needleDocument(),
    });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    expect((await waitForJob(first, submitted.body.jobId)).state).toBe('completed');
    const version = (await first.call('GET', '/v1/documents/needle')).body.version as string;
    await first.close();

    const other = new NegatedHashing();
    const second = await server(other);
    expect(await second.container.documentService.reembedStale()).toBe(1);
    const job = await waitForJob(second, ingestJobId('default', 'needle', version));
    expect(job.state, JSON.stringify(job.error)).toBe('completed');
    const ref = { documentId: 'needle', version };
    const chunks = await second.container.vectors.getChunks('default', ref);
    expect(chunks.length).toBeGreaterThan(0);
    expect(other.embedded).toBeGreaterThanOrEqual(chunks.length);
    // The chunk's vector is the configured model's own (cosine 1), not the first model's (cosine -1).
    const [own] = await other.embedDocuments([chunks[0]!.text]);
    const scored = await second.container.vectors.scoreAll('default', [ref], own!);
    expect(scored).toHaveLength(chunks.length);
    expect(scored.find((x) => x.chunk.order === 0)!.score).toBeCloseTo(1, 5);
    expect((await second.call('GET', '/v1/documents/needle')).body).toMatchObject({
      version,
      status: 'ready',
      pending: null,
    });
    await second.close();

    const third = await server(new NegatedHashing());
    expect(await third.container.documentService.reembedStale()).toBe(0);
  });
});
