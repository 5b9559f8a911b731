import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { CfAccessKeyStore } from '../../src/index.js';
import { createTestKey } from '../support/key-server.js';
import { ADAPTERS, type AdapterName, type RunningApp } from '../support/start-app.js';
import { jwt, startGuardedApp, watchCertsFetches } from './support/fault-app.js';
import { CERTS_FAULTS, FaultKeyServer, sleep } from './support/fault-key-server.js';

const TIMEOUT = 200;
const SLOW_DELAY = 3_000;
const CACHE_MAX_AGE = 100;
const COOLDOWN = 500;
/** A wait after which the keys are past `cacheMaxAge` and the cooldown is over. */
const PAST_COOLDOWN = COOLDOWN + 100;

describe.each(ADAPTERS)('key endpoint faults after warm-up (%s)', (adapter: AdapterName) => {
  let keys: FaultKeyServer;
  let app: RunningApp | undefined;
  let fetches: ReturnType<typeof watchCertsFetches>;

  beforeEach(async () => {
    keys = await FaultKeyServer.start();
    keys.slowDelay = SLOW_DELAY;
    fetches = watchCertsFetches();
  });

  afterEach(async () => {
    fetches.restore();
    await app?.close();
    app = undefined;
    await keys.close();
  });

  it.each(CERTS_FAULTS)(
    '%s: cached keys keep working (200), a new kid is 401 unknown_kid (never 503), recovery without restart',
    async (fault) => {
      app = await startGuardedApp(adapter, {
        teamDomain: keys.teamDomain,
        audience: keys.audience,
        jwks: { timeout: TIMEOUT, cacheMaxAge: CACHE_MAX_AGE, cooldown: COOLDOWN },
      });
      const store = app.app.get(CfAccessKeyStore);
      const warmToken = await keys.sign();
      // Everything signed up front, so that no key generation runs inside a cooldown window.
      const other = await keys.sign({ email: 'other@example.com' });
      const randomKid = await keys.sign({}, { kid: randomUUID() });
      const nextKey = await createTestKey();
      const rotated = await keys.sign({ email: 'rotated@example.com' }, { key: nextKey });
      expect(await app.get('/email', jwt(warmToken))).toMatchObject({ status: 200, body: { email: 'user@example.com' } });
      expect(fetches.count).toBe(1);

      await keys.fail(fault);
      await sleep(PAST_COOLDOWN);
      // Keys are stale and the cooldown is over: this request tries a refresh, which fails, and is
      // answered with the cached key (within the request, long before a slow endpoint answers).
      const started = Date.now();
      expect(await app.get('/email', jwt(warmToken))).toMatchObject({ status: 200, body: { email: 'user@example.com' } });
      expect(Date.now() - started).toBeLessThan(SLOW_DELAY - 1_000);
      expect(fetches.count).toBe(2);
      expect(store.status()).toMatchObject({ keys: 1, fresh: false, usable: true, lastError: expect.any(String) });

      // A token never seen before, by the known key, inside the cooldown: verified, no fetch.
      expect(await app.get('/email', jwt(other))).toMatchObject({ status: 200, body: { email: 'other@example.com' } });
      // A key rotated in while the endpoint is failing: 401 unknown_kid, no fetch inside the cooldown.
      await keys.rotate(nextKey);
      expect(await app.get('/email', jwt(rotated))).toMatchObject({ status: 401, body: { reason: 'unknown_kid' } });
      expect(await app.get('/email', jwt(randomKid))).toMatchObject({ status: 401, body: { reason: 'unknown_kid' } });
      expect(fetches.count).toBe(2);

      // After the cooldown the new kid causes one more (failing) attempt, and is still 401, not 503.
      await sleep(PAST_COOLDOWN);
      expect(await app.get('/email', jwt(rotated))).toMatchObject({ status: 401, body: { reason: 'unknown_kid' } });
      expect(fetches.count).toBe(3);
      expect(await app.get('/email', jwt(warmToken))).toMatchObject({ status: 200 });
      expect(fetches.count).toBe(3);

      // The endpoint comes back: once the cooldown allows, the new key is fetched and both work.
      await keys.heal();
      await sleep(PAST_COOLDOWN);
      expect(await app.get('/email', jwt(rotated))).toMatchObject({ status: 200, body: { email: 'rotated@example.com' } });
      expect(fetches.count).toBe(4);
      expect(await app.get('/email', jwt(warmToken))).toMatchObject({ status: 200, body: { email: 'user@example.com' } });
      expect(fetches.count).toBe(4);
      // Not `fresh`: on a loaded machine the two requests above can outlast CACHE_MAX_AGE (100 ms).
      expect(store.status()).toMatchObject({ keys: 2, usable: true, lastError: undefined });
      expect(keys.certsRequests).toBe(fault === 'down' ? 2 : 4);
    },
  );

  it('answers 503 keys_unavailable once the cached keys outlive cacheMaxAge + staleIfError, then recovers', async () => {
    const staleIfError = 500;
    app = await startGuardedApp(adapter, {
      teamDomain: keys.teamDomain,
      audience: keys.audience,
      jwks: { timeout: TIMEOUT, cacheMaxAge: CACHE_MAX_AGE, cooldown: 200, staleIfError },
    });
    const warmedAt = Date.now();
    const token = await keys.sign();
    expect(await app.get('/email', jwt(token))).toMatchObject({ status: 200 });
    await keys.fail('down');

    await sleep(CACHE_MAX_AGE + 100);
    // Stale but usable: still 200 (a failed refresh attempt), and a new kid is 401.
    expect(await app.get('/email', jwt(token))).toMatchObject({ status: 200 });
    expect(await app.get('/email', jwt(await keys.sign({}, { kid: randomUUID() })))).toMatchObject({
      status: 401,
      body: { reason: 'unknown_kid' },
    });
    expect(fetches.count).toBe(2);

    await sleep(Math.max(0, warmedAt + CACHE_MAX_AGE + staleIfError + 150 - Date.now()));
    // No usable key any more: 503 for the known kid and for an unknown one alike.
    expect(await app.get('/email', jwt(token))).toMatchObject({ status: 503, body: { reason: 'keys_unavailable' } });
    expect(await app.get('/email', jwt(await keys.sign({}, { kid: randomUUID() })))).toMatchObject({
      status: 503,
      body: { reason: 'keys_unavailable' },
    });
    expect(fetches.count).toBe(3);
    expect(app.app.get(CfAccessKeyStore).status()).toMatchObject({ usable: false });

    await keys.heal();
    await sleep(300);
    expect(await app.get('/email', jwt(token))).toMatchObject({ status: 200 });
    expect(fetches.count).toBe(4);
    expect(keys.certsRequests).toBe(2);
  });
});
