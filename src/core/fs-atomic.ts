import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { link, open, readFile, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { AppError } from '../errors.js';

/**
 * Crash-safe file primitives shared by the embedded stores. The API process
 * and the worker process share DATA_DIR, so everything here is written to be
 * correct across processes, not only across async calls.
 */

const TEMP_RE = /^\.(.+)\.(\d+)\.([0-9a-f]+)\.tmp$/;

/** Name of the temp file a write of `path` goes through: `.<name>.<pid>.<rand>.tmp`. */
export function tempPathFor(path: string, pid: number = process.pid): string {
  return join(dirname(path), `.${basename(path)}.${pid}.${randomBytes(6).toString('hex')}.tmp`);
}

export function isTempName(name: string): boolean {
  return TEMP_RE.test(name);
}

/** fsync of a directory makes a rename in it durable; some platforms refuse it, which is harmless. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (err) {
    if (!isErrno(err, 'EISDIR', 'EPERM', 'EINVAL', 'EBADF')) throw err;
  } finally {
    await fh?.close();
  }
}

/**
 * Writes a file so that a reader, or a process restarted after a crash, sees
 * either the old content or the new, never a mix: temp file, fsync, rename,
 * fsync of the directory.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = tempPathFor(path);
  const fh = await open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dirname(path));
}

/** Reads a file, or null when it does not exist. */
export async function readFileOrNull(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return null;
    throw err;
  }
}

export function isErrno(err: unknown, ...codes: string[]): boolean {
  return typeof err === 'object' && err !== null && codes.includes((err as NodeJS.ErrnoException).code ?? '');
}

/** True unless the process is known to be gone; a pid we may not signal is alive. */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return !isErrno(err, 'ESRCH');
  }
}

/**
 * Removes temp files a killed writer left in `dir`: those of a dead process,
 * and any older than `maxAgeMs` (a live pid may have been reused). Temp files
 * of live writers are left alone, since they are about to be renamed.
 * Returns how many were removed.
 */
export async function removeStrayTemps(dir: string, maxAgeMs = 60 * 60_000): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return 0;
    throw err;
  }
  let removed = 0;
  for (const name of names) {
    const m = TEMP_RE.exec(name);
    if (!m) continue;
    const path = join(dir, name);
    const dead = !pidAlive(Number(m[2]));
    let old = false;
    if (!dead) {
      const st = await stat(path).catch(() => null);
      old = st !== null && Date.now() - st.mtimeMs > maxAgeMs;
    }
    if (dead || old) {
      await rm(path, { force: true, recursive: true });
      removed++;
    }
  }
  return removed;
}

/** Options of {@link withFileLock}. */
export interface FileLockOptions {
  /** A lock older than this is taken over even if its holder looks alive. Default 30 000 ms. */
  staleMs?: number;
  /** Give up (transient INTERNAL error) after waiting this long. Default 15 000 ms. */
  timeoutMs?: number;
}

interface LockBody {
  pid: number;
  host: string;
  time: number;
  nonce: string;
}

/**
 * Runs `fn` holding an exclusive lock file at `lockPath`, across processes.
 * The lock is created with O_EXCL; a lock whose holder died (same host, pid
 * gone) or that is older than `staleMs` is broken. Breaking renames the lock
 * aside first and puts it back if it turns out to be a fresh one another
 * process just took, so two waiters cannot both break and both enter.
 */
