/**
 * `ExpiringLru` as it was before issue 14 (src/cache/expiring-lru.ts at that time), kept only as
 * the "before" of bench/lru.ts and bench/lru-heap.ts: a `Map` in recency order whose `set` evicts by
 * iterating the keys from the front, walking past the deleted slots V8 keeps until it rehashes.
 */
export class MapOrderLru<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();
  /** The most recently used key: touching it again needs no reordering. */
  private newest: string | undefined;

  constructor(private readonly maxEntries: number) {}

  /** How many entries are held (expired ones included until touched or evicted). */
  get size(): number {
    return this.entries.size;
  }

  /** The live value under `key`, marked as most recently used; `undefined` if absent or expired. */
  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) {
      return undefined;
    }
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    if (this.newest !== key) {
      this.entries.delete(key);
      this.entries.set(key, entry);
      this.newest = key;
    }
    return entry.value;
  }

  /** Stores `value` for `ttl` milliseconds, evicting the least recently used entries over the bound. */
  set(key: string, value: V, ttl: number): void {
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: Date.now() + ttl });
    this.newest = key;
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) {
        break;
      }
      this.entries.delete(oldest);
    }
  }

  /** Forgets `key`. */
  delete(key: string): void {
    this.entries.delete(key);
    if (this.newest === key) {
      this.newest = undefined;
    }
  }
}
