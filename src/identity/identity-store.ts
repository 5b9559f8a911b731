/**
 * Where full identities are cached. A Nest `@nestjs/cache-manager` cache (`CACHE_MANAGER`)
 * fits as is, so replicas can share identities through Redis; the default is in memory.
 */
export interface CfAccessIdentityStore {
  /** The value stored under `key` (or a promise of it); `undefined` when absent. */
  get(key: string): unknown;
  /** Stores `value` for `ttl` milliseconds; may return a promise. */
  set(key: string, value: unknown, ttl: number): unknown;
}

/** A bounded in-memory LRU store with per-entry expiry. */
export class MemoryIdentityStore implements CfAccessIdentityStore {
  private readonly entries = new Map<string, { value: unknown; expiresAt: number }>();

  constructor(private readonly maxEntries: number) {}

  /** How many entries are held (expired ones included until touched or evicted). */
  get size(): number {
    return this.entries.size;
  }

  get(key: string): unknown {
    const entry = this.entries.get(key);
    if (!entry) {
      return undefined;
    }
    this.entries.delete(key);
    if (entry.expiresAt <= Date.now()) {
      return undefined;
    }
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: unknown, ttl: number): void {
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: Date.now() + ttl });
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) {
        break;
      }
      this.entries.delete(oldest);
    }
  }
}
