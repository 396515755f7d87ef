import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { embedders } from '../../src/adapters/embedder/index.js';
import { llms } from '../../src/adapters/llm/index.js';
import { lookup } from '../../src/adapters/registry.js';
import { vectorStores } from '../../src/adapters/vector-store/index.js';
import { CONFIG_SPEC, type Config, loadConfig } from '../../src/config.js';
import { adapterNames, createVectorStore, openStores } from '../../src/container.js';
import { AppError } from '../../src/errors.js';

const bare = (env: Record<string, string> = {}) => loadConfig(env, { dotenvPath: null });

describe('adapter registries', () => {
  it('offer exactly the names the config allows for each choice', () => {
    expect(Object.keys(embedders).sort()).toEqual([...CONFIG_SPEC.EMBEDDER.choices].sort());
    expect(Object.keys(llms).sort()).toEqual([...CONFIG_SPEC.LLM_PROVIDER.choices].sort());
    expect(Object.keys(vectorStores).sort()).toEqual([...CONFIG_SPEC.VECTOR_STORE.choices].sort());
  });

  it('reject a name they do not hold with CONFIG_INVALID naming the setting and the known names', () => {
    let err: unknown;
    try {
      lookup(vectorStores, 'VECTOR_STORE', 'milvus');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('CONFIG_INVALID');
    expect((err as AppError).message).toContain('VECTOR_STORE=milvus is not one of embedded, postgres, qdrant');
  });

  it('do not take an inherited property for an adapter', () => {
    expect(() => lookup(vectorStores, 'VECTOR_STORE', 'toString')).toThrow(/VECTOR_STORE=toString is not one of/);
  });

  it('refuse a hand-built config naming an unknown vector store before opening anything for it', () => {
    const config = { ...bare(), VECTOR_STORE: 'milvus' } as unknown as Config;
    const stores = { connections: { sqlite: () => expect.unreachable(), postgres: () => expect.unreachable() } };
    expect(() => createVectorStore(config, stores as never)).toThrow(/VECTOR_STORE=milvus/);
  });
});

describe('adapterNames', () => {
  it('keeps everything in DATA_DIR by default', () => {
    expect(adapterNames(bare(), 'api')).toEqual({
      database: 'embedded',
      keys: 'embedded',
      queue: 'in-process',
      vectors: 'embedded',
      embedder: 'use-lite-static',
      llm: 'extractive',
    });
  });

  it('puts jobs on BullMQ and keys in Redis with REDIS_URL, except for local tools', () => {
    const cfg = bare({ REDIS_URL: 'redis://127.0.0.1:6379', ADMIN_API_KEY: 'k' });
    expect(adapterNames(cfg, 'api')).toMatchObject({ database: 'embedded', keys: 'redis', queue: 'bullmq' });
    expect(adapterNames(cfg, 'worker')).toMatchObject({ queue: 'bullmq' });
    expect(adapterNames(cfg, 'local')).toMatchObject({ keys: 'redis', queue: 'in-process' });
  });

  it('moves every store and the keys to PostgreSQL with DATABASE_URL, Redis or not', () => {
    const cfg = bare({
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/x',
      REDIS_URL: 'redis://127.0.0.1:6379',
      ADMIN_API_KEY: 'k',
    });
    expect(adapterNames(cfg, 'api')).toMatchObject({ database: 'postgres', keys: 'postgres', queue: 'bullmq' });
  });
});

describe('openStores', () => {
  it("opens only the connections its stores ask for: DATA_DIR's database, no PostgreSQL pool, by default", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'registry-'));
    const stores = openStores(bare({ DATA_DIR: dir }));
    try {
      expect(stores.sqlite).not.toBeNull();
      expect(stores.database).toBeNull();
    } finally {
      await stores.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
