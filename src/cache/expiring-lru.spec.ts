import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Doorkeeper } from './doorkeeper.js';
import { ExpiringLru } from './expiring-lru.js';
import { HASHED_TAIL, keyHash } from './key-hash.js';

const HOUR = 3_600_000;

/** Keys of one length that differ only before their hashed tail: they all share one hash (tokens differ in their tails). */
const colliding = (count: number) =>
  Array.from({ length: count }, (_, i) => `${String(i).padStart(8, '0')}.${'s'.repeat(HASHED_TAIL)}`);

/** What the service does per request: a lookup, and on a miss a `set` after verifying. */
function request(lru: ExpiringLru<string>, token: string): 'hit' | 'miss' {
  if (lru.get(token) !== undefined) {
    return 'hit';
  }
  lru.set(token, `claims of ${token}`, HOUR);
  return 'miss';
}

afterEach(() => {
  jest.restoreAllMocks();
});

describe('keyHash', () => {
  it('is a deterministic 30-bit integer', () => {
    for (const key of ['', 'a', 'x'.repeat(872), 'ünïcødé']) {
      const hash = keyHash(key);
      expect(hash).toBe(keyHash(String(key)));
      expect(Number.isInteger(hash) && hash >= 0 && hash < 2 ** 30).toBe(true);
    }
  });

  it('reads the length and the last HASHED_TAIL characters only', () => {
    const tail = 'T'.repeat(HASHED_TAIL);
    expect(keyHash(`aaaa${tail}`)).toBe(keyHash(`bbbb${tail}`));
    expect(keyHash(`aaaa${tail}`)).not.toBe(keyHash(`aaa${tail}`));
    expect(keyHash(`aaaa${tail}`)).not.toBe(keyHash(`aaaa${tail.slice(1)}U`));
  });
});

describe('ExpiringLru', () => {
  it('holds at most maxEntries, evicting the least recently used', () => {
    const lru = new ExpiringLru<number>(3);
    for (let i = 0; i < 10; i += 1) {
      lru.set(`k${i}`, i, HOUR);
      expect(lru.size).toBe(Math.min(i + 1, 3));
    }
    expect([...lru.keys()]).toEqual(['k7', 'k8', 'k9']);
    expect(lru.get('k6')).toBeUndefined();
    expect(lru.get('k7')).toBe(7);
  });

  it('orders by use: a get or a set of a held key makes it the most recently used', () => {
    const lru = new ExpiringLru<string>(3);
    lru.set('a', 'A', HOUR);
    lru.set('b', 'B', HOUR);
    lru.set('c', 'C', HOUR);
    expect(lru.get('a')).toBe('A');
    expect([...lru.keys()]).toEqual(['b', 'c', 'a']);
    lru.set('b', 'B2', HOUR);
    expect([...lru.keys()]).toEqual(['c', 'a', 'b']);
    lru.set('d', 'D', HOUR);
    expect([...lru.keys()]).toEqual(['a', 'b', 'd']);
    expect(lru.get('c')).toBeUndefined();
    expect(lru.get('b')).toBe('B2');
  });

  it('never returns a value stored under another key, even in a reused entry', () => {
    const lru = new ExpiringLru<string>(2);
    for (let i = 0; i < 1_000; i += 1) {
      lru.set(`key-${i}`, `value-${i}`, HOUR);
      expect(lru.get(`key-${i}`)).toBe(`value-${i}`);
      expect(lru.get(`key-${i - 2}`)).toBeUndefined();
    }
    expect(lru.get('key-998')).toBe('value-998');
  });

  it('expires entries after their ttl, dropping them when touched', () => {
    const now = Date.now();
    const clock = jest.spyOn(Date, 'now').mockReturnValue(now);
    const lru = new ExpiringLru<string>(10);
    lru.set('short', 'S', 100);
    lru.set('long', 'L', 1_000);
    clock.mockReturnValue(now + 99);
    expect(lru.get('short')).toBe('S');
    clock.mockReturnValue(now + 100);
    expect(lru.get('short')).toBeUndefined();
    expect(lru.size).toBe(1);
    expect(lru.get('long')).toBe('L');
    lru.set('long', 'L2', 1_000);
    clock.mockReturnValue(now + 1_099);
    expect(lru.get('long')).toBe('L2');
  });

  it('deletes a key, and a deleted key can be stored again', () => {
    const lru = new ExpiringLru<string>(3);
    lru.set('a', 'A', HOUR);
    lru.set('b', 'B', HOUR);
    lru.delete('b');
    lru.delete('absent');
    expect(lru.size).toBe(1);
    expect(lru.get('b')).toBeUndefined();
    expect([...lru.keys()]).toEqual(['a']);
    lru.set('b', 'B2', HOUR);
    lru.delete('a');
    expect([...lru.keys()]).toEqual(['b']);
    expect(lru.get('b')).toBe('B2');
  });

  it('keeps keys that share a hash apart, compared exactly', () => {
    const [x, y, z] = colliding(3) as [string, string, string];
    expect(keyHash(x)).toBe(keyHash(y));
    const lru = new ExpiringLru<string>(10);
    lru.set(x, 'X', HOUR);
    lru.set(y, 'Y', HOUR);
    expect(lru.get(x)).toBe('X');
    expect(lru.get(y)).toBe('Y');
    expect(lru.get(z)).toBeUndefined();
    lru.delete(x);
    expect(lru.get(x)).toBeUndefined();
    expect(lru.get(y)).toBe('Y');
  });

  it('holds at most 4 keys of one hash: a fifth replaces the oldest stored of them', () => {
    const keys = colliding(5);
    const lru = new ExpiringLru<number>(10);
    keys.forEach((key, i) => lru.set(key, i, HOUR));
    expect(lru.size).toBe(4);
    expect(lru.get(keys[0] as string)).toBeUndefined();
    keys.slice(1).forEach((key, i) => expect(lru.get(key)).toBe(i + 1));
  });

  it('stores nothing with maxEntries 0', () => {
    const lru = new ExpiringLru<string>(0);
    lru.set('a', 'A', HOUR);
    expect(lru.size).toBe(0);
    expect(lru.get('a')).toBeUndefined();
  });
});

