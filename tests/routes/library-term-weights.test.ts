import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyze, stem } from '../../src/core/text/analyse.js';
import { startServer, waitForJob, type TestServer } from '../helpers/server.js';

// A novel whose heroine's name is in every chunk, and an almanac with a few chunks about perfume. The question names
// the heroine and asks about something the novel does not hold (as LaRA's hallucination questions do): the novel is
// the document it is about. Chunk-level idf sinks the name (it is in most of the namespace's chunks), so the
// almanac's perfume chunks win; idf over documents counts the name once, held by one document of six.
const NOVEL = Array.from({ length: 24 }, (_, i) =>
  [
    `Chapter ${i + 1}. Evelyn walked to the garden with her aunt in the morning, and Evelyn spoke of the weather.`,
    `Evelyn laughed at the rain while the aunt read letters aloud by the window, and the maid brought tea.`,
    i === 9
      ? "That June, Evelyn's cousin Adelaide came to stay with them at the rectory."
      : 'The evening passed quietly.',
  ].join(' '),
).join('\n\n');
const ALMANAC = Array.from({ length: 10 }, (_, i) =>
  i % 3 === 0
    ? `Market note ${i + 1}. The perfume trade of the town grew, with lavender and roses from the hills for its stalls.`
    : `Market note ${i + 1}. Grain prices rose in the spring fair, and the harbour took in salt, timber and wool from the north.`,
).join('\n\n');
const OTHERS = [
  'orchard apples cider',
  'railway locomotive timetable',
  'glacier moraine meltwater',
  'pottery kiln glaze',
].map((words, k) =>
  Array.from(
    { length: 8 },
    (_, i) => `Report ${i + 1} of the ${words.split(' ')[0]}: ${words} ${words}, noted in week ${i + k}.`,
  ).join('\n\n'),
);
const QUESTION = "What perfume did Evelyn's cousin prefer?";

async function library(weights: 'document' | 'chunk'): Promise<TestServer> {
  const s = await startServer({ CHUNK_TOKENS: 60, CHUNK_OVERLAP_TOKENS: 0, LIBRARY_TERM_WEIGHTS: weights });
  const docs: Array<[string, string]> = [
    ['novel', NOVEL],
    ['almanac', ALMANAC],
    ...OTHERS.map((t, i): [string, string] => [`other-${i}`, t]),
  ];
  for (const [id, text] of docs) {
    const r = await s.call('POST', '/v1/documents', { id, text });
    expect(r.status).toBe(202);
    expect((await waitForJob(s, r.body.jobId)).state).toBe('completed');
  }
  return s;
}

describe('whole-namespace retrieval weights question terms by how few documents hold them, over HTTP', () => {
  let byDocuments: TestServer;
  let byChunks: TestServer;
  beforeAll(async () => {
    byDocuments = await library('document');
    byChunks = await library('chunk');
  }, 120_000);
  afterAll(async () => {
    await byDocuments?.close();
    await byChunks?.close();
  });

  it('a name that fills one document outweighs a word found in a few chunks of another', async () => {
    const d = await byDocuments.call('POST', '/v1/retrieve', { question: QUESTION });
    expect(d.status).toBe(200);
    expect(d.body.library.termWeights).toBe('document');
    expect(d.body.library.fallback).toBeNull();
    expect(d.body.library.picked[0].id).toBe('novel');
    expect(d.body.library.reasons[0]).toMatch(/weighted by how few of the 6 documents hold it/);
    // The same namespace with the store's chunk-level weights picks the almanac first: the weights make the difference.
    const c = await byChunks.call('POST', '/v1/retrieve', { question: QUESTION });
    expect(c.status).toBe(200);
    expect(c.body.library.termWeights).toBe('chunk');
    expect(c.body.library.picked[0].id).toBe('almanac');
  });

  it('follows deletions: a deleted document no longer counts among those holding a term', async () => {
    const before = await byDocuments.container.documents.termStats('default', analyze('perfume Evelyn'));
    expect(before.documents).toBe(6);
    expect(Object.fromEntries(before.counts)).toEqual({ [stem('perfume')]: 1, evelyn: 1 });
    expect((await byDocuments.call('DELETE', '/v1/documents/almanac')).status).toBe(204);
    const after = await byDocuments.container.documents.termStats('default', analyze('perfume Evelyn'));
    expect(after.documents).toBe(5);
    expect(Object.fromEntries(after.counts)).toEqual({ evelyn: 1 });
  });
});

describe('whole-namespace retrieval on documents stored before their terms were recorded', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await library('document');
  }, 120_000);
  afterAll(async () => {
    await s?.close();
  });

  it('uses the chunk-level weights and says so until the terms are recorded, then weights by documents', async () => {
    // What a database from before the statistics looks like: the novel's live version has no recorded terms.
    const novel = await s.container.documents.get('default', 'novel');
    await s.container.documents.update('default', 'novel', (cur) => ({ ...cur!, version: null }));
    await s.container.documents.update('default', 'novel', (cur) => ({ ...cur!, version: novel!.version }));
    expect(await s.container.documents.hasTerms('default', 'novel', novel!.version!)).toBe(false);

    const r = await s.call('POST', '/v1/retrieve', { question: QUESTION });
    expect(r.status).toBe(200);
    expect(r.body.library.termWeights).toBe('chunk');
    expect(r.body.library.fallback).toMatch(/term statistics cover 5 of the 6 documents/);

    expect(await s.container.documentService.recordMissingTerms()).toBe(1);
    expect(await s.container.documentService.recordMissingTerms()).toBe(0);
    const again = await s.call('POST', '/v1/retrieve', { question: QUESTION });
    expect(again.body.library.termWeights).toBe('document');
    expect(again.body.library.fallback).toBeNull();
    expect(again.body.library.picked[0].id).toBe('novel');
  });
});
