import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashKey } from '../../src/http/auth.js';
import type { ApiKeyRecord, KeyStore } from '../../src/ports/key-store.js';

/** A key store under test; `other` is a second handle on the same data, as another process (or API replica) opens it. */
export interface KeyStoreHarness {
  store: KeyStore;
  other: KeyStore;
  cleanup(): Promise<void>;
}

/** The behaviour every KeyStore must have (src/ports/key-store.ts), run against each adapter. */
export function keyStoreContract(name: string, make: () => Promise<KeyStoreHarness>): void {
  describe(`KeyStore contract: ${name}`, () => {
    let h: KeyStoreHarness;
    let store: KeyStore;
    let ns: string;
    const key = (namespace: string, label: string, createdAt: string): ApiKeyRecord => ({
      id: `key_${randomUUID().replace(/-/g, '').slice(0, 16)}`,
      hash: hashKey(`secret-${randomUUID()}`),
      namespace,
      name: label,
      createdAt,
    });

    beforeEach(async () => {
      h = await make();
      store = h.store;
      ns = `ns-${randomUUID()}`;
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('finds a key by the hash of its secret, from another handle too, and nothing for an unknown hash', async () => {
      const k = key(ns, 'ci ✓ robot', '2026-01-01T00:00:00.000Z');
      await store.add(k);
      expect(await store.findByHash(k.hash)).toEqual(k);
      expect(await h.other.findByHash(k.hash)).toEqual(k);
      expect(await store.findByHash(hashKey('never issued'))).toBeNull();
    });

    it('lists the keys of a namespace, or all, oldest first', async () => {
      const other = `${ns}-other`;
      const b = key(ns, 'b', '2026-01-02T00:00:00.000Z');
      const a = key(ns, 'a', '2026-01-01T00:00:00.000Z');
      const c = key(other, 'c', '2026-01-03T00:00:00.000Z');
      for (const k of [b, a, c]) await store.add(k);
      expect(await h.other.list(ns)).toEqual([a, b]);
      expect(await store.list(other)).toEqual([c]);
      expect(await store.list(`${ns}-empty`)).toEqual([]);
      const all = (await store.list()).filter((k) => k.namespace === ns || k.namespace === other);
      expect(all).toEqual([a, b, c]);
    });

    it('removes a key by id: it no longer authenticates anywhere; removing it again says so', async () => {
      const k = key(ns, 'gone', '2026-01-01T00:00:00.000Z');
      const kept = key(ns, 'kept', '2026-01-02T00:00:00.000Z');
      await store.add(k);
      await store.add(kept);
      expect(await h.other.remove(k.id)).toBe(true);
      expect(await store.findByHash(k.hash)).toBeNull();
      expect(await store.list(ns)).toEqual([kept]);
      expect(await store.remove(k.id)).toBe(false);
      expect(await store.remove('key_unknown')).toBe(false);
    });

    it('keeps every key of concurrent adds from two handles', async () => {
      const keys = Array.from({ length: 20 }, (_, i) =>
        key(ns, `k${i}`, `2026-01-01T00:00:${String(i).padStart(2, '0')}.000Z`),
      );
      await Promise.all(keys.map((k, i) => (i % 2 ? h.other : store).add(k)));
      expect(await store.list(ns)).toEqual(keys);
    });
  });
}
