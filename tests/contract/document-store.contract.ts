import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import type { DocumentRecord, DocumentStore } from '../../src/ports/document-store.js';

/** The behaviour every DocumentStore must have, run against each adapter. */
export interface DocumentStoreHarness {
  store: DocumentStore;
  cleanup(): Promise<void>;
}

export function makeRecord(namespace: string, id: string, over: Partial<DocumentRecord> = {}): DocumentRecord {
  return {
    namespace,
    id,
    title: `Title of ${id}`,
    status: 'ready',
    version: 'v1',
    pending: null,
    chars: 100,
    tokens: 25,
    chunkCount: 2,
    metadata: { tags: ['a', 'b'], n: 1 },
    source: 'json',
    error: null,
    createdAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:00:00.000Z',
    ...over,
  };
}

export function documentStoreContract(name: string, make: () => Promise<DocumentStoreHarness>): void {
  describe(`DocumentStore contract: ${name}`, () => {
    let h: DocumentStoreHarness;
    let store: DocumentStore;
    let ns: string;

    beforeEach(async () => {
      h = await make();
      store = h.store;
      ns = `ns-${randomUUID()}`;
    });

    afterEach(async () => {
      await h.cleanup();
    });

    it('get returns null for a document that was never stored', async () => {
      expect(await store.get(ns, 'nope')).toBeNull();
    });

    it('put then get returns an equal record, and changing the returned copy changes nothing stored', async () => {
      const rec = makeRecord(ns, 'doc-1', {
        pending: { version: 'v2', jobId: 'job-1' },
        error: { code: 'X', message: 'm' },
      });
      await store.put(rec);
      const got = await store.get(ns, 'doc-1');
      expect(got).toEqual(rec);
      got!.title = 'mutated';
      (got!.metadata.tags as string[]).push('c');
      expect(await store.get(ns, 'doc-1')).toEqual(rec);
    });

    it('update passes the current record and stores what the function returns', async () => {
      const first = await store.update(ns, 'doc', (cur) => {
        expect(cur).toBeNull();
        return makeRecord(ns, 'doc', { status: 'pending' });
      });
      expect(first?.status).toBe('pending');
      const second = await store.update(ns, 'doc', (cur) => ({
        ...cur!,
        status: 'ready',
        chunkCount: cur!.chunkCount + 1,
      }));
      expect(second).toMatchObject({ status: 'ready', chunkCount: 3 });
      expect(await store.get(ns, 'doc')).toEqual(second);
    });

    it('update returning null deletes the record and its texts in one step; other documents keep theirs', async () => {
      await store.putText(ns, 'doc', 'v1', 'live');
      await store.putText(ns, 'doc', 'v2', 'pending');
      await store.putText(ns, 'other', 'v1', 'kept');
      await store.put(makeRecord(ns, 'doc', { pending: { version: 'v2', jobId: 'j' } }));
      await store.put(makeRecord(ns, 'other'));
      expect(await store.update(ns, 'doc', () => null)).toBeNull();
      expect(await store.get(ns, 'doc')).toBeNull();
      expect(await store.getText(ns, 'doc', 'v1')).toBeNull();
      expect(await store.getText(ns, 'doc', 'v2')).toBeNull();
      expect(await store.getText(ns, 'other', 'v1')).toBe('kept');
      // Without a record there is nothing to delete: a text stored ahead of its record (a submit in flight) stays.
      await store.putText(ns, 'new', 'v1', 'ahead of its record');
      expect(await store.update(ns, 'new', () => null)).toBeNull();
      expect(await store.getText(ns, 'new', 'v1')).toBe('ahead of its record');
    });

    it('update that throws stores nothing and rejects with the same error', async () => {
      await store.put(makeRecord(ns, 'doc', { title: 'before' }));
      const boom = new Error('boom');
      await expect(
        store.update(ns, 'doc', () => {
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect((await store.get(ns, 'doc'))?.title).toBe('before');
      // The key is not left locked.
      await store.update(ns, 'doc', (cur) => ({ ...cur!, title: 'after' }));
      expect((await store.get(ns, 'doc'))?.title).toBe('after');
    });

    it('concurrent updates of one record are serialised: no increment is lost', async () => {
      await store.put(makeRecord(ns, 'counter', { chunkCount: 0 }));
      await Promise.all(
        Array.from({ length: 40 }, () =>
          store.update(ns, 'counter', (cur) => ({ ...cur!, chunkCount: cur!.chunkCount + 1 })),
        ),
      );
      expect((await store.get(ns, 'counter'))?.chunkCount).toBe(40);
    });

    it('list pages through every record once, sorted by createdAt then id, with the total', async () => {
      const ids = ['e', 'b', 'a', 'd', 'c', 'g', 'f'];
      const created = [
        '2025-01-03',
        '2025-01-01',
        '2025-01-02',
        '2025-01-01',
        '2025-01-02',
        '2025-01-01',
        '2025-01-05',
      ];
      await Promise.all(
        ids.map((id, i) => store.put(makeRecord(ns, id, { createdAt: `${created[i]}T00:00:00.000Z` }))),
      );
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await store.list(ns, { limit: 3, cursor });
        expect(page.total).toBe(7);
        expect(page.items.length).toBeLessThanOrEqual(3);
        seen.push(...page.items.map((r) => r.id));
        cursor = page.next;
        pages++;
      } while (cursor !== null && pages < 10);
      expect(pages).toBe(3);
      expect(seen).toEqual(['b', 'd', 'g', 'a', 'c', 'e', 'f']);
    });

    it('a page cursor stays valid when records are added before it', async () => {
      await Promise.all(['a', 'b', 'c', 'd'].map((id) => store.put(makeRecord(ns, id))));
      const first = await store.list(ns, { limit: 2 });
      expect(first.items.map((r) => r.id)).toEqual(['a', 'b']);
      await store.put(makeRecord(ns, '0', { createdAt: '2024-01-01T00:00:00.000Z' }));
      const second = await store.list(ns, { limit: 2, cursor: first.next });
      expect(second.items.map((r) => r.id)).toEqual(['c', 'd']);
      expect(second.next).toBeNull();
      expect(second.total).toBe(5);
    });

    it('list of an empty namespace is empty, and a malformed cursor is a 400', async () => {
      expect(await store.list(ns, { limit: 10 })).toEqual({ items: [], next: null, total: 0 });
      const err = await store.list(ns, { limit: 10, cursor: 'not-a-cursor' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).statusCode).toBe(400);
    });

    it('keeps namespaces apart and lists the namespaces that hold documents', async () => {
      const other = `${ns}-other`;
      await store.put(makeRecord(ns, 'same', { title: 'mine' }));
      await store.put(makeRecord(other, 'same', { title: 'theirs' }));
      expect((await store.get(ns, 'same'))?.title).toBe('mine');
      expect((await store.get(other, 'same'))?.title).toBe('theirs');
      expect((await store.list(ns, { limit: 10 })).total).toBe(1);
      const names = await store.namespaces();
      expect(names).toContain(ns);
      expect(names).toContain(other);
      await store.delete(other, 'same');
      expect(await store.namespaces()).not.toContain(other);
      expect(await store.get(ns, 'same')).not.toBeNull();
    });

    it('stores texts per version and deletes all of them or all but one', async () => {
      const text = 'Ünïcödé text 🚀\r\nwith CRLF and trailing space ';
      await store.putText(ns, 'doc', 'v1', text);
      await store.putText(ns, 'doc', 'v2', 'second');
      await store.putText(ns, 'doc', 'v3', 'third');
      expect(await store.getText(ns, 'doc', 'v1')).toBe(text);
      expect(await store.getText(ns, 'doc', 'v9')).toBeNull();
      expect(await store.getText(ns, 'other', 'v1')).toBeNull();
      await store.deleteTexts(ns, 'doc', { keepVersion: 'v2' });
      expect(await store.getText(ns, 'doc', 'v1')).toBeNull();
      expect(await store.getText(ns, 'doc', 'v2')).toBe('second');
      expect(await store.getText(ns, 'doc', 'v3')).toBeNull();
      await store.deleteTexts(ns, 'doc');
      expect(await store.getText(ns, 'doc', 'v2')).toBeNull();
    });

    it('an update making a version live drops, in the same step, the texts stored before it and keeps those stored after', async () => {
      await store.putText(ns, 'doc', 'v1', 'first');
      await store.putText(ns, 'doc', 'v2', 'second');
      await store.putText(ns, 'doc', 'v3', 'third, submitted while v2 was indexing');
      await store.putText(ns, 'other', 'v1', 'another document');
      await store.put(makeRecord(ns, 'doc', { version: 'v1', pending: { version: 'v2', jobId: 'j2' } }));
      // A function that throws writes nothing and drops nothing.
      await expect(
        store.update(
          ns,
          'doc',
          () => {
            throw new Error('boom');
          },
          { dropTextsStoredBefore: 'v2' },
        ),
      ).rejects.toThrow('boom');
      expect(await store.getText(ns, 'doc', 'v1')).toBe('first');
      await store.update(ns, 'doc', (cur) => ({ ...cur!, version: 'v2', pending: null }), {
        dropTextsStoredBefore: 'v2',
      });
      expect((await store.get(ns, 'doc'))?.version).toBe('v2');
      expect(await store.getText(ns, 'doc', 'v1')).toBeNull();
      expect(await store.getText(ns, 'doc', 'v2')).toBe('second');
      expect(await store.getText(ns, 'doc', 'v3')).toBe('third, submitted while v2 was indexing');
      expect(await store.getText(ns, 'other', 'v1')).toBe('another document');
      // A text stored again counts from then: v2 stored anew after v3 makes v3 older than it.
      await store.putText(ns, 'doc', 'v2', 'second');
      await store.update(ns, 'doc', (cur) => ({ ...cur!, updatedAt: '2025-02-01T00:00:00.000Z' }), {
        dropTextsStoredBefore: 'v2',
      });
      expect(await store.getText(ns, 'doc', 'v3')).toBeNull();
      expect(await store.getText(ns, 'doc', 'v2')).toBe('second');
    });

    it('counts, per term, the documents whose LIVE version holds it, following flips, replacements and deletions', async () => {
      const stats = async (terms: string[]) => {
        const s = await store.termStats(ns, terms);
        return { documents: s.documents, counts: Object.fromEntries([...s.counts].sort()) };
      };
      expect(await stats(['cat'])).toEqual({ documents: 0, counts: {} });
      // Recorded for a pending version: nothing counts until it is live.
      await store.put(makeRecord(ns, 'a', { version: null, pending: { version: 'a1', jobId: 'ja1' } }));
      await store.putTerms(ns, 'a', 'a1', ['cat', 'dog', 'cat']);
      expect(await store.hasTerms(ns, 'a', 'a1')).toBe(true);
      expect(await store.hasTerms(ns, 'a', 'a2')).toBe(false);
      expect(await stats(['cat', 'dog'])).toEqual({ documents: 0, counts: {} });
      await store.update(ns, 'a', (cur) => ({ ...cur!, version: 'a1', pending: null }));
      expect(await stats(['cat', 'dog', 'eel'])).toEqual({ documents: 1, counts: { cat: 1, dog: 1 } });
      // Recorded for a version that is live already: counted at once; recording again changes nothing.
      await store.put(makeRecord(ns, 'b', { version: 'b1' }));
      await store.putTerms(ns, 'b', 'b1', ['cat', 'eel']);
      await store.putTerms(ns, 'b', 'b1', ['cat', 'eel']);
      expect(await stats(['cat', 'dog', 'eel'])).toEqual({ documents: 2, counts: { cat: 2, dog: 1, eel: 1 } });
      // A flip to a new version swaps the old version's terms for the new one's; an update that keeps the version does not count again.
      await store.putTerms(ns, 'a', 'a2', ['dog', 'fox']);
      await store.update(ns, 'a', (cur) => ({ ...cur!, title: 'renamed' }));
      expect(await stats(['cat', 'dog', 'fox'])).toEqual({ documents: 2, counts: { cat: 2, dog: 1 } });
      await store.update(ns, 'a', (cur) => ({ ...cur!, version: 'a2' }));
      expect(await stats(['cat', 'dog', 'fox'])).toEqual({ documents: 2, counts: { cat: 1, dog: 1, fox: 1 } });
      // An update that throws changes no count.
      await expect(
        store.update(ns, 'b', () => {
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      // Another namespace's documents do not count here.
      await store.put(makeRecord(`${ns}-other`, 'c', { version: 'c1' }));
      await store.putTerms(`${ns}-other`, 'c', 'c1', ['cat']);
      expect(await stats(['cat', 'eel'])).toEqual({ documents: 2, counts: { cat: 1, eel: 1 } });
      // Deleting a document takes its terms out; a term held by no document is gone.
      await store.delete(ns, 'b');
      expect(await stats(['cat', 'dog', 'eel', 'fox'])).toEqual({ documents: 1, counts: { dog: 1, fox: 1 } });
      expect(await store.hasTerms(ns, 'b', 'b1')).toBe(false);
      await store.delete(`${ns}-other`, 'c');
    });

    it('delete removes the record and is a no-op for a missing one', async () => {
      await store.put(makeRecord(ns, 'doc'));
      await store.delete(ns, 'doc');
      expect(await store.get(ns, 'doc')).toBeNull();
      await expect(store.delete(ns, 'doc')).resolves.toBeUndefined();
    });

    it('health resolves', async () => {
      await expect(store.health()).resolves.toBeUndefined();
    });
  });
}
