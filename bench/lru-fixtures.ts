import { randomBytes, randomUUID } from 'node:crypto';
import { ExpiringLru } from '../src/cache/expiring-lru.js';
import { MapOrderLru } from './lru-baseline.js';

/** The entries the benchmarks hold, as many as the default `tokenCacheSize`. */
export const ENTRIES = 10_000;
/** The time to live of every entry: long enough that nothing expires during a measurement. */
export const TTL = 3_600_000;

/** What the cache is asked to do, as `CfAccessService` asks it. */
export interface Cache<V> {
  get(key: string): V | undefined;
  set(key: string, value: V, ttl: number): void;
}

/** The implementations compared, by name. */
export const IMPLEMENTATIONS = {
  'before: Map in recency order (eviction iterates keys())': () => new MapOrderLru<unknown>(ENTRIES),
  'after: ExpiringLru (tail hash, linked list)': () => new ExpiringLru<unknown>(ENTRIES),
  'after: ExpiringLru + doorkeeper': () => new ExpiringLru<unknown>(ENTRIES, { admitOnSecondSighting: true }),
} satisfies Record<string, () => Cache<unknown>>;

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * A copy of `text` as the HTTP parser hands a header value over: a new flat one-byte string
 * whose hash V8 has not computed yet.
 */
export const fresh = (text: string): string => Buffer.from(text, 'latin1').toString('latin1');

/** The claims of a Cloudflare Access app token, as the service caches them (JSON, ~300 characters). */
export function claimsJson(): string {
  const now = Math.floor(Date.now() / 1000);
  return JSON.stringify({
    aud: [randomBytes(32).toString('hex')],
    email: `user${randomBytes(2).readUInt16BE()}@example.com`,
    exp: now + 86_400,
    iat: now,
    nbf: now,
    iss: 'https://acme.cloudflareaccess.com',
    type: 'app',
    identity_nonce: randomBytes(12).toString('base64url'),
    sub: randomUUID(),
    country: 'US',
  });
}

/**
 * A token shaped as Cloudflare's (RS256 header with a 64-hex `kid`, the claims above, a 2048-bit
 * signature: ~870 characters), as a fresh flat string. The signature is random bytes: the caches
 * never verify it.
 */
export function token(claims: string = claimsJson()): string {
  const header = base64url({ alg: 'RS256', kid: randomBytes(32).toString('hex'), typ: 'JWT' });
  const payload = Buffer.from(claims).toString('base64url');
  return fresh(`${header}.${payload}.${randomBytes(256).toString('base64url')}`);
}
