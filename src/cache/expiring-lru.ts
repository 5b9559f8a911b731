import { Doorkeeper } from './doorkeeper.js';
import { keyHash } from './key-hash.js';

/** At most this many entries share one hash; a further one replaces the oldest of them. */
const MAX_CHAIN = 4;

/** Options of an `ExpiringLru`. */
export interface ExpiringLruOptions {
  /**
   * Store a key only on its second `set` (default `false`): the first only records a sighting in a
   * small fixed-size `Doorkeeper`, so a stream of never-repeated keys costs neither entries nor
   * evictions, while a repeated key is stored by its second `set`. A `set` of a key already held
   * always stores.
   */
  admitOnSecondSighting?: boolean;
}

/** One entry: a link in the recency list (newest ↔ oldest) and in the chain of its hash. */
class Entry<V> {
  newer: Entry<V> | undefined = undefined;
  older: Entry<V> | undefined = undefined;
  /** The next entry whose key has the same hash. */
  sameHash: Entry<V> | undefined = undefined;

  constructor(
    public key: string,
    public hash: number,
    public value: V,
    public expiresAt: number,
  ) {}
}

/**
 * A bounded least-recently-used map whose entries also expire.
 *
 * Entries are found by `keyHash` (a hash of the key's last characters, see there) and then the
 * exact key, so a lookup never makes V8 hash a long key; the recency order is a doubly linked list
 * through the entries, so `get`, `set` and eviction are O(1) and never walk anything. At the bound,
 * the least recently used entry is evicted and its object reused for the new one. Expired entries
 * are dropped when touched, or evicted in their turn.
 */
export class ExpiringLru<V> {
  private readonly buckets = new Map<number, Entry<V>>();
  private readonly doorkeeper: Doorkeeper | undefined;
  private newest: Entry<V> | undefined;
  private oldest: Entry<V> | undefined;
  private count = 0;

  constructor(
    private readonly maxEntries: number,
    options: ExpiringLruOptions = {},
  ) {
    this.doorkeeper = options.admitOnSecondSighting ? new Doorkeeper(maxEntries) : undefined;
  }

  /** How many entries are held (expired ones included until touched or evicted). */
  get size(): number {
    return this.count;
  }

  /**
   * The live value under `key`, marked as most recently used; `undefined` if absent or expired.
   * @param now the time in milliseconds since the epoch, if the caller has already read it.
   */
  get(key: string, now: number = Date.now()): V | undefined {
    const entry = this.find(key, keyHash(key));
    if (entry === undefined) {
      return undefined;
    }
    if (entry.expiresAt <= now) {
      this.remove(entry);
      return undefined;
    }
    this.touch(entry);
    return entry.value;
  }

  /**
   * Stores `value` for `ttl` milliseconds as the most recently used entry, evicting the least
   * recently used one at the bound; with `admitOnSecondSighting`, a key not held and not sighted
   * before is only remembered as sighted.
   */
  set(key: string, value: V, ttl: number): void {
    const hash = keyHash(key);
    const expiresAt = Date.now() + ttl;
    const held = this.find(key, hash);
    if (held !== undefined) {
      held.value = value;
      held.expiresAt = expiresAt;
      this.touch(held);
      return;
    }
    if (this.maxEntries < 1 || (this.doorkeeper !== undefined && !this.doorkeeper.admit(hash))) {
      return;
    }
    let entry: Entry<V>;
    const oldest = this.oldest;
    if (this.count >= this.maxEntries && oldest !== undefined) {
      this.remove(oldest);
      entry = oldest;
      entry.key = key;
      entry.hash = hash;
      entry.value = value;
      entry.expiresAt = expiresAt;
    } else {
      entry = new Entry(key, hash, value, expiresAt);
    }
    this.insert(entry);
  }

  /** Forgets `key`. */
  delete(key: string): void {
    const entry = this.find(key, keyHash(key));
    if (entry !== undefined) {
      this.remove(entry);
    }
  }

  /** The keys held, least recently used first (expired ones included), without touching the order. */
  *keys(): IterableIterator<string> {
    for (let entry = this.oldest; entry !== undefined; entry = entry.newer) {
      yield entry.key;
    }
  }

  private find(key: string, hash: number): Entry<V> | undefined {
    let entry = this.buckets.get(hash);
    while (entry !== undefined && entry.key !== key) {
      entry = entry.sameHash;
    }
    return entry;
  }

  /** Adds `entry` (not held) as the newest, first in its hash's chain; a full chain loses its last entry. */
  private insert(entry: Entry<V>): void {
    const first = this.buckets.get(entry.hash);
    if (first !== undefined) {
      let last = first;
      let length = 1;
      while (last.sameHash !== undefined) {
        last = last.sameHash;
        length += 1;
      }
      if (length >= MAX_CHAIN) {
        this.remove(last);
      }
    }
    entry.sameHash = this.buckets.get(entry.hash);
    this.buckets.set(entry.hash, entry);
    this.linkAsNewest(entry);
    this.count += 1;
  }

  /** Takes `entry` (held) out of its chain and of the recency list. */
  private remove(entry: Entry<V>): void {
    const first = this.buckets.get(entry.hash);
    if (first === entry) {
      if (entry.sameHash === undefined) {
        this.buckets.delete(entry.hash);
      } else {
        this.buckets.set(entry.hash, entry.sameHash);
      }
    } else {
      let previous = first;
      while (previous !== undefined && previous.sameHash !== entry) {
        previous = previous.sameHash;
      }
      if (previous !== undefined) {
        previous.sameHash = entry.sameHash;
      }
    }
    entry.sameHash = undefined;
    this.unlink(entry);
    this.count -= 1;
  }

  /** Makes `entry` (held) the most recently used. */
  private touch(entry: Entry<V>): void {
    if (entry !== this.newest) {
      this.unlink(entry);
      this.linkAsNewest(entry);
    }
  }

  private linkAsNewest(entry: Entry<V>): void {
    entry.older = this.newest;
    entry.newer = undefined;
    if (this.newest === undefined) {
      this.oldest = entry;
    } else {
      this.newest.newer = entry;
    }
    this.newest = entry;
  }

  private unlink(entry: Entry<V>): void {
    if (entry.newer === undefined) {
      this.newest = entry.older;
    } else {
      entry.newer.older = entry.older;
    }
    if (entry.older === undefined) {
      this.oldest = entry.newer;
    } else {
      entry.older.newer = entry.newer;
    }
    entry.newer = undefined;
    entry.older = undefined;
  }
}
