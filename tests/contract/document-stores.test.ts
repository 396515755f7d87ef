import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqlite, SQLITE_FILE } from '../../src/adapters/sqlite/database.js';
import { SqliteDocumentStore } from '../../src/adapters/sqlite/document-store.js';
import { ROOT } from '../helpers/paths.js';
import { documentStoreContract, makeRecord } from './document-store.contract.js';

// As configured (texts read on the text thread, stored there from 1 MiB), with every text stored on the thread
// too, and with no thread: the three paths keep the same contract.
for (const [name, opts] of [
  ['SQLite', {}],
  ['SQLite, every text stored on the text thread', { textThreadMinChars: 1 }],
  ['SQLite, no text thread', { textThread: false }],
] as const) {
  documentStoreContract(name, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ds-sqlite-'));
    const db = openSqlite(join(dir, SQLITE_FILE));
    const store = new SqliteDocumentStore({ db, ...opts });
    return {
      store,
      cleanup: async () => {
        await store.close();
        db.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  });
}

/** Runs an ESM script in a separate Node process (tsx loads the TypeScript sources). */
function runNode(script: string, args: string[]): { child: ReturnType<typeof spawn>; done: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = once(child, 'exit').then(([code]) => {
    if (code !== 0 && code !== null) throw new Error(`child exited ${code}: ${stderr}`);
    return code as number | null;
  });
  return { child, done };
}

const MODULES = [join(ROOT, 'src/adapters/sqlite/database.ts'), join(ROOT, 'src/adapters/sqlite/document-store.ts')];

describe('SqliteDocumentStore on one database file shared by processes', () => {
  let dir: string;
  let file: string;
  const open: Array<{ close(): void }> = [];
  const stores: SqliteDocumentStore[] = [];
  const store = () => {
    const db = openSqlite(file);
    open.push(db);
    const s = new SqliteDocumentStore({ db });
    stores.push(s);
    return s;
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ds-sqlite-disk-'));
    file = join(dir, SQLITE_FILE);
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    for (const db of open.splice(0)) db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a second connection sees writes, replacements and deletions made through the first', async () => {
    const a = store();
    const b = store();
    await a.put(makeRecord('ns', 'doc', { title: 'one' }));
    expect((await b.get('ns', 'doc'))?.title).toBe('one');
    await a.update('ns', 'doc', (cur) => ({ ...cur!, title: 'two' }));
    expect((await b.list('ns', { limit: 5 })).items.map((r) => r.title)).toEqual(['two']);
    await a.delete('ns', 'doc');
    expect(await b.get('ns', 'doc')).toBeNull();
    expect((await b.list('ns', { limit: 5 })).total).toBe(0);
  });

  it('serialises updates of one record made by several processes: no increment is lost', async () => {
    const s = store();
    await s.put(makeRecord('ns', 'counter', { chunkCount: 0 }));
    const script = join(dir, 'increment.mjs');
    await writeFile(
      script,
      `const { openSqlite } = await import(process.argv[2]);
       const { SqliteDocumentStore } = await import(process.argv[3]);
       const store = new SqliteDocumentStore({ db: openSqlite(process.argv[4]) });
       for (let i = 0; i < 50; i++) {
         await store.update('ns', 'counter', (cur) => ({ ...cur, chunkCount: cur.chunkCount + 1 }));
         await new Promise((r) => setImmediate(r));
       }`,
    );
    const children = [runNode(script, [...MODULES, file]), runNode(script, [...MODULES, file])];
    for (let i = 0; i < 50; i++) {
      await s.update('ns', 'counter', (cur) => ({ ...cur!, chunkCount: cur!.chunkCount + 1 }));
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(children.map((c) => c.done));
    expect((await s.get('ns', 'counter'))?.chunkCount).toBe(150);
  });

  it('a writer SIGKILLed mid-stream leaves only whole records and texts, and the file opens and takes writes', async () => {
    const script = join(dir, 'writer.mjs');
    await writeFile(
      script,
      `const { openSqlite } = await import(process.argv[2]);
       const { SqliteDocumentStore } = await import(process.argv[3]);
       const store = new SqliteDocumentStore({ db: openSqlite(process.argv[4]) });
       const big = 'x'.repeat(200_000);
       for (let i = 0; ; i++) {
         await store.putText('ns', 'doc-' + (i % 5), 'v' + (i % 3), big + i);
         await store.put({ namespace: 'ns', id: 'doc-' + (i % 5), title: 't' + i, status: 'ready', version: 'v' + (i % 3), pending: null,
           chars: i, tokens: 0, chunkCount: 0, metadata: { big }, source: 'json', error: null,
           createdAt: '2025-01-01T00:00:00.000Z', updatedAt: new Date().toISOString() });
         if (i === 30) process.stdout.write('ready\\n');
       }`,
    );
    const { child, done } = runNode(script, [...MODULES, file]);
    await once(child.stdout!, 'data');
    child.kill('SIGKILL');
    await done;

    const s = store();
    const page = await s.list('ns', { limit: 10 });
    expect(page.total).toBe(5);
    for (const r of page.items) {
      expect(r.metadata.big).toHaveLength(200_000);
      // Every record's text was stored before it: the live text is there, whole.
      expect(await s.getText('ns', r.id, r.version!)).toMatch(/^x{200000}\d+$/);
    }
    await s.update('ns', 'doc-0', (cur) => ({ ...cur!, title: 'after restart' }));
    expect((await s.get('ns', 'doc-0'))?.title).toBe('after restart');
  });

  it('reads a page of the listing by the index, without scanning or sorting the namespace', () => {
    const db = openSqlite(file);
    open.push(db);
    for (const [sql, params] of [
      ['SELECT * FROM documents WHERE namespace = ? ORDER BY created_at, id LIMIT ?', ['ns', 21]],
      [
        'SELECT * FROM documents WHERE namespace = ? AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?',
        ['ns', '2025', 'a', 21],
      ],
    ] as const) {
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>)
        .map((r) => r.detail)
        .join('\n');
      expect(plan).toMatch(/USING INDEX documents_by_created/);
      expect(plan).not.toMatch(/TEMP B-TREE/);
    }
  });
});
