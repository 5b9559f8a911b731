/**
 * Micro-benchmark of the verified-token cache at its default bound: nanoseconds per insert, miss
 * and hit, before and after issue 14, next to a bare `Map` floor. Prints a Markdown section (used
 * by bench/run.ts for RESULTS.md). `BENCH_QUICK=1` takes fewer batches.
 */
import { type Cache, ENTRIES, fresh, IMPLEMENTATIONS, TTL, token } from './lru-fixtures.js';

const QUICK = process.env.BENCH_QUICK === '1';
/** Operations timed together; the statistics are over the batches' means. */
const BATCH = 1_000;
const BATCHES = QUICK ? 30 : 300;
/** Distinct keys inserted in turn: a key comes back only after this many others (long evicted, and forgotten by the doorkeeper). */
const POOL = 100_000;

/** The reference floor: a `Map` plus a ring of its keys, `set` + `delete` per insert (FIFO, no recency). */
class MapFifo<V> implements Cache<V> {
  private readonly map = new Map<string, V>();
  private readonly ring: (string | undefined)[] = new Array<string | undefined>(ENTRIES).fill(undefined);
  private next = 0;

  get(key: string): V | undefined {
    return this.map.get(key);
  }

  set(key: string, value: V): void {
    if (this.map.has(key)) {
      this.map.set(key, value);
      return;
    }
    const old = this.ring[this.next];
    if (old !== undefined) {
      this.map.delete(old);
    }
    this.map.set(key, value);
    this.ring[this.next] = key;
    this.next = (this.next + 1) % ENTRIES;
  }
}

const CANDIDATES: Record<string, () => Cache<unknown>> = {
  'floor: Map.set + Map.delete (FIFO, no recency)': () => new MapFifo<unknown>(),
  ...IMPLEMENTATIONS,
};

type Operation = 'insert' | 'miss' | 'hit';

/** One implementation's caches and where it is in the key sequence. */
interface Subject {
  name: string;
  /** For inserts and misses: filled to the bound, then fed keys it does not hold. */
  churn: Cache<unknown>;
  /** For hits: holds `held`. */
  hits: Cache<unknown>;
  next: number;
  samples: Record<Operation, number[]>;
}

/** `set` twice: with the doorkeeper, the second sighting is the one that stores. */
function fill(cache: Cache<unknown>, keys: string[], value: unknown): void {
  for (const key of keys) {
    cache.set(key, value, TTL);
    cache.set(key, value, TTL);
  }
}

function time(run: () => void): number {
  const started = process.hrtime.bigint();
  run();
  return Number(process.hrtime.bigint() - started) / BATCH;
}

function stats(samples: number[]): string {
  const sorted = [...samples].sort((x, y) => x - y);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  return `${Math.round(at(0.5))} (${Math.round(at(0.99))})`;
}

function main(): void {
  const value = { kid: 'k', key: {}, claims: '{}' };
  const pool = Array.from({ length: POOL }, () => token());
  const hashed = new Set(pool); // V8 caches a string's hash in it: inserts then measure the structure only
  const held = pool.slice(0, ENTRIES);
  const subjects: Subject[] = Object.entries(CANDIDATES).map(([name, create]) => {
    const churn = create();
    fill(churn, held, value);
    const hits = create();
    fill(hits, held, value);
    return { name, churn, hits, next: ENTRIES, samples: { insert: [], miss: [], hit: [] } };
  });
  const take = (subject: Subject) => pool[subject.next++ % POOL] as string;
  for (let batch = 0; batch < BATCHES; batch += 1) {
    const lookups = Array.from({ length: BATCH }, () => held[Math.floor(Math.random() * ENTRIES)] as string);
    // Half the pool ahead of the inserts: keys inserted long ago (evicted, and forgotten by the doorkeeper).
    const missKeys = Array.from({ length: BATCH }, (_, i) => pool[(ENTRIES + POOL / 2 + batch * BATCH + i) % POOL] as string);
    for (const subject of subjects) {
      const { churn, hits } = subject;
      subject.samples.insert.push(
        time(() => {
          for (let i = 0; i < BATCH; i += 1) {
            churn.set(take(subject), value, TTL);
          }
        }),
      );
      // Every subject gets its own new strings: V8 would cache a hash computed for the one before.
      const keys = missKeys.map(fresh);
      subject.samples.miss.push(
        time(() => {
          for (const key of keys) {
            if (churn.get(key) === undefined) {
              churn.set(key, value, TTL);
            }
          }
        }),
      );
      const lookupKeys = lookups.map(fresh);
      subject.samples.hit.push(
        time(() => {
          for (const key of lookupKeys) {
            if (hits.get(key) === undefined) {
              throw new Error(`${subject.name}: a held key was not found`);
            }
          }
        }),
      );
    }
  }
  if (hashed.size !== POOL) {
    throw new Error('duplicate keys in the pool');
  }
  const rows = subjects.map(
    ({ name, samples }) => `| ${name} | ${stats(samples.insert)} | ${stats(samples.miss)} | ${stats(samples.hit)} |`,
  );
  console.log(`### Token cache micro-benchmark (\`bench/lru.ts\`)

${ENTRIES.toLocaleString('en')} entries (at the bound), keys shaped as Cloudflare tokens (~870 characters, random
signature). ${BATCHES} batches of ${BATCH.toLocaleString('en')} operations per implementation and operation, interleaved;
nanoseconds per operation: median of the batch means (99th percentile of the batch means).
- *insert*: \`set\` of a key not held (a key returns after ${POOL.toLocaleString('en')} others), already hashed by V8; each evicts one entry.
  With the doorkeeper, a never-repeated key is only recorded as sighted.
- *miss*: \`get\` then \`set\` of a key not held, arriving as a new string (as every request's header does).
- *hit*: \`get\` of a held key, as a new string.

| implementation | insert | miss | hit |
|---|---:|---:|---:|
${rows.join('\n')}`);
}

main();
