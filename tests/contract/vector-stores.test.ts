import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QdrantClient } from '@qdrant/js-client-rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqlite } from '../../src/adapters/sqlite/database.js';
import { SqliteVectorStore } from '../../src/adapters/sqlite/vector-store.js';
import { QdrantVectorStore } from '../../src/adapters/vector-store/qdrant.js';
import { FakeQdrant } from '../fixtures/fake-qdrant.js';
import { DIMS, vectorStoreContract } from './vector-store.contract.js';

vectorStoreContract('SqliteVectorStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vs-sqlite-'));
  const db = openSqlite(join(dir, 'test.db'));
  const store = new SqliteVectorStore({ db });
  return {
    store,
    cleanup: async () => {
      await store.close();
      db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

function qdrantHarness(url: () => string, apiKey?: string) {
  return async () => {
    const collection = `test_${randomUUID().replace(/-/g, '')}`;
    const client = new QdrantClient({ url: url(), ...(apiKey ? { apiKey } : {}), checkCompatibility: false });
    const store = new QdrantVectorStore({ url: url(), collection, client });
    return {
      store,
      cleanup: async () => {
        await store.close();
        await client.deleteCollection(store.collectionName(DIMS)).catch(() => undefined);
      },
    };
  };
}

describe('QdrantVectorStore against the schema-checking fake Qdrant', () => {
  const fake = new FakeQdrant();
  beforeAll(async () => {
    await fake.start();
  });
  afterAll(async () => {
    await fake.stop();
  });

  vectorStoreContract(
    'QdrantVectorStore (fake server)',
    qdrantHarness(() => fake.url),
  );

  it('sent only requests, and got only responses, that the Qdrant OpenAPI schema allows', () => {
    expect(fake.requests.length).toBeGreaterThan(50);
    expect(fake.violations, fake.report()).toEqual([]);
  });
});

const liveUrl = process.env.QDRANT_URL;
const liveKey = process.env.QDRANT_API_KEY;
describe.skipIf(!liveUrl)(
  `QdrantVectorStore against a live server${liveUrl ? ` at ${liveUrl}` : ' (skipped: set QDRANT_URL to run)'}`,
  () => {
    vectorStoreContract(
      'QdrantVectorStore (live server)',
      qdrantHarness(() => liveUrl ?? '', liveKey || undefined),
    );
  },
);
