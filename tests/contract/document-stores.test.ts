import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileDocumentStore } from '../../src/adapters/document-store/file.js';
import { TORN_LOCK_GRACE_MS, encodeName } from '../../src/core/fs-atomic.js';
import { AppError } from '../../src/errors.js';
import { documentStoreContract, makeRecord } from './document-store.contract.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const MODULE = join(REPO, 'src/adapters/document-store/file.ts');

documentStoreContract('FileDocumentStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ds-file-'));
  const store = new FileDocumentStore({ dir });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

/** Runs an ESM script in a separate Node process (tsx loads the TypeScript sources). */
function runNode(script: string, args: string[]): { child: ReturnType<typeof spawn>; done: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = once(child, 'exit').then(([code]) => {
    if (code !== 0 && code !== null) throw new Error(`child exited ${code}: ${stderr}`);
    return code as number | null;
  });
  return { child, done };
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  return child.pid!;
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(p, ...(await walk(p)));
    else out.push(p);
  }
  return out;
}

describe('FileDocumentStore on disk', () => {
  let root: string;
  let dir: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'ds-disk-'));
    dir = join(root, 'documents');
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('keeps every file inside its directory whatever the namespace and id contain', async () => {
    const store = new FileDocumentStore({ dir });
    const tricky = [
      ['../..', '../../etc/passwd'],
      ['..', '/absolute'],
      ['a/b', '..'],
      ['ns', 'C:\\windows\\..\\x'],
      ['ns', '.'],
      ['NS', 'Ab'],
      ['ns', 'aB'],
    ] as const;
    for (const [ns, id] of tricky) {
      await store.put(makeRecord(ns, id, { title: `${ns}|${id}` }));
      await store.putText(ns, id, '../v', `text of ${ns}|${id}`);
    }
    for (const [ns, id] of tricky) {
      expect((await store.get(ns, id))?.title).toBe(`${ns}|${id}`);
      expect(await store.getText(ns, id, '../v')).toBe(`text of ${ns}|${id}`);
    }
    const files = await walk(root);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(f === dir || f.startsWith(`${dir}/`), f).toBe(true);
    expect(await store.namespaces()).toEqual(['..', '../..', 'NS', 'a/b', 'ns']);
    // Case-only differences must stay distinct even on case-insensitive file systems.
    const names = files.map((f) => f.toLowerCase());
    expect(new Set(names).size).toBe(names.length);
  });

  it('refuses an empty or over-long id with INVALID_ID', async () => {
    const store = new FileDocumentStore({ dir });
    for (const id of ['', 'x'.repeat(151)]) {
      const err = await store.get('ns', id).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('INVALID_ID');
    }
  });

  it('a second instance on the same directory sees writes and replacements made through the first', async () => {
    const a = new FileDocumentStore({ dir });
    const b = new FileDocumentStore({ dir });
    await a.put(makeRecord('ns', 'doc', { title: 'one' }));
    expect((await b.get('ns', 'doc'))?.title).toBe('one');
    expect((await b.list('ns', { limit: 5 })).items.map((r) => r.title)).toEqual(['one']);
    await a.update('ns', 'doc', (cur) => ({ ...cur!, title: 'two' }));
    expect((await b.get('ns', 'doc'))?.title).toBe('two');
    expect((await b.list('ns', { limit: 5 })).items.map((r) => r.title)).toEqual(['two']);
    await a.delete('ns', 'doc');
    expect(await b.get('ns', 'doc')).toBeNull();
    expect((await b.list('ns', { limit: 5 })).total).toBe(0);
  });

  it('serialises updates of one record made by several processes: no increment is lost', async () => {
    const store = new FileDocumentStore({ dir });
    await store.put(makeRecord('ns', 'counter', { chunkCount: 0 }));
    const script = join(root, 'increment.mjs');
    await writeFile(
      script,
      `const { FileDocumentStore } = await import(process.argv[2]);
       const store = new FileDocumentStore({ dir: process.argv[3] });
       await Promise.all(Array.from({ length: 25 }, () =>
         store.update('ns', 'counter', (cur) => ({ ...cur, chunkCount: cur.chunkCount + 1 }))));`,
    );
    const children = [runNode(script, [MODULE, dir]), runNode(script, [MODULE, dir])];
    await Promise.all(Array.from({ length: 25 }, () => store.update('ns', 'counter', (cur) => ({ ...cur!, chunkCount: cur!.chunkCount + 1 }))));
    await Promise.all(children.map((c) => c.done));
    expect((await store.get('ns', 'counter'))?.chunkCount).toBe(75);
    const left = await readdir(join(dir, encodeName('ns'), 'records'));
    expect(left.filter((n) => n.endsWith('.lock'))).toEqual([]);
  });

  it('breaks a lock left by a dead process, and one older than staleMs', async () => {
    const store = new FileDocumentStore({ dir, lock: { staleMs: 1_000, timeoutMs: 20_000 } });
    await store.put(makeRecord('ns', 'doc', { chunkCount: 0 }));
    const lock = join(dir, encodeName('ns'), 'records', `${encodeName('doc')}.lock`);
    await writeFile(lock, JSON.stringify({ pid: await deadPid(), host: (await import('node:os')).hostname(), time: Date.now(), nonce: 'x' }));
    await store.update('ns', 'doc', (cur) => ({ ...cur!, chunkCount: 1 }));
    // A live holder (our parent process) that has held the lock far longer than staleMs.
    await writeFile(lock, JSON.stringify({ pid: process.ppid, host: 'elsewhere', time: Date.now() - 60_000, nonce: 'y' }));
    await store.update('ns', 'doc', (cur) => ({ ...cur!, chunkCount: 2 }));
    expect((await store.get('ns', 'doc'))?.chunkCount).toBe(2);
    await expect(stat(lock)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('breaks a lock whose creator died before writing its body, once it is older than the grace, and waits for a fresh one', async () => {
    const store = new FileDocumentStore({ dir, lock: { staleMs: 30_000, timeoutMs: 10_000 } });
    await store.put(makeRecord('ns', 'torn', { chunkCount: 0 }));
    const lock = join(dir, encodeName('ns'), 'records', `${encodeName('torn')}.lock`);
    // Created and never written (SIGKILL between open and write), or torn mid-write: no holder to ask, only the file's age.
    for (const body of ['', '{"pid": 12']) {
      await writeFile(lock, body);
      const old = new Date(Date.now() - TORN_LOCK_GRACE_MS - 5_000);
      await utimes(lock, old, old);
      await store.update('ns', 'torn', (cur) => ({ ...cur!, chunkCount: cur!.chunkCount + 1 }));
      await expect(stat(lock)).rejects.toMatchObject({ code: 'ENOENT' });
    }
    expect((await store.get('ns', 'torn'))?.chunkCount).toBe(2);
    // A body-less lock created just now may belong to a creator still writing it: respected until the wait runs out.
    await writeFile(lock, '');
    const impatient = new FileDocumentStore({ dir, lock: { staleMs: 30_000, timeoutMs: 200 } });
    await expect(impatient.update('ns', 'torn', (cur) => ({ ...cur!, chunkCount: 99 }))).rejects.toMatchObject({ code: 'INTERNAL', transient: true });
    expect((await store.get('ns', 'torn'))?.chunkCount).toBe(2);
    await unlink(lock);
  });

  it('a writer killed mid-write leaves only whole records, and the store opens cleanly', async () => {
    const script = join(root, 'writer.mjs');
    await writeFile(
      script,
      `const { FileDocumentStore } = await import(process.argv[2]);
       const store = new FileDocumentStore({ dir: process.argv[3] });
       const big = 'x'.repeat(200_000);
       for (let i = 0; ; i++) {
         await store.put({ namespace: 'ns', id: 'doc-' + (i % 5), title: 't' + i, status: 'ready', version: 'v', pending: null,
           chars: i, tokens: 0, chunkCount: 0, metadata: { big }, source: 'json', error: null,
           createdAt: '2025-01-01T00:00:00.000Z', updatedAt: new Date().toISOString() });
         await store.putText('ns', 'doc-' + (i % 5), 'v' + (i % 3), big + i);
         if (i === 30) process.stdout.write('ready\\n');
       }`,
    );
    const { child, done } = runNode(script, [MODULE, dir]);
    await once(child.stdout!, 'data');
    child.kill('SIGKILL');
    await done;

    const store = new FileDocumentStore({ dir });
    const page = await store.list('ns', { limit: 10 });
    expect(page.total).toBe(5);
    for (const r of page.items) expect(r.metadata.big).toHaveLength(200_000);
    for (let d = 0; d < 5; d++) {
      for (let v = 0; v < 3; v++) {
        const text = await store.getText('ns', `doc-${d}`, `v${v}`);
        if (text !== null) expect(text).toMatch(/^x{200000}\d+$/);
      }
    }
    await store.update('ns', 'doc-0', (cur) => ({ ...cur!, title: 'after restart' }));
    expect((await store.get('ns', 'doc-0'))?.title).toBe('after restart');
  });

  it('ignores and then removes a torn temp file that a dead writer left behind', async () => {
    const store = new FileDocumentStore({ dir });
    await store.put(makeRecord('ns', 'doc'));
    const records = join(dir, encodeName('ns'), 'records');
    const stray = join(records, `.${encodeName('doc')}.json.${await deadPid()}.abcdef.tmp`);
    await writeFile(stray, '{"namespace":"ns","id":"doc","tit');
    const fresh = new FileDocumentStore({ dir });
    expect((await fresh.list('ns', { limit: 10 })).items.map((r) => r.id)).toEqual(['doc']);
    expect(await fresh.get('ns', 'doc')).toEqual(makeRecord('ns', 'doc'));
    await expect(stat(stray)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('health fails when the directory cannot be created', async () => {
    await mkdir(root, { recursive: true });
    await writeFile(join(root, 'file'), 'not a directory');
    const store = new FileDocumentStore({ dir: join(root, 'file', 'documents') });
    await expect(store.health()).rejects.toThrow();
  });
});
