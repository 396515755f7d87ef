import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransformersEmbedder } from '../../src/adapters/embedder/transformers.js';
import { AppError } from '../../src/errors.js';
import { TINY_DIM, buildTinyOnnxModel } from '../fixtures/tiny-onnx.js';

const dot = (a: Float32Array, b: Float32Array): number => a.reduce((s, x, i) => s + x * b[i]!, 0);
const norm = (a: Float32Array): number => Math.sqrt(dot(a, a));

describe('TransformersEmbedder on a tiny ONNX model built by the test', () => {
  let dir: string;
  const open: TransformersEmbedder[] = [];
  const make = (opts: Partial<ConstructorParameters<typeof TransformersEmbedder>[0]> = {}): TransformersEmbedder => {
    const e = new TransformersEmbedder({ modelDir: dir, model: 'tiny-bert', ...opts });
    open.push(e);
    return e;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'embedder-transformers-'));
    await buildTinyOnnxModel(dir, 'tiny-bert');
  });
  afterAll(async () => {
    await Promise.all(open.map((e) => e.close()));
    await rm(dir, { recursive: true, force: true });
  });

  it('reports the hidden size of the model as its dimensions', async () => {
    expect(await make().dimensions()).toBe(TINY_DIM);
  });

  for (const pooling of ['mean', 'cls'] as const) {
    it(`places texts sharing words closer than unrelated texts with ${pooling} pooling`, async () => {
      const e = make({ pooling });
      const [sea1, sea2, kitchen] = await e.embedDocuments([
        'The captain sailed the ship across the ocean in a storm.',
        'A sailor dropped the anchor in the harbour at high tide.',
        'Bake the bread in the oven with flour, butter and salt.',
      ]);
      expect(dot(sea1!, sea2!)).toBeGreaterThan(dot(sea1!, kitchen!));
      expect(dot(sea1!, sea2!)).toBeGreaterThan(dot(sea2!, kitchen!));
    });
  }

  it('gives different vectors for mean and cls pooling of the same text', async () => {
    const text = 'the rocket launched toward the moon';
    const [mean] = await make({ pooling: 'mean' }).embedDocuments([text]);
    const [cls] = await make({ pooling: 'cls' }).embedDocuments([text]);
    expect(dot(mean!, cls!)).toBeLessThan(0.9999);
  });

  it('returns unit-norm vectors', async () => {
    const vectors = await make().embedDocuments(['star', 'the comet and the galaxy', 'zzz unknown words only']);
    for (const v of vectors) expect(norm(v)).toBeCloseTo(1, 5);
  });

  it('embeds a text the same alone and inside a padded batch', async () => {
    const e = make({ batchSize: 3 });
    const [alone] = await e.embedDocuments(['moon']);
    const [inBatch] = await e.embedDocuments(['moon', 'the astronaut watched the planet through a telescope in orbit']);
    for (let i = 0; i < TINY_DIM; i++) expect(inBatch![i]).toBeCloseTo(alone![i]!, 5);
  });

  it('keeps input order across several batches', async () => {
    const texts = ['ship', 'bread', 'star', 'ocean', 'oven', 'planet', 'wave'];
    const e = make({ batchSize: 2 });
    const together = await e.embedDocuments(texts);
    const oneByOne = await Promise.all(texts.map(async (t) => (await e.embedDocuments([t]))[0]!));
    for (const [i, v] of together.entries()) expect(dot(v, oneByOne[i]!)).toBeCloseTo(1, 5);
  });

  it('puts the query prefix before queries and the document prefix before chunks', async () => {
    const plain = make();
    const prefixed = make({ queryPrefix: 'star star star ', documentPrefix: 'bread bread bread ' });
    const text = 'the ship in the harbour';
    const q = await prefixed.embedQuery(text);
    const [d] = await prefixed.embedDocuments([text]);
    expect(dot(q, await plain.embedQuery('star star star ' + text))).toBeCloseTo(1, 5);
    expect(dot(d!, await plain.embedQuery('bread bread bread ' + text))).toBeCloseTo(1, 5);
    expect(dot(q, d!)).toBeLessThan(0.99);
  });

  it('names model, pooling and prefixes in its id', () => {
    const a = make({ pooling: 'cls', queryPrefix: 'query: ', documentPrefix: 'passage: ' });
    expect(a.id).toContain('tiny-bert');
    expect(a.id).toContain('cls');
    expect(a.id).toContain('query: ');
    expect(a.id).toContain('passage: ');
    expect(make({ pooling: 'mean' }).id).not.toBe(make({ pooling: 'cls' }).id);
    expect(make({ queryPrefix: 'q: ' }).id).not.toBe(make().id);
  });

  it('fails with EMBEDDER_UNAVAILABLE, naming the path, when the model folder does not exist', async () => {
    const e = new TransformersEmbedder({ modelDir: dir, model: 'no-such-model' });
    const err = await e.embedQuery('hello').catch((x: unknown) => x);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('EMBEDDER_UNAVAILABLE');
    expect((err as AppError).message).toContain(join(dir, 'no-such-model'));
    await expect(e.health()).rejects.toMatchObject({ code: 'EMBEDDER_UNAVAILABLE' });
  });

  it('fails with EMBEDDER_UNAVAILABLE, not a download, when the ONNX file is missing', async () => {
    const broken = await mkdtemp(join(tmpdir(), 'embedder-broken-'));
    const { env } = await import('@huggingface/transformers');
    const realFetch = env.fetch;
    const fetched: unknown[] = [];
    env.fetch = (async (url: unknown) => {
      fetched.push(url);
      throw new Error('network used');
    }) as typeof env.fetch;
    try {
      await buildTinyOnnxModel(broken, 'tiny-bert');
      await rm(join(broken, 'tiny-bert', 'onnx', 'model.onnx'));
      const e = new TransformersEmbedder({ modelDir: broken, model: 'tiny-bert' });
      await expect(e.embedDocuments(['ship'])).rejects.toMatchObject({ code: 'EMBEDDER_UNAVAILABLE' });
      expect(fetched).toEqual([]);
    } finally {
      env.fetch = realFetch;
      await rm(broken, { recursive: true, force: true });
    }
  });

  it('rejects a model name that climbs out of the model directory', () => {
    expect(() => new TransformersEmbedder({ modelDir: dir, model: '../etc' })).toThrow(AppError);
  });

  it('stops with CANCELLED when the signal is already aborted', async () => {
    await expect(make().embedDocuments(['ship'], AbortSignal.abort())).rejects.toMatchObject({ code: 'CANCELLED' });
  });
});
