/**
 * A Map that forgets its least recently used entries once their total weight
 * passes `maxWeight`. The weight of an entry is 1 unless `weigh` says
 * otherwise (bytes, characters), so one class bounds caches by count or by
 * size. An entry heavier than the whole bound is not kept at all.
 */
export class Lru<K, V> {
  private readonly map = new Map<K, { value: V; weight: number }>();
  private total = 0;
  /** Loads in flight (`getOrLoad`); each entry lives as long as its load. */
  private readonly loading = new Map<K, Promise<V>>();

  constructor(
    private readonly maxWeight: number,
    private readonly weigh: (value: V, key: K) => number = () => 1,
  ) {}

  /** Entries held. */
  get size(): number {
    return this.map.size;
  }

  /** Their total weight, at most `maxWeight`. */
  get weight(): number {
    return this.total;
  }

  /** The value, now the most recently used; undefined when absent. */
  get(key: K): V | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    this.map.delete(key);
    this.map.set(key, e);
    return e.value;
  }

  /**
   * The value, or `load`'s, kept: concurrent callers of a missing key share one
   * load, so a burst of requests on a cold cache (after a restart or on a new
   * document version) reads or computes it once, not once each.
   */
  getOrLoad(key: K, load: () => Promise<V>): Promise<V> {
    const hit = this.get(key);
    if (hit !== undefined) return Promise.resolve(hit);
    let p = this.loading.get(key);
    if (!p) {
      p = load()
        .then((value) => {
          this.set(key, value);
          return value;
        })
        .finally(() => this.loading.delete(key));
      this.loading.set(key, p);
    }
    return p;
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  set(key: K, value: V): void {
    this.delete(key);
    const weight = this.weigh(value, key);
    if (weight > this.maxWeight) return;
    this.map.set(key, { value, weight });
    this.total += weight;
    for (const [k, e] of this.map) {
      if (this.total <= this.maxWeight) break;
      this.map.delete(k);
      this.total -= e.weight;
    }
  }

  delete(key: K): void {
    const e = this.map.get(key);
    if (e === undefined) return;
    this.map.delete(key);
    this.total -= e.weight;
  }

  clear(): void {
    this.map.clear();
    this.total = 0;
  }
}
