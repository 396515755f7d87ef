import { describe, expect, it } from 'vitest';
import { Lru } from '../../src/core/lru.js';

describe('Lru', () => {
  it('drops the least recently used entry beyond its count, a read counting as a use', () => {
    const lru = new Lru<string, number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    expect(lru.get('a')).toBe(1);
    lru.set('c', 3);
    expect(lru.has('b')).toBe(false);
    expect([lru.get('a'), lru.get('c')]).toEqual([1, 3]);
    expect(lru.size).toBe(2);
  });

  it('bounds the total weight, evicting as many old entries as a heavy one needs', () => {
    const lru = new Lru<string, string>(10, (v) => v.length);
    lru.set('a', 'xxx');
    lru.set('b', 'yyy');
    lru.set('c', 'zzzzzzzz');
    expect(lru.has('a')).toBe(false);
    expect(lru.has('b')).toBe(false);
    expect(lru.weight).toBe(8);
  });

  it('keeps nothing heavier than the whole bound, and forgets the old value of its key', () => {
    const lru = new Lru<string, string>(4, (v) => v.length);
    lru.set('k', 'ok');
    lru.set('k', 'far too long');
    expect(lru.has('k')).toBe(false);
    expect(lru.weight).toBe(0);
  });

  it('replaces a key without counting it twice', () => {
    const lru = new Lru<string, string>(10, (v) => v.length);
    lru.set('k', 'abcd');
    lru.set('k', 'ab');
    expect(lru.weight).toBe(2);
    lru.delete('k');
    expect([lru.size, lru.weight]).toEqual([0, 0]);
  });

  it('loads a missing key once for concurrent callers, keeps it, and loads again after a failed load', async () => {
    const lru = new Lru<string, number>(10);
    let loads = 0;
    const load = async () => {
      loads++;
      await new Promise((r) => setImmediate(r));
      return 42;
    };
    expect(await Promise.all([lru.getOrLoad('k', load), lru.getOrLoad('k', load), lru.getOrLoad('k', load)])).toEqual([
      42, 42, 42,
    ]);
    expect(loads).toBe(1);
    expect(await lru.getOrLoad('k', load)).toBe(42);
    expect(loads).toBe(1);
    await expect(lru.getOrLoad('x', async () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(await lru.getOrLoad('x', load)).toBe(42);
  });
});
