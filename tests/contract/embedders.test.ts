import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CachingEmbedder, textKey } from '../../src/adapters/embedder/cached.js';
import { SqliteEmbeddingCache } from '../../src/adapters/sqlite/embedding-cache.js';
import { openSqlite } from '../../src/adapters/sqlite/database.js';
import { createEmbedder } from '../../src/adapters/embedder/index.js';
import { loadConfig } from '../../src/config.js';
import { OpenAiEmbedder } from '../../src/adapters/embedder/openai.js';
import { TransformersEmbedder } from '../../src/adapters/embedder/transformers.js';
import { UseLiteEmbedder } from '../../src/adapters/embedder/use-lite.js';
import { UseLiteStaticEmbedder } from '../../src/adapters/embedder/use-lite-static.js';
import { buildTinyOnnxModel } from '../fixtures/tiny-onnx.js';
import { embedderContract } from './embedder.contract.js';
import { FakeEmbeddingsServer } from './embedder-openai-server.js';

let dir: string;
const server = new FakeEmbeddingsServer();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'embedders-contract-'));
  await buildTinyOnnxModel(join(dir, 'models'), 'tiny-bert');
  await server.start();
});
afterAll(async () => {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

embedderContract('use-lite', async () => new UseLiteEmbedder());
embedderContract('use-lite-static', async () => new UseLiteStaticEmbedder());
embedderContract(
  'transformers (tiny ONNX model)',
  async () => new TransformersEmbedder({ modelDir: join(dir, 'models'), model: 'tiny-bert' }),
);
embedderContract(
  'openai (local OpenAI-compatible server)',
  async () => new OpenAiEmbedder({ baseUrl: server.baseUrl, model: 'fake-embed' }),
);
embedderContract(
  'caching, over transformers',
  async () =>
    new CachingEmbedder(new TransformersEmbedder({ modelDir: join(dir, 'models'), model: 'tiny-bert' }), {
      store: new SqliteEmbeddingCache({ db: openSqlite(join(dir, `cache-${randomUUID()}.db`)) }),
    }),
);

describe('createEmbedder', () => {
  type Overrides = NonNullable<NonNullable<Parameters<typeof loadConfig>[1]>['overrides']>;
  const config = (overrides: Overrides) =>
    loadConfig({}, { dotenvPath: null, overrides: { DATA_DIR: join(dir, 'data'), ...overrides } });

  it('picks the adapter named by EMBEDDER and keeps chunk vectors in the cache store given', async () => {
    const db = openSqlite(join(dir, 'create-embedder.db'));
    const cache = new SqliteEmbeddingCache({ db });
    const e = createEmbedder(
      config({
        EMBEDDER: 'transformers',
        EMBEDDER_MODEL_DIR: join(dir, 'models'),
        EMBEDDER_MODEL: 'tiny-bert',
        EMBEDDER_POOLING: 'cls',
        EMBEDDER_QUERY_PREFIX: 'query: ',
      }),
      { cache },
    );
    try {
      expect(e).toBeInstanceOf(CachingEmbedder);
      expect(e.id).toMatch(/^transformers:tiny-bert\|pooling=cls/);
      expect(e.id).toContain('query: ');
      const [v] = await e.embedDocuments(['the ship']);
      expect(await cache.getMany(e.id, [textKey('the ship')])).toEqual([v]);
    } finally {
      await e.close();
      db.close();
    }
  });

  it('builds the openai adapter from EMBEDDER_URL and EMBEDDER_MODEL', async () => {
    const e = createEmbedder(
      config({ EMBEDDER: 'openai', EMBEDDER_URL: server.baseUrl, EMBEDDER_MODEL: 'fake-embed', EMBED_BATCH_SIZE: 2 }),
    );
    server.requests.length = 0;
    await e.embedDocuments(['a', 'b', 'c']);
    expect(server.requests.map((r) => r.body.input.length)).toEqual([2, 1]);
    expect(e.id).toMatch(/^openai:fake-embed@/);
  });

  it('builds the static vectors distilled from USE lite uncached: nothing is written to the cache store given', async () => {
    const db = openSqlite(join(dir, 'create-static.db'));
    const cache = new SqliteEmbeddingCache({ db });
    const e = createEmbedder(config({ EMBEDDER: 'use-lite-static' }), { cache });
    try {
      expect(e).toBeInstanceOf(UseLiteStaticEmbedder);
      expect(e.id).toMatch(/^use-lite-static@/);
      await e.embedDocuments(['the ship', 'the harbour']);
      expect(await cache.getMany(e.id, [textKey('the ship'), textKey('the harbour')])).toEqual([null, null]);
    } finally {
      await e.close();
      db.close();
    }
  });

  it('builds USE lite itself, behind the cache, without loading it', () => {
    const e = createEmbedder(config({ EMBEDDER: 'use-lite' }));
    expect(e).toBeInstanceOf(CachingEmbedder);
    expect(e.id).toMatch(/^use-lite@/);
  });
});
