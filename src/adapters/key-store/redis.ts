import { Redis } from 'ioredis';
import type { ApiKeyRecord, KeyStore } from '../../ports/key-store.js';

/** Keys in a Redis hash (hash → record), shared by every API replica. */
export class RedisKeyStore implements KeyStore {
  private readonly redis: Redis;
  private readonly key: string;

  constructor(opts: { url: string; prefix: string }) {
    // A request must not hang on a Redis that is down or stuck: its key lookup fails within seconds instead.
    this.redis = new Redis(opts.url, { maxRetriesPerRequest: 1, lazyConnect: false, connectTimeout: 2000, commandTimeout: 2000 });
    // Connection errors reach callers through the failed commands; without a listener ioredis reports each reconnect attempt as unhandled.
    this.redis.on('error', () => undefined);
    this.key = `${opts.prefix}:api-keys`;
  }

  async findByHash(hash: string): Promise<ApiKeyRecord | null> {
    const raw = await this.redis.hget(this.key, hash);
    return raw ? (JSON.parse(raw) as ApiKeyRecord) : null;
  }

  async add(record: ApiKeyRecord): Promise<void> {
    await this.redis.hset(this.key, record.hash, JSON.stringify(record));
  }

  async list(namespace?: string): Promise<ApiKeyRecord[]> {
    const all = Object.values(await this.redis.hgetall(this.key)).map((v) => JSON.parse(v) as ApiKeyRecord);
    return all.filter((k) => namespace === undefined || k.namespace === namespace).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async remove(id: string): Promise<boolean> {
    const rec = (await this.list()).find((k) => k.id === id);
    if (!rec) return false;
    await this.redis.hdel(this.key, rec.hash);
    return true;
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
