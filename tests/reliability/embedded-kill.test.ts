import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqlite, SQLITE_FILE } from '../../src/adapters/sqlite/database.js';
import { indexedRows } from '../contract/sqlite-fts.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { buildContainer, type Container } from '../../src/container.js';
import { HashingEmbedder } from '../contract/llm-test-embedder.js';
import { exited, spawnTs, until } from './helpers.js';

describe('embedded stores: a process SIGKILLed during a stream of ingestion writes', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterAll(async () => {
    for (const f of cleanups.reverse()) await f();
  });

  const settings = (dataDir: string) => ({
    DATA_DIR: dataDir,
    REDIS_URL: '',
    VECTOR_STORE: 'embedded',
    AUTH: 'off',
    LOG_LEVEL: 'silent',
    CHUNK_TOKENS: '60',
    CHUNK_OVERLAP_TOKENS: '6',
    EMBED_BATCH_SIZE: '4',
  });

  async function killMidStream(
    dataDir: string,
    prefix: string,
    indexedBeforeKill: number,
  ): Promise<{ submitted: string[]; indexed: Map<string, number> }> {
    const child = spawnTs('tests/reliability/ingest-child.ts', { ...settings(dataDir), DOC_PREFIX: prefix }, 'ingest');
    cleanups.push(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const indexedNow = () => child.lines.filter((l) => l.startsWith(`INDEXED ${prefix}-`)).length;
    await until(
      () => {
        if (child.exitCode !== null) throw new Error(`the child exited with ${child.exitCode}`);
        return indexedNow() >= indexedBeforeKill;
      },
      `${indexedBeforeKill} documents indexed`,
      120_000,
      2,
    );
    child.kill('SIGKILL');
    expect((await exited(child)).signal).toBe('SIGKILL');
    // Only lines printed before the kill count as acknowledged; a torn last line is not a whole acknowledgement.
    const lines = child.lines;
    return {
      submitted: lines.filter((l) => l.startsWith('SUBMITTED ')).map((l) => l.split(' ')[1]!),
      indexed: new Map(
        lines.filter((l) => l.startsWith('INDEXED ')).map((l) => [l.split(' ')[1]!, Number(l.split(' ')[2])]),
      ),
    };
  }

  async function open(dataDir: string): Promise<Container> {
    const c = buildContainer(loadConfig(settings(dataDir), { dotenvPath: null }), createLogger('silent'), {
      role: 'local',
      overrides: { embedder: new HashingEmbedder() },
    });
    await c.ready();
    return c;
  }

  async function expectIndexed(c: Container, id: string, chunkCount?: number): Promise<void> {
    const d = await c.documentService.get('default', id);
    expect(d.status, id).toBe('ready');
    expect(d.pending, id).toBeFalsy();
    if (chunkCount !== undefined) expect(d.chunkCount, id).toBe(chunkCount);
    const chunks = await c.vectors.getChunks('default', { documentId: id, version: d.version! });
    expect(chunks, id).toHaveLength(d.chunkCount);
    expect(new Set(chunks.map((ch) => ch.order)).size, id).toBe(d.chunkCount);
  }

  it('reopens cleanly holding every acknowledged document, and finishes every acknowledged submission, across two kills', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'air-kill-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const all = { submitted: new Set<string>(), indexed: new Map<string, number>() };

    for (const [round, prefix] of ['first', 'second'].entries()) {
      const run = await killMidStream(dataDir, prefix, 6 + round * 4);
      for (const id of run.submitted) all.submitted.add(id);
      for (const [id, n] of run.indexed) all.indexed.set(id, n);
      expect(run.submitted.length).toBeGreaterThanOrEqual(run.indexed.size);

      // Straight after the kill, before any recovery: the stores open, and every document acknowledged as indexed is whole.
      const c = await open(dataDir);
      try {
        for (const [id, n] of all.indexed) await expectIndexed(c, id, n);
        const page = await c.documents.list('default', { limit: 1000, cursor: null });
        const stored = new Set(page.items.map((d) => d.id));
        for (const id of all.submitted) expect(stored.has(id), id).toBe(true);
        // A document may have been stored just before its acknowledgement was printed, never the reverse.
        expect(page.total).toBeLessThanOrEqual(all.submitted.size + 2);
      } finally {
        await c.close();
      }
    }

    // Recovery: submissions acknowledged but not yet indexed are finished, and nothing is indexed twice.
    const c = await open(dataDir);
    cleanups.push(() => c.close());
    await c.runner!.start();
    await c.documentService.recoverPending();
    await until(
      async () => {
        // Every stored document: also one stored just before a kill cut its acknowledgement.
        const docs = (await c.documents.list('default', { limit: 1000, cursor: null })).items;
        for (const id of all.submitted)
          expect(
            docs.some((d) => d.id === id),
            id,
          ).toBe(true);
        const failed = docs.find((d) => d.status === 'failed');
        if (failed) throw new Error(`${failed.id} failed: ${failed.error?.message}`);
        return docs.every((d) => d.status === 'ready' && !d.pending);
      },
      'recovery of every submitted document',
      120_000,
      50,
    );
    for (const id of all.submitted) await expectIndexed(c, id, all.indexed.get(id));

    // Nothing left behind: the database holds chunks of live versions only, as many as the documents say.
    const stored = (await c.documents.list('default', { limit: 1000, cursor: null })).items;
    const live = new Map(stored.map((d) => [d.id, d.version] as const));
    const db = openSqlite(join(dataDir, SQLITE_FILE), { readonly: true });
    try {
      const versions = db.prepare('SELECT document_id AS id, version FROM chunk_versions').all() as Array<{
        id: string;
        version: string;
      }>;
      expect(versions.filter((v) => live.get(v.id) !== v.version)).toEqual([]);
      expect(versions).toHaveLength(live.size);
      const chunks = db.prepare('SELECT count(*) FROM chunks').pluck().get() as number;
      const expected = stored.reduce((n, d) => n + d.chunkCount, 0);
      expect(chunks).toBe(expected);
      // Every chunk in its namespace's FTS5 index, once (fts-tables.ts).
      expect(Object.values(indexedRows(db)).reduce((a, b) => a + b, 0)).toBe(expected);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      db.close();
    }
  });
});
