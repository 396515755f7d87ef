import { Redis } from 'ioredis';
import type { ApiKeyRecord, KeyStore } from '../../ports/key-store.js';
import { DEFAULT_REDIS_TIMEOUT_MS, redisUnavailable } from '../redis-unavailable.js';

/** Keys in a Redis hash (hash → record), shared by every API replica. */
export class RedisKeyStore implements KeyStore {
  private readonly redis: Redis;
  private readonly key: string;

  /** @param opts.timeoutMs bound on each command, waiting for a connection included (REDIS_TIMEOUT_MS). Default 2000. */
  constructor(opts: { url: string; prefix: string; timeoutMs?: number }) {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS;
    // A request must not hang on a Redis that is down or stuck: its key lookup fails within the timeout instead
    // (ioredis starts commandTimeout before a command enters its offline queue, so it bounds the wait for a reconnect too).
    this.redis = new Redis(opts.url, {
      maxRetriesPerRequest: 1,
      lazyConnect: false,
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
    });
    // Connection errors reach callers through the failed commands; without a listener ioredis reports each reconnect attempt as unhandled.
    this.redis.on('error', () => undefined);
    this.key = `${opts.prefix}:api-keys`;
  }

  async findByHash(hash: string): Promise<ApiKeyRecord | null> {
    const raw = await this.call(() => this.redis.hget(this.key, hash));
    return raw ? (JSON.parse(raw) as ApiKeyRecord) : null;
  }

  async add(record: ApiKeyRecord): Promise<void> {
    await this.call(() => this.redis.hset(this.key, record.hash, JSON.stringify(record)));
  }

  async list(namespace?: string): Promise<ApiKeyRecord[]> {
    const all = Object.values(await this.call(() => this.redis.hgetall(this.key))).map(
      (v) => JSON.parse(v) as ApiKeyRecord,
    );
    return all
      .filter((k) => namespace === undefined || k.namespace === namespace)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async remove(id: string): Promise<boolean> {
    const rec = (await this.list()).find((k) => k.id === id);
    if (!rec) return false;
    await this.call(() => this.redis.hdel(this.key, rec.hash));
    return true;
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }

  /** A failed command is the key store being unavailable, not an internal error (see redisUnavailable). */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw redisUnavailable('KEY_STORE_UNAVAILABLE', err);
    }
  }
}
