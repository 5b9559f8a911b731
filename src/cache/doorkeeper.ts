/** Marks a slot as holding a hash (hashes are 30-bit, so a marked one is never 0, the empty slot). */
const SEEN = 0x40000000;

/**
 * Remembers first sightings of keys, by their `keyHash`, in a fixed table of 32-bit slots (one
 * `Int32Array`, allocated once: it never grows). A key is admitted on its second sighting while
 * its first is still remembered; each sighting lands in the slot its hash picks, overwriting
 * whatever was there, so old first sightings fade as new ones arrive.
 *
 * Two keys with the same hash count as one (an early admission); that is all a collision can do,
 * since the cache behind the doorkeeper still compares keys exactly.
 */
export class Doorkeeper {
  private readonly slots: Int32Array;
  private readonly mask: number;

  /** A table of the smallest power of two ≥ `capacity` slots (at least 64). */
  constructor(capacity: number) {
    let size = 64;
    while (size < capacity && size < SEEN) {
      size *= 2;
    }
    this.slots = new Int32Array(size);
    this.mask = size - 1;
  }

  /** How many bytes the table takes (fixed at construction). */
  get byteLength(): number {
    return this.slots.byteLength;
  }

  /** `true` when `hash` was sighted before and is still remembered; otherwise remembers it and returns `false`. */
  admit(hash: number): boolean {
    const slot = hash & this.mask;
    const mark = hash | SEEN;
    if (this.slots[slot] === mark) {
      return true;
    }
    this.slots[slot] = mark;
    return false;
  }
}
