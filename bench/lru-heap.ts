/**
 * The heap cost of the verified-token cache per entry, before and after issue 14: `heapUsed`
 * after forced GCs, before and after filling a cache with realistic entries (an ~870-character
 * token, a value shaped as the service's: the `kid`, the shared key, ~300 characters of claims
 * JSON). Run with `node --expose-gc`; prints a Markdown section (used by bench/run.ts).
 */
import { webcrypto } from 'node:crypto';
import { Doorkeeper } from '../src/cache/doorkeeper.js';
import { type Cache, claimsJson, ENTRIES, IMPLEMENTATIONS, TTL, token } from './lru-fixtures.js';

const gc = (globalThis as { gc?: () => void }).gc;

/** `heapUsed` once the collector has nothing left to free. */
function settledHeap(collect: () => void): number {
  collect();
  collect();
  collect();
  return process.memoryUsage().heapUsed;
}

interface Value {
  kid: string;
  key: webcrypto.CryptoKey;
  claims: string;
}

/** Entries whose strings nothing else holds: the cache is what keeps them. */
function fillWithOwnStrings(cache: Cache<Value>, key: webcrypto.CryptoKey): void {
  for (let i = 0; i < ENTRIES; i += 1) {
    const claims = claimsJson();
    const entryToken = token(claims);
    const value = { kid: 'a'.repeat(64), key, claims };
    cache.set(entryToken, value, TTL);
    cache.set(entryToken, value, TTL);
  }
}

/** Bytes per entry: what `fill` adds to the heap, divided by the entries it stores. */
function perEntry(collect: () => void, create: () => Cache<Value>, fill: (cache: Cache<Value>) => void): number {
  const cache = create();
  const before = settledHeap(collect);
  fill(cache);
  const after = settledHeap(collect);
  if (cache.get('absent') !== undefined) {
    throw new Error('unreachable: keeps `cache` alive until after the measurement');
  }
  return (after - before) / ENTRIES;
}

async function main(): Promise<void> {
  if (!gc) {
    throw new Error('run with node --expose-gc');
  }
  const { publicKey: key } = await webcrypto.subtle.generateKey(
    { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    true,
    ['sign', 'verify'],
  );
  // Entries built up front and held outside too: what is left is the cache's own structure.
  const shared = Array.from({ length: ENTRIES }, () => {
    const claims = claimsJson();
    return { token: token(claims), value: { kid: 'a'.repeat(64), key, claims } };
  });
  const rows: string[] = [];
  for (const [name, create] of Object.entries(IMPLEMENTATIONS) as [string, () => Cache<Value>][]) {
    const whole = perEntry(gc, create, (cache) => fillWithOwnStrings(cache, key));
    const structure = perEntry(gc, create, (cache) => {
      for (const { token: entryToken, value } of shared) {
        cache.set(entryToken, value, TTL);
        cache.set(entryToken, value, TTL);
      }
    });
    rows.push(`| ${name} | ${Math.round(whole)} | ${Math.round(structure)} | ${((whole * ENTRIES) / 2 ** 20).toFixed(1)} MiB |`);
  }
  const tokenLength = (shared[0] as { token: string }).token.length;
  const claimsLength = (shared[0] as { value: Value }).value.claims.length;
  console.log(`### Token cache heap per entry (\`bench/lru-heap.ts\`)

\`process.memoryUsage().heapUsed\` after forced GCs (\`--expose-gc\`), before and after storing ${ENTRIES.toLocaleString('en')} entries:
a ${tokenLength}-character token and a value as the service stores it (\`kid\`, the shared \`CryptoKey\`, ${claimsLength} characters
of claims JSON). *Whole entry*: the cache is all that holds the strings, as in a server (the request is gone);
*structure*: the same strings also held elsewhere, so only the cache's own objects count.
The doorkeeper's table is fixed at construction, outside the JS heap (an \`ArrayBuffer\`): ${new Doorkeeper(ENTRIES).byteLength / 1024} KiB at ${ENTRIES.toLocaleString('en')} entries.

| implementation | whole entry, bytes | structure, bytes | whole, at ${ENTRIES.toLocaleString('en')} |
|---|---:|---:|---:|
${rows.join('\n')}`);
}

await main();
