import 'reflect-metadata';
import { createHash, randomUUID } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type TestingModule, Test } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { base64url } from 'jose';
import { type ExpiringLru } from '../../src/cache/expiring-lru.js';
import {
  CfAccessKeyStore,
  CfAccessModule,
  CfAccessService,
  CfAccessUnauthorizedException,
  type CfAccessIdentity,
  type MemoryIdentityStore,
} from '../../src/index.js';
import { CfAccessIdentityProvider } from '../../src/identity/cf-access-identity-provider.js';
import { capturedLogs } from '../support/start-app.js';
import { FaultKeyServer, mapLimit } from './support/fault-key-server.js';

/** `tokenCacheSize` and `identity.cacheMaxEntries` of the service under test. */
const BOUND = 1_000;
/** Distinct genuine tokens (RSA signing is the expensive part: more than the bound, not 100,000). */
const GENUINE = 2_000;
/** Genuinely signed tokens that pass the signature but fail a claim (expired, wrong audience). */
const SIGNED_REFUSALS = 400;
const DISTINCT = 100_000;
/** Heap growth allowed across the refusals; keeping them would take well over 50 MB. */
const HEAP_SLACK = 20 * 1024 * 1024;

const encode = (value: unknown) => base64url.encode(JSON.stringify(value));
const part = (token: string, index: number) => token.split('.')[index] as string;

/** The verified-token LRU and the identity store, read through the services' private fields. */
interface Internals {
  verified: ExpiringLru<string>;
  identities: MemoryIdentityStore;
  identityInFlight: Map<string, unknown>;
}

function internals(moduleRef: TestingModule): Internals {
  const service = moduleRef.get<CfAccessService>(CfAccessService) as unknown as { verified: ExpiringLru<string> };
  const provider = moduleRef.get<CfAccessIdentityProvider>(CfAccessIdentityProvider) as unknown as {
    store: MemoryIdentityStore;
    inFlight: Map<string, unknown>;
  };
  return { verified: service.verified, identities: provider.store, identityInFlight: provider.inFlight };
}

/** The keys of an LRU, oldest first (read without touching the order). */
const lruKeys = (lru: ExpiringLru<unknown>) => [...lru.keys()];

/** `global.gc`, or V8's gc exposed at run time (Jest gives tests no --expose-gc); `undefined` if neither works. */
function obtainGc(): (() => void) | undefined {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') {
    return exposed;
  }
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

