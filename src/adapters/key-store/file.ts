import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ApiKeyRecord, KeyStore } from '../../ports/key-store.js';
import { readFileOrNull, withFileLock, writeFileAtomic } from '../../core/fs-atomic.js';

/** Keys in one JSON file (hashes only), written atomically under a lock shared with other processes. */
export class FileKeyStore implements KeyStore {
  constructor(private readonly opts: { path: string }) {}

  private async read(): Promise<ApiKeyRecord[]> {
    const raw = await readFileOrNull(this.opts.path);
    return raw ? (JSON.parse(raw.toString('utf8')) as ApiKeyRecord[]) : [];
  }

  private async mutate(fn: (keys: ApiKeyRecord[]) => ApiKeyRecord[]): Promise<void> {
    await mkdir(dirname(this.opts.path), { recursive: true });
    await withFileLock(`${this.opts.path}.lock`, async () => {
      await writeFileAtomic(this.opts.path, JSON.stringify(fn(await this.read()), null, 1));
    });
  }

  async findByHash(hash: string): Promise<ApiKeyRecord | null> {
    return (await this.read()).find((k) => k.hash === hash) ?? null;
  }

  async add(record: ApiKeyRecord): Promise<void> {
    await this.mutate((keys) => [...keys, record]);
  }

  async list(namespace?: string): Promise<ApiKeyRecord[]> {
    return (await this.read()).filter((k) => namespace === undefined || k.namespace === namespace);
  }

  async remove(id: string): Promise<boolean> {
    let found = false;
    await this.mutate((keys) => {
      found = keys.some((k) => k.id === id);
      return keys.filter((k) => k.id !== id);
    });
    return found;
  }

  async close(): Promise<void> {}
}
