/** How many characters from the end of a key `keyHash` reads. */
export const HASHED_TAIL = 32;

/**
 * A 30-bit hash (a small integer, cheap as a `Map` key) of a key's length and its last
 * `HASHED_TAIL` characters: FNV-1a, then murmur3's finalizer to spread the bits.
 *
 * It reads only the tail because the keys it is meant for end in something random: a JWT in its
 * signature, the identity store's keys in a SHA-256 digest. Hashing a fresh 870-character token
 * this way costs a few dozen nanoseconds, where using the string itself as a `Map` key makes V8
 * hash all of it (~1.3 µs per lookup, since every request brings a new string). Keys that differ
 * only before their tail collide; callers must compare keys exactly, and treat a collision as a
 * matter of speed only.
 */
export function keyHash(key: string): number {
  const length = key.length;
  let hash = 0x811c9dc5 ^ length;
  for (let i = length > HASHED_TAIL ? length - HASHED_TAIL : 0; i < length; i += 1) {
    hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash & 0x3fffffff;
}
