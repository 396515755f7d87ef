import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedVectorStore } from '../../src/adapters/vector-store/embedded.js';
import { encodeName } from '../../src/core/fs-atomic.js';
import { AppError } from '../../src/errors.js';
import { seededRandom } from '../../src/core/random.js';
import { DIMS, cosine, makeChunks, randomVector } from './vector-store.contract.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const MODULE = join(REPO, 'src/adapters/vector-store/embedded.ts');
const V1 = { documentId: 'doc', version: 'v1' };

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  return child.pid!;
}

describe('EmbeddedVectorStore on disk', () => {
  let dir: string;
  let rand: () => number;
  const docDir = () => join(dir, `d${DIMS}`, encodeName('ns'), encodeName('doc'));

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vs-disk-'));
    rand = seededRandom(7);
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function open(opts: { cacheBytes?: number } = {}): Promise<EmbeddedVectorStore> {
    const s = new EmbeddedVectorStore({ dir, ...opts });
    await s.ensureReady(DIMS);
    return s;
  }

  it('keeps chunks and scores across a restart on the same directory', async () => {
    const chunks = makeChunks('ns', 'doc', 'v1', 20, rand);
    const a = await open();
    await a.upsert('ns', chunks);
    await a.close();
    const b = await open();
    const q = randomVector(rand);
    const scored = await b.scoreAll('ns', [V1], q);
    expect(scored).toHaveLength(20);
    for (const s of scored) expect(s.score).toBeCloseTo(cosine(chunks[s.chunk.order]!.vector, q), 5);
  });

  it('refuses to be used before ensureReady', async () => {
    const s = new EmbeddedVectorStore({ dir });
    const err = await s.getChunks('ns', V1).catch((e: unknown) => e);
    expect((err as AppError).code).toBe('VECTOR_STORE_ERROR');
  });

  it('keeps vectors of different sizes apart, as Qdrant does with one collection per size', async () => {
    const a = await open();
    await a.upsert('ns', makeChunks('ns', 'doc', 'v1', 3, rand));
    const b = new EmbeddedVectorStore({ dir });
    await b.ensureReady(DIMS * 2);
    expect(await b.getChunks('ns', V1)).toEqual([]);
    await b.upsert('ns', makeChunks('ns', 'doc', 'v1', 2, rand, DIMS * 2));
    expect(await a.getChunks('ns', V1)).toHaveLength(3);
  });

  it('sees writes and deletes made by another instance (another process) after it cached the document', async () => {
    const reader = await open();
    const writer = await open();
    const first = makeChunks('ns', 'doc', 'v1', 5, rand);
    await writer.upsert('ns', first);
    const q = randomVector(rand);
    expect(await reader.scoreAll('ns', [V1], q)).toHaveLength(5);

    const changed = first.map((c) => ({ ...c, vector: randomVector(rand) }));
    await writer.upsert('ns', [...changed, ...makeChunks('ns', 'doc', 'v1', 8, rand).slice(5)]);
    const after = await reader.scoreAll('ns', [V1], q);
    expect(after).toHaveLength(8);
    const c0 = after.find((s) => s.chunk.order === 0)!;
    expect(c0.score).toBeCloseTo(cosine(changed[0]!.vector, q), 5);

    await writer.deleteDocument('ns', 'doc');
    expect(await reader.scoreAll('ns', [V1], q)).toEqual([]);
    await writer.upsert('ns', makeChunks('ns', 'doc', 'v1', 2, rand));
    expect(await reader.getChunks('ns', V1)).toHaveLength(2);
  });

  it('merges many small upserts into few part files without losing or duplicating chunks', async () => {
    const s = await open();
    const chunks = makeChunks('ns', 'doc', 'v1', 100, rand);
    for (let i = 0; i < chunks.length; i += 7) await s.upsert('ns', chunks.slice(i, i + 7));
    await s.upsert('ns', chunks.slice(0, 7)); // a retried batch
    const parts = (await readdir(docDir())).filter((n) => n.endsWith('.part'));
    expect(parts.length).toBeLessThanOrEqual(Math.ceil(Math.log2(100)) + 1);
    const got = await s.getChunks('ns', V1);
    expect(got.map((c) => c.order)).toEqual(chunks.map((c) => c.order));
  });

  it('opens cleanly next to torn temp files and unreferenced parts, and the next write removes them', async () => {
    const a = await open();
    await a.upsert('ns', makeChunks('ns', 'doc', 'v1', 4, rand));
    const pid = await deadPid();
    const tornManifest = join(docDir(), `.manifest.json.${pid}.abc123.tmp`);
    const tornPart = join(docDir(), `.99.part.${pid}.def456.tmp`);
    const orphan = join(docDir(), '98.part');
    await writeFile(tornManifest, '{"v":1,"epoch":"x","gen":9');
    await writeFile(tornPart, Buffer.from([0x41, 0x56]));
    await writeFile(orphan, 'garbage that a killed merge left');

    const b = await open();
    expect(await b.getChunks('ns', V1)).toHaveLength(4);
    expect(await b.scoreAll('ns', [V1], randomVector(rand))).toHaveLength(4);
    await b.upsert('ns', makeChunks('ns', 'doc', 'v2', 1, rand));
    for (const f of [tornManifest, tornPart, orphan]) await expect(stat(f)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await b.getChunks('ns', V1)).toHaveLength(4);
  });

  it('a document directory without a manifest (a killed first write) reads as empty and can be written', async () => {
    const s = await open();
    await s.upsert('ns', makeChunks('ns', 'doc', 'v1', 2, rand));
    await rm(join(docDir(), 'manifest.json'));
    expect(await s.getChunks('ns', V1)).toEqual([]);
    await s.upsert('ns', makeChunks('ns', 'doc', 'v1', 3, rand));
    expect(await s.getChunks('ns', V1)).toHaveLength(3);
  });

  it('reports a corrupt manifest as VECTOR_STORE_ERROR instead of returning partial data', async () => {
    const s = await open();
    await s.upsert('ns', makeChunks('ns', 'doc', 'v1', 2, rand));
    await writeFile(join(docDir(), 'manifest.json'), '{"v":1,');
    const err = await s.scoreAll('ns', [V1], randomVector(rand)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('VECTOR_STORE_ERROR');
  });

  it('stays correct when the cache is too small to hold anything', async () => {
    const s = await open({ cacheBytes: 1 });
    const chunks = makeChunks('ns', 'doc', 'v1', 10, rand);
    await s.upsert('ns', chunks);
    const q = randomVector(rand);
    for (let i = 0; i < 2; i++) expect(await s.scoreAll('ns', [V1], q)).toHaveLength(10);
  });

  it('does not lose chunks when two processes upsert into the same document at once', async () => {
    const script = join(dir, 'upsert.mjs');
    await writeFile(
      script,
      `const { EmbeddedVectorStore } = await import(process.argv[2]);
       const [dir, tag] = [process.argv[3], process.argv[4]];
       const s = new EmbeddedVectorStore({ dir });
       await s.ensureReady(${DIMS});
       for (let i = 0; i < 15; i++) {
         const vector = new Float32Array(${DIMS}).fill(i + 1);
         await s.upsert('ns', [{ id: tag + i, namespace: 'ns', documentId: 'doc', version: 'v1', order: i,
           start: 0, end: 1, tokens: 1, text: tag + i, vector }]);
       }`,
    );
    const run = (tag: string) => {
      const child = spawn(process.execPath, ['--import', 'tsx', script, MODULE, dir, tag], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      return once(child, 'exit').then(([code]) => expect(code, stderr).toBe(0));
    };
    await Promise.all([run('a'), run('b')]);
    const s = await open();
    const ids = (await s.getChunks('ns', V1)).map((c) => c.id).sort();
    expect(ids).toHaveLength(30);
    expect(new Set(ids).size).toBe(30);
  });
});