export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>, opts: FileLockOptions = {}): Promise<T> {
  const staleMs = opts.staleMs ?? 30_000;
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const body: LockBody = { pid: process.pid, host: hostname(), time: Date.now(), nonce: randomBytes(8).toString('hex') };
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    body.time = Date.now();
    const text = JSON.stringify(body);
    try {
      const fh = await open(lockPath, 'wx', 0o644);
      try {
        await fh.writeFile(text);
      } finally {
        await fh.close();
      }
      break;
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
    const seen = await readFileOrNull(lockPath);
    if (seen !== null && (await isStale(lockPath, seen.toString('utf8'), staleMs))) {
      await breakLock(lockPath, seen.toString('utf8'));
      continue;
    }
    if (Date.now() > deadline) {
      throw new AppError('INTERNAL', [], {
        transient: true,
        cause: new Error(`Timed out after ${timeoutMs} ms waiting for lock ${lockPath} held by ${seen?.toString('utf8') ?? '?'}`),
      });
    }
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 50);
  }
  try {
    return await fn();
  } finally {
    // Only remove the lock if it is still ours (it may have been broken as stale).
    const now = await readFileOrNull(lockPath);
    if (now !== null && now.toString('utf8') === JSON.stringify(body)) await unlink(lockPath).catch(() => undefined);
  }
}

/**
 * A lock file with no whole body this long after it was created is abandoned:
 * its creator writes the body straight after creating the file, so only a
 * creator killed in between (SIGKILL, power loss) leaves it empty or torn.
 */
export const TORN_LOCK_GRACE_MS = 2_000;

/** Whether the file at `path` was last written more than `ms` ago; false when it is gone. */
async function olderThan(path: string, ms: number): Promise<boolean> {
  try {
    return Date.now() - (await stat(path)).mtimeMs > ms;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
}

/** Whether the lock at `lockPath`, read as `text`, is abandoned. Its file's age is read only for a body that does not say when it was taken. */
async function isStale(lockPath: string, text: string, staleMs: number): Promise<boolean> {
  let lock: Partial<LockBody> | null;
  try {
    lock = JSON.parse(text) as Partial<LockBody>;
  } catch {
    lock = null;
  }
  // An empty or torn body: its creator died between creating the file and writing it, unless it is still writing.
  if (lock === null || typeof lock !== 'object') return olderThan(lockPath, Math.min(staleMs, TORN_LOCK_GRACE_MS));
  if (typeof lock.pid === 'number' && lock.host === hostname() && !pidAlive(lock.pid)) return true;
  if (typeof lock.time === 'number') return Date.now() - lock.time > staleMs;
  return olderThan(lockPath, staleMs);
}

async function breakLock(lockPath: string, observed: string): Promise<void> {
  const grave = `${lockPath}.${process.pid}.${randomBytes(6).toString('hex')}.broken`;
  try {
    await rename(lockPath, grave);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  const taken = (await readFileOrNull(grave))?.toString('utf8');
  if (taken !== observed) {
    // We moved a lock that someone took after we judged the old one stale: restore it.
    await link(grave, lockPath).catch(() => undefined);
  }
  await unlink(grave).catch(() => undefined);
}

/** Serialises async work per key within this process. */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return next;
  }
}

/**
 * Encodes an arbitrary string (namespace, id, version) into a file name that
 * cannot contain a separator or dot segment and is unambiguous on
 * case-insensitive file systems: lowercase RFC 4648 base32 of the UTF-8
 * bytes, without padding. Names longer than `maxBytes` UTF-8 bytes are refused
 * (file names are limited to 255 bytes).
 */
export function encodeName(value: string, maxBytes = 150): string {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length === 0 || bytes.length > maxBytes) {
    throw new AppError('INVALID_ID', [JSON.stringify(value.slice(0, 40))]);
  }
  let out = '';
  let bits = 0;
  let acc = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += B32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += B32[(acc << (5 - bits)) & 31];
  return out;
}

/** Inverse of {@link encodeName}; null for a name it could not have produced. */
export function decodeName(name: string): string | null {
  if (!/^[a-z2-7]+$/.test(name)) return null;
  const bytes: number[] = [];
  let bits = 0;
  let acc = 0;
  for (const ch of name) {
    acc = (acc << 5) | B32.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      bytes.push((acc >>> (bits - 8)) & 255);
      bits -= 8;
    }
    acc &= (1 << bits) - 1;
  }
  const text = Buffer.from(bytes).toString('utf8');
  return encodeName(text, Infinity) === name ? text : null;
}

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
