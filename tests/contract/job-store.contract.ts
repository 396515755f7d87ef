import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobStore } from '../../src/ports/job-store.js';

/** A store under test; `other` is a second handle on the same data, as another process would open it. */
export interface JobStoreHarness {
  store: JobStore;
  other: JobStore;
  cleanup(): Promise<void>;
}

const T0 = 1_800_000_000_000;
const LEASE = 10_000;

/**
 * The behaviour every JobStore must have (src/ports/job-store.ts), run against
 * each adapter. The clock is the `now` passed in, so leases expire without waiting.
 */
export function jobStoreContract(name: string, make: () => Promise<JobStoreHarness>): void {
  describe(`JobStore contract: ${name}`, () => {
    let h: JobStoreHarness;
    let store: JobStore;
    let p: string;
    /** Job ids unique to this test, so stores shared between tests do not mix. */
    const id = (s: string) => `${p}-${s}`;
    let name: string;

    beforeEach(async () => {
      h = await make();
      store = h.store;
      p = `t${randomUUID().slice(0, 8)}`;
      name = `work-${p}`;
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('insert stores a waiting job due now; a second insert of the id returns the first unchanged', async () => {
      const data = { text: 'Ünïcödé 🚀', nested: { list: [1, 2, { x: null }] } };
      const first = await store.insert({ id: id('a'), name, data, maxAttempts: 3 }, T0);
      expect(first.created).toBe(true);
      expect(first.job).toMatchObject({
        id: id('a'),
        name,
        data,
        state: 'waiting',
        attempts: 0,
        maxAttempts: 3,
        progress: 0,
        result: null,
        error: null,
        runAt: T0,
        owner: null,
        leaseUntil: null,
        finishedAt: null,
      });
      expect(new Date(first.job.createdAt).getTime()).toBe(T0);
      const again = await store.insert({ id: id('a'), name, data: { other: true }, maxAttempts: 9 }, T0 + 5);
      expect(again.created).toBe(false);
      expect(again.job).toEqual(first.job);
      expect(await h.other.get(id('a'))).toEqual(first.job);
      expect(await store.get(id('missing'))).toBeNull();
    });

    it('claim takes the oldest due job of the given names, leases it and counts the attempt; nothing is due twice', async () => {
      await store.insert({ id: id('1'), name, data: 1, maxAttempts: 1 }, T0);
      await store.insert({ id: id('2'), name, data: 2, maxAttempts: 1 }, T0 + 1);
      await store.insert({ id: id('x'), name: `${name}-other`, data: 0, maxAttempts: 1 }, T0);
      expect(await store.claim('A', [name], LEASE, T0 - 1)).toBeNull();
      const a = await store.claim('A', [name], LEASE, T0 + 10);
      expect(a).toMatchObject({
        id: id('1'),
        state: 'active',
        attempts: 1,
        owner: 'A',
        leaseUntil: T0 + 10 + LEASE,
        progress: 0,
      });
      const b = await h.other.claim('B', [name], LEASE, T0 + 10);
      expect(b).toMatchObject({ id: id('2'), owner: 'B' });
      expect(await store.claim('C', [name], LEASE, T0 + 10)).toBeNull();
      expect(await store.claim('C', [], LEASE, T0 + 10)).toBeNull();
      expect((await store.get(id('x')))?.state).toBe('waiting');
    });

    it('concurrent claims from two handles hand each job to exactly one owner', async () => {
      const n = 12;
      for (let i = 0; i < n; i++) await store.insert({ id: id(`c${i}`), name, data: i, maxAttempts: 1 }, T0);
      const claims = await Promise.all(
        Array.from({ length: 3 * n }, (_, i) => (i % 2 ? h.other : store).claim(`owner-${i}`, [name], LEASE, T0 + 1)),
      );
      const got = claims.filter((c) => c !== null).map((c) => c!.id);
      expect(got.sort()).toEqual(Array.from({ length: n }, (_, i) => id(`c${i}`)).sort());
    });

    it('a run whose lease ran out is claimed again, counting the dead run; the old owner can no longer write it', async () => {
      await store.insert({ id: id('j'), name, data: {}, maxAttempts: 3 }, T0);
      await store.claim('dead', [name], LEASE, T0);
      expect(await store.claim('B', [name], LEASE, T0 + LEASE - 1)).toBeNull();
      const again = await h.other.claim('B', [name], LEASE, T0 + LEASE);
      expect(again).toMatchObject({ id: id('j'), owner: 'B', attempts: 2 });
      expect(await store.renew(id('j'), 'dead', LEASE, T0 + LEASE + 1)).toBe(false);
      expect(await store.progress(id('j'), 'dead', 50)).toBe(false);
      expect(await store.finish(id('j'), 'dead', { state: 'completed', result: 'stale' }, T0 + LEASE + 2)).toBe(false);
      expect(await store.get(id('j'))).toMatchObject({ state: 'active', owner: 'B', result: null, progress: 0 });
      expect(await h.other.finish(id('j'), 'B', { state: 'completed', result: 'fresh' }, T0 + LEASE + 3)).toBe(true);
      expect(await store.get(id('j'))).toMatchObject({ state: 'completed', result: 'fresh', attempts: 2 });
    });

    it('renewing keeps a run; a dead run that had no attempts left is failed with CANCELLED, not run again', async () => {
      await store.insert({ id: id('kept'), name, data: {}, maxAttempts: 1 }, T0);
      await store.insert({ id: id('last'), name, data: {}, maxAttempts: 1 }, T0 + 1);
      await store.claim('A', [name], LEASE, T0 + 2);
      await store.claim('dead', [name], LEASE, T0 + 2);
      expect(await store.renew(id('kept'), 'A', LEASE, T0 + LEASE)).toBe(true);
      expect(await store.claim('B', [name], LEASE, T0 + LEASE + 5)).toBeNull();
      expect(await store.get(id('kept'))).toMatchObject({ state: 'active', owner: 'A', leaseUntil: T0 + 2 * LEASE });
      const last = await store.get(id('last'));
      expect(last).toMatchObject({ state: 'failed', attempts: 1, owner: null });
      expect(last?.error?.code).toBe('CANCELLED');
      expect(last?.finishedAt).not.toBeNull();
    });

    it('records progress, and each way a run ends: completed, failed, delayed (claimed again once due)', async () => {
      for (const s of ['ok', 'bad', 'later']) await store.insert({ id: id(s), name, data: s, maxAttempts: 2 }, T0);
      const ok = (await store.claim('A', [name], LEASE, T0))!;
      expect(await store.progress(ok.id, 'A', 40)).toBe(true);
      expect((await h.other.get(ok.id))?.progress).toBe(40);
      expect(await store.finish(ok.id, 'A', { state: 'completed', result: { answer: 42 } }, T0 + 1)).toBe(true);
      expect(await store.get(ok.id)).toMatchObject({
        state: 'completed',
        result: { answer: 42 },
        progress: 100,
        error: null,
        owner: null,
        leaseUntil: null,
      });
      expect(new Date((await store.get(ok.id))!.finishedAt!).getTime()).toBe(T0 + 1);

      const bad = (await store.claim('A', [name], LEASE, T0 + 2))!;
      await store.finish(bad.id, 'A', { state: 'failed', error: { code: 'INGEST_FAILED', message: 'no' } }, T0 + 3);
      expect(await store.get(bad.id)).toMatchObject({
        state: 'failed',
        error: { code: 'INGEST_FAILED', message: 'no' },
        owner: null,
      });

      const later = (await store.claim('A', [name], LEASE, T0 + 4))!;
      await store.finish(
        later.id,
        'A',
        { state: 'delayed', runAt: T0 + 1000, error: { code: 'LLM_UNAVAILABLE', message: 'down' } },
        T0 + 5,
      );
      expect(await store.get(later.id)).toMatchObject({ state: 'delayed', runAt: T0 + 1000, owner: null, attempts: 1 });
      expect(await store.claim('B', [name], LEASE, T0 + 999)).toBeNull();
      expect(await store.claim('B', [name], LEASE, T0 + 1000)).toMatchObject({ id: later.id, attempts: 2, owner: 'B' });
    });

    it('remove deletes finished jobs only; prune keeps the newest finished ones', async () => {
      for (const s of ['f1', 'f2', 'f3', 'open']) await store.insert({ id: id(s), name, data: s, maxAttempts: 1 }, T0);
      for (let i = 1; i <= 3; i++) {
        const j = (await store.claim('A', [name], LEASE, T0 + i))!;
        await store.finish(j.id, 'A', { state: 'completed', result: i }, T0 + 10 * i);
      }
      expect(await store.remove(id('open'), null)).toBe(false);
      const f1 = (await store.get(id('f1')))!.finishedAt;
      expect(await store.remove(id('f1'), new Date(T0 + 20).toISOString())).toBe(false);
      expect(await store.remove(id('f1'), f1)).toBe(true);
      expect(await store.remove(id('f1'), f1)).toBe(false);
      expect(await store.get(id('f1'))).toBeNull();
      await store.insert({ id: id('f1'), name, data: 'again', maxAttempts: 1 }, T0 + 50);
      expect((await store.get(id('f1')))?.data).toBe('again');

      expect(await store.prune(1)).toBeGreaterThanOrEqual(1);
      expect(await store.get(id('f2'))).toBeNull();
      expect((await store.get(id('f3')))?.result).toBe(3);
      expect((await store.get(id('open')))?.state).toBe('waiting');
    });

    it('remove takes only the finished run it names: a job that ran again since stays (two callers acting on one finished run)', async () => {
      await store.insert({ id: id('r'), name, data: 1, maxAttempts: 1 }, T0);
      let run = (await store.claim('A', [name], LEASE, T0 + 1))!;
      await store.finish(run.id, 'A', { state: 'completed', result: 1 }, T0 + 10);
      const first = (await store.get(id('r')))!.finishedAt;
      // The first caller clears the run it read and the job runs again.
      expect(await h.other.remove(id('r'), first)).toBe(true);
      await h.other.insert({ id: id('r'), name, data: 2, maxAttempts: 1 }, T0 + 20);
      run = (await h.other.claim('B', [name], LEASE, T0 + 21))!;
      expect(run).toMatchObject({ id: id('r'), attempts: 1 });
      await h.other.finish(run.id, 'B', { state: 'completed', result: 2 }, T0 + 30);
      // The second caller read the same first run; its late remove leaves the new run, which then is not run a third time.
      expect(await store.remove(id('r'), first)).toBe(false);
      expect(await store.get(id('r'))).toMatchObject({ state: 'completed', result: 2, attempts: 1 });
    });

    it('busy and nextDue describe the unfinished jobs of the given names', async () => {
      expect(await store.busy([name])).toBe(false);
      expect(await store.nextDue([name])).toBeNull();
      await store.insert({ id: id('w'), name, data: null, maxAttempts: 1 }, T0 + 500);
      expect(await store.busy([name])).toBe(true);
      expect(await store.busy([`${name}-other`])).toBe(false);
      expect(await store.nextDue([name])).toBe(T0 + 500);
      await store.claim('A', [name], LEASE, T0 + 600);
      expect(await store.nextDue([name])).toBe(T0 + 600 + LEASE);
      await store.finish(id('w'), 'A', { state: 'completed', result: null }, T0 + 700);
      expect(await store.busy([name])).toBe(false);
    });

    it('restore stores a finished or waiting job as given, once, and it behaves like any other', async () => {
      const done = {
        id: id('old-done'),
        name,
        data: { q: ['a'] },
        state: 'completed' as const,
        progress: 100,
        attempts: 2,
        maxAttempts: 3,
        result: { items: [{ ok: true }] },
        error: null,
        createdAt: '2026-01-01T00:00:00.000Z',
        finishedAt: '2026-01-01T00:01:00.000Z',
        runAt: T0,
        owner: null,
        leaseUntil: null,
      };
      expect(await store.restore(done)).toBe(true);
      expect(await h.other.get(done.id)).toEqual(done);
      expect(await store.restore({ ...done, result: 'other' })).toBe(false);
      expect((await store.get(done.id))?.result).toEqual(done.result);
      const waiting = {
        ...done,
        id: id('old-waiting'),
        state: 'waiting' as const,
        progress: 0,
        attempts: 1,
        result: null,
        finishedAt: null,
      };
      expect(await store.restore(waiting)).toBe(true);
      expect(await store.claim('A', [name], LEASE, T0)).toMatchObject({ id: waiting.id, attempts: 2, state: 'active' });
      await expect(store.restore({ ...done, id: id('old-active'), state: 'active' })).rejects.toThrow();
    });

    it('counts the unfinished jobs by state', async () => {
      const before = await store.counts();
      await store.insert({ id: id('c1'), name, data: null, maxAttempts: 2 }, T0);
      await store.insert({ id: id('c2'), name, data: null, maxAttempts: 2 }, T0);
      await store.claim('A', [name], LEASE, T0 + 1);
      expect(await store.counts()).toEqual({
        waiting: before.waiting + 1,
        active: before.active + 1,
        delayed: before.delayed,
      });
      // The oldest due job, c1, was claimed.
      await store.finish(
        id('c1'),
        'A',
        { state: 'delayed', runAt: T0 + 5000, error: { code: 'X', message: 'again' } },
        T0 + 2,
      );
      expect(await store.counts()).toEqual({
        waiting: before.waiting + 1,
        active: before.active,
        delayed: before.delayed + 1,
      });
      await store.claim('A', [name], LEASE, T0 + 3);
      await store.finish(id('c2'), 'A', { state: 'completed', result: null }, T0 + 4);
      expect(await store.counts()).toEqual({
        waiting: before.waiting,
        active: before.active,
        delayed: before.delayed + 1,
      });
    });

    it('health resolves', async () => {
      await expect(store.health()).resolves.toBeUndefined();
    });
  });
}