function heapAfterGc(gc: () => void): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe('memory stays bounded under 100,000 distinct tokens', () => {
  let keys: FaultKeyServer;
  let moduleRef: TestingModule;
  let service: CfAccessService;
  let caches: Internals;
  let genuine: string[];
  let signedRefusals: string[];

  beforeAll(async () => {
    keys = await FaultKeyServer.start();
    moduleRef = await Test.createTestingModule({
      imports: [
        CfAccessModule.forRoot({
          teamDomain: keys.teamDomain,
          audience: keys.audience,
          tokenCacheSize: BOUND,
          identity: { cacheMaxEntries: BOUND },
        }),
      ],
    })
      .setLogger(capturedLogs)
      .compile();
    service = moduleRef.get(CfAccessService);
    caches = internals(moduleRef);
    genuine = await mapLimit(Array.from({ length: GENUINE }), 16, (_, i) =>
      keys.sign({ sub: `sub-${i}`, email: `user${i}@example.com`, identity_nonce: `nonce-${i}` }),
    );
    const past = Math.floor(Date.now() / 1000) - 3_600;
    signedRefusals = await mapLimit(Array.from({ length: SIGNED_REFUSALS }), 16, (_, i) =>
      i % 2 === 0 ? keys.sign({ sub: `expired-${i}`, exp: past, iat: past - 60, nbf: past - 60 }) : keys.sign({ sub: `other-${i}`, aud: ['another-app'] }),
    );
  }, 60_000);

  afterAll(async () => {
    await moduleRef?.close();
    await keys?.close();
  });

  it('caches at most tokenCacheSize verified tokens and identity.cacheMaxEntries identities, least recently used out', async () => {
    let largestVerified = 0;
    let largestIdentities = 0;
    /** Tokens in the order their second verification (the one that caches them) finished. */
    const cachedInOrder: string[] = [];
    // One token at a time: with verifications in flight together, other first sightings may take a
    // token's doorkeeper slot before its second one (it is then cached on a later sighting).
    await mapLimit(genuine, 1, async (token, i) => {
      await service.verify(token); // a token is cached on its second sighting
      const claims: CfAccessIdentity = await service.verify(token);
      cachedInOrder.push(token);
      expect(claims.sub).toBe(`sub-${i}`);
      await service.fullIdentity(token, claims);
      largestVerified = Math.max(largestVerified, caches.verified.size);
      largestIdentities = Math.max(largestIdentities, caches.identities.size);
    });
    expect(largestVerified).toBe(BOUND);
    expect(largestIdentities).toBe(BOUND);
    expect(caches.verified.size).toBe(BOUND);
    expect(caches.identities.size).toBe(BOUND);
    expect(caches.identityInFlight.size).toBe(0);
    expect(keys.identityRequests).toBe(GENUINE);
    expect(keys.certsRequests).toBe(1);

    // The most recently cached BOUND tokens are the ones kept; an evicted one is verified again (and re-cached).
    expect(lruKeys(caches.verified)).toEqual(cachedInOrder.slice(GENUINE - BOUND));
    const evicted = cachedInOrder[0] as string;
    await service.verify(evicted);
    const claims = await service.verify(evicted);
    expect(caches.verified.size).toBe(BOUND);
    expect(lruKeys(caches.verified).at(-1)).toBe(evicted);
    // Identities: a kept one is served from the cache, an evicted one is fetched again.
    await service.fullIdentity(genuine.at(-1) as string, await service.verify(genuine.at(-1) as string));
    expect(keys.identityRequests).toBe(GENUINE);
    await service.fullIdentity(evicted, claims);
    expect(keys.identityRequests).toBe(GENUINE + 1);
    expect(caches.identities.size).toBe(BOUND);
  });

  it('never caches any of ~98,000 distinct refused tokens, and the heap does not grow with them', async () => {
    const gc = obtainGc();
    const cachedBefore = lruKeys(caches.verified);
    const identitiesBefore = caches.identities.size;
    const certsBefore = keys.certsRequests;
    const heapBefore = gc ? heapAfterGc(gc) : undefined;
    const started = Date.now();

    const reasons: Record<string, number> = {};
    const digests = new Set<string>();
    let bytes = 0;
    let largestVerified = 0;
    let accepted = 0;
    const template = genuine[0] as string;
    const signature = part(template, 2);
    const header = JSON.parse(Buffer.from(part(template, 0), 'base64url').toString()) as Record<string, unknown>;
    const claims = keys.claims();

    /** The i-th distinct token: genuine ones, genuinely signed refusals, then cheap mutations of a genuine token. */
    const tokenAt = (i: number): string => {
      if (i < GENUINE) {
        return genuine[i] as string;
      }
      if (i < GENUINE + SIGNED_REFUSALS) {
        return signedRefusals[i - GENUINE] as string;
      }
      switch (i % 5) {
        case 0: // claims changed under the original signature
          return `${part(template, 0)}.${encode({ ...claims, jti: `j${i}` })}.${signature}`;
        case 1: // a kid the team never had
          return `${encode({ ...header, kid: `kid-${i}-${randomUUID()}` })}.${encode({ ...claims, jti: `j${i}` })}.${signature}`;
        case 2: // another team's issuer: refused before any key lookup
          return `${part(template, 0)}.${encode({ ...claims, iss: `https://team${i}.cloudflareaccess.com` })}.${signature}`;
        case 3: // a signature that is not the one for these bytes
          return `${part(template, 0)}.${encode({ ...claims, jti: `j${i}` })}.${signature.slice(0, 40)}${(i % 10).toString()}${signature.slice(41)}`;
        default: // not a JWS at all
          return `${encode({ n: i })}.${encode('not json')}.${base64url.encode(String(i))}`;
      }
    };

    for (let i = 0; i < DISTINCT; i += 1) {
      const token = tokenAt(i);
      bytes += token.length;
      digests.add(createHash('sha1').update(token).digest('base64'));
      try {
        if (i < GENUINE) {
          await service.verify(token); // a genuine token is (re)cached on its second sighting
        }
        await service.verify(token);
        accepted += 1;
      } catch (error) {
        expect(error).toBeInstanceOf(CfAccessUnauthorizedException);
        const reason = (error as CfAccessUnauthorizedException).reason;
        reasons[reason] = (reasons[reason] ?? 0) + 1;
      }
      largestVerified = Math.max(largestVerified, caches.verified.size);
    }

    expect(digests.size).toBe(DISTINCT);
    expect(accepted).toBe(GENUINE);
    const refused = DISTINCT - GENUINE;
    expect(Object.values(reasons).reduce((sum, n) => sum + n, 0)).toBe(refused);
    expect(Object.keys(reasons).sort()).toEqual(
      ['bad_signature', 'expired', 'malformed', 'unknown_kid', 'wrong_audience', 'wrong_issuer'].sort(),
    );
    expect(reasons.expired).toBe(SIGNED_REFUSALS / 2);
    expect(reasons.wrong_audience).toBe(SIGNED_REFUSALS / 2);

    // Only genuine tokens ever entered the verified-token cache, and never more than BOUND of them.
    expect(largestVerified).toBe(BOUND);
    expect(caches.verified.size).toBe(BOUND);
    const genuineSet = new Set(genuine);
    expect(lruKeys(caches.verified).every((token) => genuineSet.has(token))).toBe(true);
    expect(new Set(lruKeys(caches.verified))).toEqual(new Set(genuine.slice(GENUINE - BOUND)));
    expect(cachedBefore.length).toBe(BOUND);
    // Refusals never reach the identity cache, and unknown kids are not remembered by the key store.
    expect(caches.identities.size).toBe(identitiesBefore);
    expect(moduleRef.get(CfAccessKeyStore).status().keys).toBe(1);
    // ~20,000 unknown kids: at most one key fetch per cooldown (30 s by default).
    expect(keys.certsRequests - certsBefore).toBeLessThanOrEqual(1 + Math.floor((Date.now() - started) / 30_000));

    if (gc && heapBefore !== undefined) {
      digests.clear();
      const growth = heapAfterGc(gc) - heapBefore;
      expect(bytes).toBeGreaterThan(3 * HEAP_SLACK); // what keeping the refused tokens would cost
      expect(growth).toBeLessThan(HEAP_SLACK);
    } else {
      // No gc to be had: the bound is proven by the cache sizes above only.
      expect(gc).toBeUndefined();
    }
  }, 60_000);
});
