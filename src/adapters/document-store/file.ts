import { access, constants, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../../errors.js';
import type { DocumentRecord, DocumentStore, ListPage } from '../../ports/document-store.js';
import {
  KeyedMutex,
  decodeName,
  encodeName,
  isErrno,
  readFileOrNull,
  removeStrayTemps,
  withFileLock,
  writeFileAtomic,
  type FileLockOptions,
} from '../../core/fs-atomic.js';

/** Options of {@link FileDocumentStore}. */
export interface FileDocumentStoreOptions {
  /** Root directory, e.g. `<DATA_DIR>/documents`; created if missing. */
  dir: string;
  /** Cross-process lock tuning for `update`; defaults in {@link FileLockOptions}. */
  lock?: FileLockOptions;
}

interface CachedRecord {
  ino: number;
  size: number;
  mtimeNs: bigint;
  record: DocumentRecord;
}

/**
 * Document catalogue as files, shared safely by the API and worker processes:
 *
 * ```
 * <dir>/<ns>/records/<id>.json        one record, replaced atomically
 * <dir>/<ns>/records/<id>.lock        held during update() (O_EXCL)
 * <dir>/<ns>/texts/<id>/<version>.txt original texts
 * ```
 * where every `<…>` is {@link encodeName}: no input can name a path outside
 * `dir`. Records are cached by inode/size/mtime, so `list` re-reads only the
 * files another process replaced.
 */
export class FileDocumentStore implements DocumentStore {
  readonly #dir: string;
  readonly #lock: FileLockOptions;
  readonly #mutex = new KeyedMutex();
  readonly #cache = new Map<string, CachedRecord>();
  readonly #swept = new Set<string>();

  constructor(opts: FileDocumentStoreOptions) {
    this.#dir = opts.dir;
    this.#lock = opts.lock ?? {};
  }

  async get(namespace: string, id: string): Promise<DocumentRecord | null> {
    return this.#read(this.#recordPath(namespace, id));
  }

  async list(namespace: string, opts: { limit: number; cursor?: string | null }): Promise<ListPage<DocumentRecord>> {
    const limit = Math.max(1, Math.floor(opts.limit));
    const after = opts.cursor ? decodeCursor(opts.cursor) : null;
    const recordsDir = join(this.#nsDir(namespace), 'records');
    await this.#sweep(recordsDir);
    const names = await readdirOrEmpty(recordsDir);
    const all: DocumentRecord[] = [];
    for (const name of names) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue;
      const rec = await this.#read(join(recordsDir, name));
      if (rec) all.push(rec);
    }
    all.sort(compareRecords);
    const start = after ? all.findIndex((r) => compareKey(r, after) > 0) : 0;
    const from = start < 0 ? all.length : start;
    const items = all.slice(from, from + limit);
    const last = items.at(-1);
    const next = last && from + limit < all.length ? encodeCursor({ c: last.createdAt, i: last.id }) : null;
    return { items, next, total: all.length };
  }

  async put(record: DocumentRecord): Promise<void> {
    await this.update(record.namespace, record.id, () => record);
  }

  async update(
    namespace: string,
    id: string,
    fn: (current: DocumentRecord | null) => DocumentRecord | null,
  ): Promise<DocumentRecord | null> {
    const path = this.#recordPath(namespace, id);
    return this.#mutex.run(path, async () => {
      await mkdir(join(this.#nsDir(namespace), 'records'), { recursive: true });
      return withFileLock(
        `${path.slice(0, -'.json'.length)}.lock`,
        async () => {
          const current = await this.#read(path);
          const next = fn(current === null ? null : structuredClone(current));
          if (next === null) {
            if (current !== null) await rm(path, { force: true });
            this.#cache.delete(path);
            return null;
          }
          if (next.namespace !== namespace || next.id !== id) {
            throw new AppError('INTERNAL', [], {
              cause: new Error(`update(${namespace}, ${id}) returned a record keyed ${next.namespace}/${next.id}`),
            });
          }
          await writeFileAtomic(path, JSON.stringify(next));
          return structuredClone(next);
        },
        this.#lock,
      );
    });
  }

  async delete(namespace: string, id: string): Promise<void> {
    await this.update(namespace, id, () => null);
  }

  async putText(namespace: string, id: string, version: string, text: string): Promise<void> {
    const dir = this.#textDir(namespace, id);
    await mkdir(dir, { recursive: true });
    await writeFileAtomic(join(dir, `${encodeName(version)}.txt`), text);
  }

  async getText(namespace: string, id: string, version: string): Promise<string | null> {
    const buf = await readFileOrNull(join(this.#textDir(namespace, id), `${encodeName(version)}.txt`));
    return buf === null ? null : buf.toString('utf8');
  }

  async deleteTexts(namespace: string, id: string, opts: { keepVersion?: string } = {}): Promise<void> {
    const dir = this.#textDir(namespace, id);
    if (opts.keepVersion === undefined) {
      await rm(dir, { recursive: true, force: true });
      return;
    }
    const keep = `${encodeName(opts.keepVersion)}.txt`;
    // Temp files belong to a putText in flight (maybe in another process): only dead ones go.
    for (const name of await readdirOrEmpty(dir)) {
      if (name !== keep && name.endsWith('.txt') && !name.startsWith('.')) await rm(join(dir, name), { force: true });
    }
    await removeStrayTemps(dir);
  }

  async namespaces(): Promise<string[]> {
    const out: string[] = [];
    for (const name of await readdirOrEmpty(this.#dir)) {
      const ns = decodeName(name);
      if (ns === null) continue;
      const records = await readdirOrEmpty(join(this.#dir, name, 'records'));
      if (records.some((r) => r.endsWith('.json') && !r.startsWith('.'))) out.push(ns);
    }
    return out.sort();
  }

  async health(): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    await access(this.#dir, constants.R_OK | constants.W_OK);
  }

  async close(): Promise<void> {
    this.#cache.clear();
  }

  #nsDir(namespace: string): string {
    return join(this.#dir, encodeName(namespace));
  }

  #recordPath(namespace: string, id: string): string {
    return join(this.#nsDir(namespace), 'records', `${encodeName(id)}.json`);
  }

  #textDir(namespace: string, id: string): string {
    return join(this.#nsDir(namespace), 'texts', encodeName(id));
  }

  /** Reads a record through the cache; the file's identity tells whether another process replaced it. */
  async #read(path: string): Promise<DocumentRecord | null> {
    let st;
    try {
      st = await stat(path, { bigint: true });
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) {
        this.#cache.delete(path);
        return null;
      }
      throw err;
    }
    const hit = this.#cache.get(path);
    if (hit && hit.ino === Number(st.ino) && hit.size === Number(st.size) && hit.mtimeNs === st.mtimeNs) {
      return structuredClone(hit.record);
    }
    const buf = await readFileOrNull(path);
    if (buf === null) return null;
    let record: DocumentRecord;
    try {
      record = JSON.parse(buf.toString('utf8')) as DocumentRecord;
    } catch (err) {
      throw new AppError('INTERNAL', [], { cause: new Error(`Corrupt document record ${path}`, { cause: err }) });
    }
    // Stat again after reading: if the file changed meanwhile, do not cache a stale pairing.
    const st2 = await stat(path, { bigint: true }).catch(() => null);
    if (st2 && st2.ino === st.ino && st2.mtimeNs === st.mtimeNs) {
      this.#cache.set(path, { ino: Number(st.ino), size: Number(st.size), mtimeNs: st.mtimeNs, record });
    }
    return structuredClone(record);
  }

  /** Once per directory and process: remove temp files a killed writer left. */
  async #sweep(dir: string): Promise<void> {
    if (this.#swept.has(dir)) return;
    this.#swept.add(dir);
    await removeStrayTemps(dir);
  }
}

interface CursorKey {
  c: string;
  i: string;
}

function compareKey(r: DocumentRecord, k: CursorKey): number {
  if (r.createdAt !== k.c) return r.createdAt < k.c ? -1 : 1;
  if (r.id !== k.i) return r.id < k.i ? -1 : 1;
  return 0;
}

function compareRecords(a: DocumentRecord, b: DocumentRecord): number {
  return compareKey(a, { c: b.createdAt, i: b.id });
}

function encodeCursor(k: CursorKey): string {
  return Buffer.from(JSON.stringify(k), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): CursorKey {
  try {
    const k = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Partial<CursorKey>;
    if (typeof k.c === 'string' && typeof k.i === 'string') return { c: k.c, i: k.i };
  } catch {
    // fall through
  }
  throw new AppError('INVALID_PARAMETER', [`Invalid cursor ${JSON.stringify(cursor.slice(0, 60))}`]);
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return [];
    throw err;
  }
}