describe('ExpiringLru with admitOnSecondSighting (the doorkeeper)', () => {
  it('stores a key on its second set only; a held key is updated at once', () => {
    const lru = new ExpiringLru<string>(10, { admitOnSecondSighting: true });
    lru.set('a', 'A1', HOUR);
    expect(lru.size).toBe(0);
    expect(lru.get('a')).toBeUndefined();
    lru.set('a', 'A2', HOUR);
    expect(lru.get('a')).toBe('A2');
    lru.set('a', 'A3', HOUR);
    expect(lru.get('a')).toBe('A3');
  });

  it('makes a repeated token a hit by its third request, amid never-repeated ones', () => {
    const lru = new ExpiringLru<string>(1_000, { admitOnSecondSighting: true });
    const outcomes: string[] = [];
    for (let i = 0; i < 50; i += 1) {
      request(lru, `${'u'.repeat(40)}.unique-${i}`);
      outcomes.push(request(lru, `${'r'.repeat(40)}.repeated`));
    }
    expect(outcomes.slice(0, 3)).toEqual(['miss', 'miss', 'hit']);
    expect(outcomes.slice(2).every((outcome) => outcome === 'hit')).toBe(true);
    expect(lru.size).toBe(1);
  });

  it('stores none of a stream of never-repeated keys, and the doorkeeper never grows', () => {
    const lru = new ExpiringLru<string>(10_000, { admitOnSecondSighting: true });
    const doorkeeper = (lru as unknown as { doorkeeper: Doorkeeper }).doorkeeper;
    expect(doorkeeper.byteLength).toBe(16_384 * 4);
    for (let i = 0; i < 100_000; i += 1) {
      lru.set(`${'x'.repeat(40)}.token-${i}`, 'claims', HOUR);
    }
    expect(doorkeeper.byteLength).toBe(16_384 * 4);
    // Only a hash collision with a remembered sighting admits a key early: a handful at most.
    expect(lru.size).toBeLessThan(20);
  });

  it('a hash collision only admits a key early: each key still gets its own value', () => {
    const [x, y] = colliding(2) as [string, string];
    const lru = new ExpiringLru<string>(10, { admitOnSecondSighting: true });
    lru.set(x, 'X', HOUR); // x's first sighting
    lru.set(y, 'Y', HOUR); // y's first, but x's hash was sighted: admitted early
    expect(lru.get(x)).toBeUndefined();
    expect(lru.get(y)).toBe('Y');
    lru.set(x, 'X', HOUR);
    expect(lru.get(x)).toBe('X');
    expect(lru.get(y)).toBe('Y');
  });
});

describe('Doorkeeper', () => {
  it('has a power-of-two table of at least 64 slots, fixed at construction', () => {
    expect(new Doorkeeper(0).byteLength).toBe(64 * 4);
    expect(new Doorkeeper(1_000).byteLength).toBe(1_024 * 4);
    expect(new Doorkeeper(1_024).byteLength).toBe(1_024 * 4);
  });

  it('admits a hash on its second sighting; a newer sighting in the same slot replaces it', () => {
    const doorkeeper = new Doorkeeper(64);
    expect(doorkeeper.admit(5)).toBe(false);
    expect(doorkeeper.admit(5)).toBe(true);
    expect(doorkeeper.admit(5 + 64)).toBe(false); // same slot, another hash
    expect(doorkeeper.admit(5)).toBe(false); // forgotten: sighted anew
    expect(doorkeeper.admit(5)).toBe(true);
    expect(doorkeeper.admit(0)).toBe(false); // hash 0 is a hash like any other, not an empty slot
    expect(doorkeeper.admit(0)).toBe(true);
  });
});
