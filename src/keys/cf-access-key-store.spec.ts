import { generateKeyPairSync } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { compactVerify, type CryptoKey, exportJWK, generateKeyPair, type JWK } from 'jose';
import { createTestKey, type TestKey, TestKeyServer, unreachableTeamDomain } from '../../test/support/key-server.js';
import { COLD_RETRY_MS, MAX_KEYS_PER_RESPONSE } from '../cf-access.constants.js';
import { CfAccessUnauthorizedException, CfAccessUnavailableException } from '../cf-access.errors.js';
import { type CfAccessJwksOptions, resolveCfAccessOptions } from '../cf-access.options.js';
import { CfAccessKeyStore } from './cf-access-key-store.js';

/** Short timings so the suite stays fast; each test overrides what it exercises. */
const FAST: CfAccessJwksOptions = { cooldown: 100, timeout: 200 };
const FAILURE_MODES = ['http-500', 'bad-json', 'hang'] as const;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The error a promise rejects with; fails the test when it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

async function expectUnknownKid(promise: Promise<unknown>): Promise<void> {
  const error = await rejectionOf(promise);
  expect(error).toBeInstanceOf(CfAccessUnauthorizedException);
  expect((error as CfAccessUnauthorizedException).getStatus()).toBe(401);
  expect((error as CfAccessUnauthorizedException).reason).toBe('unknown_kid');
}

async function expectUnavailable(promise: Promise<unknown>): Promise<void> {
  const error = await rejectionOf(promise);
  expect(error).toBeInstanceOf(CfAccessUnavailableException);
  expect((error as CfAccessUnavailableException).getStatus()).toBe(503);
  expect((error as CfAccessUnavailableException).reason).toBe('keys_unavailable');
}

/** A copy of `jwk` without the named members. */
function without(jwk: JWK, ...names: string[]): JWK {
  return Object.fromEntries(Object.entries(jwk).filter(([name]) => !names.includes(name)));
}

/** A published entry whose JWK is `publicJwk` (the private key is never used for these). */
function entry(kid: string, publicJwk: JWK, base: TestKey): TestKey {
  return { kid, privateKey: base.privateKey, publicJwk };
}

