import { ExpiringLru } from '../cache/expiring-lru.js';

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

/** The default identity store: a bounded in-memory LRU with per-entry expiry. */
export class MemoryIdentityStore extends ExpiringLru<unknown> implements CfAccessIdentityStore {}