describe('CfAccessKeyStore', () => {
  let server: TestKeyServer;
  /** The two keys the server publishes at the start of every test (previous, current). */
  let initialKeys: TestKey[];
  /** A key no store has seen yet: published by `rotate()` (each test builds a fresh store). */
  let spare: TestKey;
  let warnings: string[];
  let frozenNow: number | undefined;

  beforeAll(async () => {
    server = await TestKeyServer.start();
    [spare] = await Promise.all([createTestKey(), server.rotate()]);
    initialKeys = server.published;
  });

  afterAll(async () => {
    await server.close();
  });

  beforeEach(() => {
    server.published = initialKeys;
    server.mode = 'ok';
    server.certsRequests = 0;
    warnings = [];
    frozenNow = undefined;
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => {
      warnings.push(String(message));
    });
    jest.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined);
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  function storeFor(jwks: CfAccessJwksOptions = {}, teamDomain = server.teamDomain): CfAccessKeyStore {
    return new CfAccessKeyStore(
      resolveCfAccessOptions({ teamDomain, audience: server.audience, jwks: { ...FAST, ...jwks } }),
    );
  }

  /** Publishes `spare` as the new current key; the previous current key stays published, as Cloudflare does. */
  function rotate(): TestKey {
    server.published = [...server.published.slice(-1), spare];
    return spare;
  }

  /** Stops `Date.now()` (the store's clock) so boundaries are exact; fetch and timers keep real time. */
  function freezeClock(): void {
    frozenNow = Date.now();
    jest.spyOn(Date, 'now').mockImplementation(() => frozenNow ?? Number.NaN);
  }

  /** Moves the frozen `Date.now()` forward by `ms` without waiting. */
  function advanceClock(ms: number): void {
    if (frozenNow === undefined) {
      throw new Error('call freezeClock() first');
    }
    frozenNow += ms;
  }

  /** Whether `key` verifies a token signed by `signer`: proves the store returned the right key. */
  async function verifies(key: CryptoKey, signer: TestKey): Promise<boolean> {
    const token = await server.sign({}, { key: signer });
    try {
      await compactVerify(token, key, { algorithms: ['RS256'] });
      return true;
    } catch {
      return false;
    }
  }

  describe('caching', () => {
    it('fetches the key set on first use and returns the key that verifies tokens of that kid', async () => {
      const store = storeFor();

      const key = await store.getKey(server.currentKey.kid);

      expect(server.certsRequests).toBe(1);
      expect(await verifies(key, server.currentKey)).toBe(true);
    });

    it('freshKey() answers synchronously, never fetching: the held key while fresh, otherwise undefined', async () => {
      freezeClock();
      const store = storeFor({ cacheMaxAge: 10_000 });
      const { kid } = server.currentKey;
      expect(store.freshKey(kid)).toBeUndefined(); // nothing held yet
      expect(server.certsRequests).toBe(0);

      const key = await store.getKey(kid);
      expect(store.freshKey(kid)).toBe(key);
      expect(store.freshKey('no-such-kid')).toBeUndefined();

      advanceClock(10_000); // stale: a refresh is due, which only getKey may start
      expect(store.freshKey(kid)).toBeUndefined();
      expect(server.certsRequests).toBe(1);
    });

    it('fetches once and serves every later lookup from the cache', async () => {
      const store = storeFor();
      const { kid } = server.currentKey;

      const first = await store.getKey(kid);
      for (let i = 0; i < 20; i += 1) {
        expect(await store.getKey(kid)).toBe(first);
      }

      expect(server.certsRequests).toBe(1);
    });

    it('knows the current and the previous key from one fetch', async () => {
      const store = storeFor();
      const [previous, current] = server.published;
      if (!previous || !current) {
        throw new Error('the key server publishes two keys');
      }

      expect(await verifies(await store.getKey(previous.kid), previous)).toBe(true);
      expect(await verifies(await store.getKey(current.kid), current)).toBe(true);
      expect(await verifies(await store.getKey(previous.kid), current)).toBe(false);
      expect(server.certsRequests).toBe(1);
    });

    it('shares exactly one fetch between concurrent cold lookups', async () => {
      const store = storeFor();
      const { kid } = server.currentKey;

      const keys = await Promise.all(Array.from({ length: 25 }, () => store.getKey(kid)));

      expect(server.certsRequests).toBe(1);
      expect(new Set(keys).size).toBe(1);
    });

    it('shares one fetch between concurrent cold lookups of different kids, known or not', async () => {
      const store = storeFor();
      const lookups = [
        store.getKey(server.currentKey.kid),
        store.getKey('no-such-kid'),
        store.getKey(server.currentKey.kid),
      ];

      const results = await Promise.allSettled(lookups);

      expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(server.certsRequests).toBe(1);
    });

    it('refreshes keys past cacheMaxAge on the next lookup', async () => {
      freezeClock();
      const store = storeFor({ cacheMaxAge: 10_000 });
      const { kid } = server.currentKey;
      await store.getKey(kid);

      advanceClock(9_999);
      await store.getKey(kid);
      expect(server.certsRequests).toBe(1);

      advanceClock(1);
      await store.getKey(kid);
      expect(server.certsRequests).toBe(2);
    });

    it('drops a key that is no longer published when it refreshes keys past cacheMaxAge', async () => {
      freezeClock();
      const store = storeFor({ cacheMaxAge: 10_000 });
      const oldest = server.published[0];
      if (!oldest) {
        throw new Error('the key server publishes two keys');
      }
      await store.getKey(oldest.kid);
      rotate(); // `oldest` is no longer published

      advanceClock(10_000);
      await expectUnknownKid(store.getKey(oldest.kid));

      expect(server.certsRequests).toBe(2);
    });
  });

  describe('unknown kid', () => {
    it('refreshes once and finds a key rotated in since the last fetch', async () => {
      const store = storeFor({ cooldown: 50 });
      await store.getKey(server.currentKey.kid);
      const rotated = rotate();
      await sleep(60);

      const key = await store.getKey(rotated.kid);

      expect(server.certsRequests).toBe(2);
      expect(await verifies(key, rotated)).toBe(true);
    });

    it('shares one refresh between concurrent lookups of a new kid', async () => {
      const store = storeFor({ cooldown: 50 });
      await store.getKey(server.currentKey.kid);
      const rotated = rotate();
      await sleep(60);

      const keys = await Promise.all(Array.from({ length: 10 }, () => store.getKey(rotated.kid)));

      expect(server.certsRequests).toBe(2);
      expect(new Set(keys).size).toBe(1);
    });

    it('is refused with 401 unknown_kid and no fetch inside the cooldown', async () => {
      const store = storeFor({ cooldown: 60_000 });
      await store.getKey(server.currentKey.kid);
      const rotated = rotate();

      await expectUnknownKid(store.getKey(rotated.kid));
      await expectUnknownKid(store.getKey('no-such-kid'));
      await expectUnknownKid(store.getKey('another-kid'));

      expect(server.certsRequests).toBe(1);
    });

    it('may cause a new fetch once the cooldown has passed', async () => {
      const store = storeFor({ cooldown: 200 });
      await store.getKey(server.currentKey.kid);
      const rotated = rotate();

      await expectUnknownKid(store.getKey(rotated.kid));
      expect(server.certsRequests).toBe(1);

      await sleep(220);
      expect(await verifies(await store.getKey(rotated.kid), rotated)).toBe(true);
      expect(server.certsRequests).toBe(2);
    });

    it('counts the cooldown from the last fetch of any cause, not only unknown-kid refreshes', async () => {
      freezeClock();
      const store = storeFor({ cooldown: 30_000, cacheMaxAge: 10_000 });
      await store.getKey(server.currentKey.kid);
      advanceClock(30_000);
      await store.getKey(server.currentKey.kid); // stale keys: refreshed
      expect(server.certsRequests).toBe(2);

      advanceClock(29_999);
      await expectUnknownKid(store.getKey('no-such-kid'));
      expect(server.certsRequests).toBe(2);
    });

    it('is refused with unknown_kid when the refresh does not bring it', async () => {
      const store = storeFor({ cooldown: 50 });
      await store.getKey(server.currentKey.kid);
      await sleep(60);

      await expectUnknownKid(store.getKey('no-such-kid'));
      await expectUnknownKid(store.getKey('no-such-kid'));

      expect(server.certsRequests).toBe(2);
    });

    it('keeps serving known keys after an unknown-kid refresh', async () => {
      const store = storeFor({ cooldown: 50 });
      const known = server.currentKey;
      await store.getKey(known.kid);
      await sleep(60);
      await expectUnknownKid(store.getKey('no-such-kid'));

      expect(await verifies(await store.getKey(known.kid), known)).toBe(true);
      expect(server.certsRequests).toBe(2);
    });
  });

  describe('while the key endpoint fails after a warm-up', () => {
    it.each(FAILURE_MODES)('keeps returning known keys past cacheMaxAge (%s)', async (mode) => {
      const store = storeFor({ cacheMaxAge: 50, cooldown: 50 });
      const known = server.currentKey;
      await store.getKey(known.kid);
      server.mode = mode;
      await sleep(60);

      const key = await store.getKey(known.kid);

      expect(server.certsRequests).toBe(2); // a refresh was tried and failed
      expect(await verifies(key, known)).toBe(true);
      expect(warnings.some((warning) => warning.includes('Could not fetch signing keys'))).toBe(true);
    });

    it('keeps returning known keys when the server is gone', async () => {
      const own = await TestKeyServer.start();
      try {
        const store = storeFor({ cacheMaxAge: 50, cooldown: 50 }, own.teamDomain);
        const known = own.currentKey;
        await store.getKey(known.kid);
        await own.close();
        await sleep(60);

        const key = await store.getKey(known.kid);

        expect(await verifies(key, known)).toBe(true);
        expect(warnings.some((warning) => warning.includes('Could not fetch signing keys'))).toBe(true);
      } finally {
        await own.close().catch(() => undefined);
      }
    });

    it.each(FAILURE_MODES)('refuses an unknown kid with 401 unknown_kid, not 503 (%s)', async (mode) => {
      const store = storeFor({ cooldown: 50 });
      await store.getKey(server.currentKey.kid);
      server.mode = mode;
      await sleep(60);

      await expectUnknownKid(store.getKey('no-such-kid'));

      expect(server.certsRequests).toBe(2);
    });

    it('refuses an unknown kid with 401 unknown_kid when the server is gone', async () => {
      const own = await TestKeyServer.start();
      try {
        const store = storeFor({ cooldown: 50 }, own.teamDomain);
        await store.getKey(own.currentKey.kid);
        await own.close();
        await sleep(60);

        await expectUnknownKid(store.getKey('no-such-kid'));
      } finally {
        await own.close().catch(() => undefined);
      }
    });

    it('does not retry a failed refresh inside the cooldown while keys are known', async () => {
      freezeClock();
      const store = storeFor({ cacheMaxAge: 10_000, cooldown: 30_000 });
      const { kid } = server.currentKey;
      await store.getKey(kid);
      server.mode = 'http-500';

      advanceClock(30_000);
      await store.getKey(kid);
      expect(server.certsRequests).toBe(2);

      advanceClock(COLD_RETRY_MS);
      await store.getKey(kid);
      await expectUnknownKid(store.getKey('no-such-kid'));
      expect(server.certsRequests).toBe(2);

      advanceClock(30_000);
      await store.getKey(kid);
      expect(server.certsRequests).toBe(3);
    });

    it('serves stale keys up to cacheMaxAge + staleIfError, then answers 503', async () => {
      freezeClock();
      const store = storeFor({ cacheMaxAge: 10_000, staleIfError: 50_000, cooldown: 100 });
      const known = server.currentKey;
      await store.getKey(known.kid);
      server.mode = 'http-500';

      advanceClock(59_999);
      expect(await verifies(await store.getKey(known.kid), known)).toBe(true);
      expect(server.certsRequests).toBe(2);

      advanceClock(1);
      await expectUnavailable(store.getKey(known.kid));
    });

    it('answers 503 rather than unknown_kid once the known keys are too old', async () => {
      freezeClock();
      const store = storeFor({ cacheMaxAge: 10_000, staleIfError: 10_000, cooldown: 100 });
      await store.getKey(server.currentKey.kid);
      server.mode = 'http-500';

      advanceClock(20_000);

      await expectUnavailable(store.getKey('no-such-kid'));
    });

    it('recovers with fresh keys when the endpoint comes back after staleIfError ran out', async () => {
      freezeClock();
      const store = storeFor({ cacheMaxAge: 10_000, staleIfError: 10_000, cooldown: 100 });
      await store.getKey(server.currentKey.kid);
      server.mode = 'http-500';
      advanceClock(20_000);
      await expectUnavailable(store.getKey(server.currentKey.kid));

      server.mode = 'ok';
      const rotated = rotate();
      advanceClock(COLD_RETRY_MS);

      expect(await verifies(await store.getKey(rotated.kid), rotated)).toBe(true);
    });
  });

  describe('while no key is known (cold)', () => {
    it('answers 503 keys_unavailable when the endpoint refuses connections', async () => {
      const store = storeFor({}, await unreachableTeamDomain());

      await expectUnavailable(store.getKey('any-kid'));
      expect(warnings.some((warning) => warning.includes('Could not fetch signing keys'))).toBe(true);
    });

    it.each(['http-500', 'bad-json'] as const)(
      'answers 503 keys_unavailable when the endpoint fails (%s)',
      async (mode) => {
        server.mode = mode;
        const store = storeFor();

        await expectUnavailable(store.getKey(server.currentKey.kid));
        expect(server.certsRequests).toBe(1);
      },
    );

    it('abandons a hanging fetch after jwks.timeout and answers 503', async () => {
      server.mode = 'hang';
      const store = storeFor({ timeout: 200 });
      const started = performance.now();

      await expectUnavailable(store.getKey(server.currentKey.kid));

      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(150); // it did wait for the server...
      expect(elapsed).toBeLessThan(5_000); // ...but ended by the configured timeout, not the 5 s default
      expect(warnings.some((warning) => warning.includes('TimeoutError'))).toBe(true);
    });

    it('answers every concurrent cold lookup with 503 after one failed fetch', async () => {
      server.mode = 'http-500';
      const store = storeFor();

      const results = await Promise.allSettled(Array.from({ length: 5 }, () => store.getKey(server.currentKey.kid)));

      expect(server.certsRequests).toBe(1);
      for (const result of results) {
        expect(result.status).toBe('rejected');
        expect((result as PromiseRejectedResult).reason).toBeInstanceOf(CfAccessUnavailableException);
      }
    });

    it('retries a cold failure after COLD_RETRY_MS (~1 s), not after the full cooldown', async () => {
      freezeClock();
      server.mode = 'http-500';
      const store = storeFor({ cooldown: 60_000 });
      const { kid } = server.currentKey;
      await expectUnavailable(store.getKey(kid));
      expect(server.certsRequests).toBe(1);

      advanceClock(COLD_RETRY_MS - 1);
      await expectUnavailable(store.getKey(kid));
      expect(server.certsRequests).toBe(1);

      server.mode = 'ok';
      advanceClock(1);
      expect(await verifies(await store.getKey(kid), server.currentKey)).toBe(true);
      expect(server.certsRequests).toBe(2);
    });

    it('retries a cold failure after the cooldown when the cooldown is shorter than COLD_RETRY_MS', async () => {
      server.mode = 'http-500';
      const store = storeFor({ cooldown: 50 });
      await expectUnavailable(store.getKey(server.currentKey.kid));

      server.mode = 'ok';
      await sleep(60);

      expect(await verifies(await store.getKey(server.currentKey.kid), server.currentKey)).toBe(true);
      expect(server.certsRequests).toBe(2);
    });

    it('applies the full cooldown again once keys are known', async () => {
      freezeClock();
      server.mode = 'http-500';
      const store = storeFor({ cooldown: 60_000 });
      await expectUnavailable(store.getKey(server.currentKey.kid));
      server.mode = 'ok';
      advanceClock(COLD_RETRY_MS);
      await store.getKey(server.currentKey.kid);
      expect(server.certsRequests).toBe(2);

      advanceClock(COLD_RETRY_MS);
      await expectUnknownKid(store.getKey('no-such-kid'));

      expect(server.certsRequests).toBe(2);
    });
  });

  describe('refresh()', () => {
    it('never rejects, even when the endpoint is unreachable', async () => {
      const store = storeFor({}, await unreachableTeamDomain());

      await expect(store.refresh()).resolves.toBeUndefined();
    });

    it('returns the fetch already under way instead of starting another', async () => {
      const store = storeFor();

      const first = store.refresh();
      const second = store.refresh();
      await Promise.all([first, second]);

      expect(second).toBe(first);
      expect(server.certsRequests).toBe(1);
    });
  });

  describe('key set contents', () => {
    let good: TestKey;

    beforeEach(() => {
      good = spare;
    });

    it('skips keys without kid, non-RSA, non-RS256, non-signing or of 1024 bits, and keeps good ones', async () => {
      const { publicKey: ecPublic } = await generateKeyPair('ES256', { extractable: true });
      // jose (and so createTestKey) refuses to generate RSA keys under 2048 bits: use node:crypto.
      const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }) as JWK;
      server.published = [
        entry('', without(good.publicJwk, 'kid'), good),
        entry('ec-kid', { ...(await exportJWK(ecPublic)), kid: 'ec-kid', alg: 'ES256', use: 'sig' }, good),
        entry('rs512-kid', { ...good.publicJwk, kid: 'rs512-kid', alg: 'RS512' }, good),
        entry('enc-kid', { ...good.publicJwk, kid: 'enc-kid', use: 'enc' }, good),
        entry('weak-kid', { ...weak, kid: 'weak-kid', alg: 'RS256', use: 'sig' }, good),
        good,
      ];
      const store = storeFor({ cooldown: 60_000 });

      expect(await verifies(await store.getKey(good.kid), good)).toBe(true);
      for (const kid of ['ec-kid', 'rs512-kid', 'enc-kid', 'weak-kid']) {
        await expectUnknownKid(store.getKey(kid));
      }

      expect(server.certsRequests).toBe(1);
      expect(warnings).toHaveLength(1);
      expect(warnings).toEqual(
        expect.arrayContaining([
          expect.stringContaining('a key without kid'),
          expect.stringContaining('kid "ec-kid"'),
          expect.stringContaining('kid "rs512-kid"'),
          expect.stringContaining('kid "enc-kid"'),
          expect.stringContaining('kid "weak-kid": its modulus has only 1024 bits'),
        ]),
      );
    });

    it('accepts a key that does not state alg or use', async () => {
      server.published = [entry(good.kid, without(good.publicJwk, 'alg', 'use'), good)];

      expect(await verifies(await storeFor().getKey(good.kid), good)).toBe(true);
    });

    it('skips a key whose parameters cannot be imported and keeps the good ones', async () => {
      server.published = [entry('broken-kid', { kty: 'RSA', kid: 'broken-kid', n: 'AQAB' }, good), good];
      const store = storeFor({ cooldown: 60_000 });

      expect(await verifies(await store.getKey(good.kid), good)).toBe(true);
      await expectUnknownKid(store.getKey('broken-kid'));
    });

    it('never writes key material to its logs', async () => {
      server.published = [entry('enc-kid', { ...good.publicJwk, kid: 'enc-kid', use: 'enc' }, good), good];

      await storeFor().getKey(good.kid);

      expect(warnings.length).toBeGreaterThan(0);
      expect(warnings.join('\n')).not.toContain(String(good.publicJwk.n).slice(0, 32));
    });

    it('counts a cold key set with no usable key as a failure (503)', async () => {
      server.published = [entry('', without(good.publicJwk, 'kid'), good)];

      await expectUnavailable(storeFor().getKey(good.kid));
      expect(warnings.some((warning) => warning.includes('no usable RS256 key'))).toBe(true);
    });

    it('keeps the previous keys when a refresh brings no usable key', async () => {
      const store = storeFor({ cacheMaxAge: 50, cooldown: 50 });
      const known = server.currentKey;
      await store.getKey(known.kid);
      server.published = [entry('ec-kid', { kty: 'EC', kid: 'ec-kid' }, good)];
      await sleep(60);

      const key = await store.getKey(known.kid);

      expect(server.certsRequests).toBe(2);
      expect(await verifies(key, known)).toBe(true);
    });

    it('treats a key set without usable keys as a failure for the cooldown as well', async () => {
      freezeClock();
      const store = storeFor({ cooldown: 30_000 });
      const known = server.currentKey;
      await store.getKey(known.kid);
      server.published = [entry('', without(good.publicJwk, 'kid'), good)];

      advanceClock(30_000);
      await expectUnknownKid(store.getKey('no-such-kid'));
      expect(server.certsRequests).toBe(2);

      advanceClock(COLD_RETRY_MS);
      await expectUnknownKid(store.getKey('no-such-kid'));
      expect(server.certsRequests).toBe(2);
      expect(await verifies(await store.getKey(known.kid), known)).toBe(true);
    });

    it('skips a key whose key_ops do not include "verify" (RFC 7517 §4.3), and accepts one whose do', async () => {
      server.published = [
        entry('encrypt-kid', { ...good.publicJwk, kid: 'encrypt-kid', key_ops: ['encrypt'] }, good),
        entry('string-ops-kid', { ...good.publicJwk, kid: 'string-ops-kid', key_ops: 'verify' as unknown as string[] }, good),
        entry(good.kid, { ...good.publicJwk, key_ops: ['verify'] }, good),
      ];
      const store = storeFor({ cooldown: 60_000 });

      expect(await verifies(await store.getKey(good.kid), good)).toBe(true);
      await expectUnknownKid(store.getKey('encrypt-kid'));
      await expectUnknownKid(store.getKey('string-ops-kid'));
      expect(warnings).toEqual([expect.stringMatching(/kid "encrypt-kid": its key_ops do not include "verify".*kid "string-ops-kid"/)]);
    });

    it('makes a kid published twice unusable (which key signed is ambiguous) and says so', async () => {
      const other = server.currentKey;
      server.published = [good, entry(good.kid, { ...other.publicJwk, kid: good.kid }, other), other];
      const store = storeFor({ cooldown: 60_000 });

      await expectUnknownKid(store.getKey(good.kid));
      expect(await verifies(await store.getKey(other.kid), other)).toBe(true);
      expect(warnings).toEqual([expect.stringContaining(`kid "${good.kid}": it is published more than once`)]);
    });

    it(`takes at most MAX_KEYS_PER_RESPONSE (${MAX_KEYS_PER_RESPONSE}) keys from one response`, async () => {
      const filler = (count: number) =>
        Array.from({ length: count }, (_, i) => entry(`filler-${i}`, { ...spare.publicJwk, kid: `filler-${i}` }, spare));
      server.published = [...filler(MAX_KEYS_PER_RESPONSE - 1), good, entry('late-kid', { ...good.publicJwk, kid: 'late-kid' }, good)];
      const store = storeFor({ cooldown: 60_000 });

      expect(await verifies(await store.getKey(good.kid), good)).toBe(true);
      await expectUnknownKid(store.getKey('late-kid'));
      expect(store.status().keys).toBe(MAX_KEYS_PER_RESPONSE);
      expect(warnings).toEqual([expect.stringContaining('1 entries past the first 64')]);
    });

    it('logs the skipped keys of one fetch as one summary line, however many there are', async () => {
      const bad = Array.from({ length: 1_000 }, (_, i) => entry(`enc-${i}`, { ...spare.publicJwk, kid: `enc-${i}`, use: 'enc' }, spare));
      server.published = [good, ...bad];
      const store = storeFor({ cacheMaxAge: 1, cooldown: 1 });

      await store.getKey(good.kid);
      await sleep(5);
      await store.getKey(good.kid);

      expect(server.certsRequests).toBe(2);
      expect(warnings).toHaveLength(2);
      expect(warnings[0]).toContain(`${1_000 - MAX_KEYS_PER_RESPONSE + 1} entries past the first 64`);
      expect(warnings[0]).toMatch(/; and 59 more$/);
    });

    it('keeps the key object of an unchanged key across refreshes, and replaces a kid republished with other material', async () => {
      const other = server.currentKey;
      server.published = [good];
      freezeClock();
      const store = storeFor({ cacheMaxAge: 1_000, cooldown: 1_000 });
      const first = await store.getKey(good.kid);
      advanceClock(1_000); // stale, and the cooldown is over: the next lookup refetches
      expect(await store.getKey(good.kid)).toBe(first);
      expect(server.certsRequests).toBe(2);
      expect(store.isFreshKey(good.kid, first)).toBe(true);

      server.published = [entry(good.kid, { ...other.publicJwk, kid: good.kid }, other)];
      advanceClock(1_000);
      const republished = await store.getKey(good.kid);

      expect(server.certsRequests).toBe(3);
      expect(republished).not.toBe(first);
      expect(await verifies(republished, other)).toBe(true);
      expect(store.isFreshKey(good.kid, first)).toBe(false);
      expect(store.isFreshKey(good.kid, republished)).toBe(true);
    });
  });
});
