import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { COLD_RETRY_MS } from '../../src/cf-access.constants.js';
import { CfAccessKeyStore } from '../../src/index.js';
import { ADAPTERS, type AdapterName, type RunningApp } from '../support/start-app.js';
import { jwt, startGuardedApp, watchCertsFetches } from './support/fault-app.js';
import { CERTS_FAULTS, type CertsFault, FaultKeyServer, sleep } from './support/fault-key-server.js';

/** `jwks.timeout` of every app here; the slow faults answer only after `SLOW_DELAY`. */
const TIMEOUT = 200;
const SLOW_DELAY = 3_000;

/** What the key store reports as its last error, per fault. */
const LAST_ERROR: Record<CertsFault, RegExp> = {
  slow: /TimeoutError/,
  'slow-body': /TimeoutError/,
  stall: /TimeoutError/,
  drip: /TimeoutError/,
  endless: /the body exceeds 1048576 bytes/,
  oversized: /the body exceeds 1048576 bytes/,
  'http-500': /HTTP 500/,
  'bad-json': /SyntaxError/,
  'keys-without-kid': /no usable RS256 key/,
  'no-usable-key': /no usable RS256 key/,
  reset: /fetch failed/,
  down: /fetch failed/,
};

describe.each(ADAPTERS)('key endpoint faults before any key is known (%s)', (adapter: AdapterName) => {
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
    '%s: 503 keys_unavailable within the request, no retry inside COLD_RETRY_MS, recovery without restart',
    async (fault) => {
      await keys.fail(fault);
      // Default cooldown (30 s): while cold, retries are paced by COLD_RETRY_MS instead.
      app = await startGuardedApp(adapter, { teamDomain: keys.teamDomain, audience: keys.audience, jwks: { timeout: TIMEOUT } });
      const store = app.app.get(CfAccessKeyStore);
      const token = await keys.sign();

      const started = Date.now();
      const first = await app.get('/email', jwt(token));
      const took = Date.now() - started;
      expect(first.body).toEqual({
        statusCode: 503,
        error: 'Service Unavailable',
        message: expect.any(String),
        reason: 'keys_unavailable',
      });
      expect(first.status).toBe(503);
      expect(first.text).not.toContain(token);
      // Answered within the request, long before a slow endpoint would have answered.
      expect(took).toBeLessThan(SLOW_DELAY - 1_000);
      expect(fetches.count).toBe(1);
      expect(keys.certsRequests).toBe(fault === 'down' ? 0 : 1);
      expect(store.status()).toMatchObject({ keys: 0, usable: false, lastError: expect.stringMatching(LAST_ERROR[fault]) });

      // Inside the cold-retry window: another token, and a random kid, are 503 without a fetch.
      expect(await app.get('/email', jwt(await keys.sign()))).toMatchObject({ status: 503, body: { reason: 'keys_unavailable' } });
      expect(await app.get('/email', jwt(await keys.sign({}, { kid: randomUUID() })))).toMatchObject({
        status: 503,
        body: { reason: 'keys_unavailable' },
      });
      // The endpoint comes back: still no fetch before the window is over.
      await keys.heal();
      expect(await app.get('/email', jwt(token))).toMatchObject({ status: 503, body: { reason: 'keys_unavailable' } });
      expect(fetches.count).toBe(1);

      await sleep(COLD_RETRY_MS + 100);
      expect(await app.get('/email', jwt(token))).toMatchObject({ status: 200, body: { email: 'user@example.com' } });
      expect(fetches.count).toBe(2);
      expect(store.status()).toMatchObject({ keys: 1, fresh: true, usable: true, lastError: undefined });

      // Keys are known now: the full cooldown applies, an unknown kid is 401 without a fetch.
      expect(await app.get('/email', jwt(await keys.sign({}, { kid: randomUUID() })))).toMatchObject({
        status: 401,
        body: { reason: 'unknown_kid' },
      });
      expect(await app.get('/email', jwt(await keys.sign({ email: 'second@example.com' })))).toMatchObject({
        status: 200,
        body: { email: 'second@example.com' },
      });
      expect(fetches.count).toBe(2);
      expect(keys.certsRequests).toBe(fault === 'down' ? 1 : 2);
    },
  );

  it('retries again after each COLD_RETRY_MS while the endpoint keeps failing (one fetch per window)', async () => {
    await keys.fail('http-500');
    app = await startGuardedApp(adapter, { teamDomain: keys.teamDomain, audience: keys.audience, jwks: { timeout: TIMEOUT } });
    const token = await keys.sign();
    for (let round = 1; round <= 2; round += 1) {
      for (let i = 0; i < 3; i += 1) {
        expect(await app.get('/email', jwt(token))).toMatchObject({ status: 503, body: { reason: 'keys_unavailable' } });
      }
      expect(keys.certsRequests).toBe(round);
      await sleep(COLD_RETRY_MS + 100);
    }
    await keys.heal();
    expect(await app.get('/email', jwt(token))).toMatchObject({ status: 200 });
    expect(keys.certsRequests).toBe(3);
    expect(fetches.count).toBe(3);
  });

  it('a slow endpoint that answers within jwks.timeout is no fault', async () => {
    keys.slowDelay = 50;
    await keys.fail('slow');
    app = await startGuardedApp(adapter, { teamDomain: keys.teamDomain, audience: keys.audience, jwks: { timeout: 2_000 } });
    expect(await app.get('/email', jwt(await keys.sign()))).toMatchObject({ status: 200, body: { email: 'user@example.com' } });
    expect(keys.certsRequests).toBe(1);
  });

  it('uses the keys that have a kid when only some of the published keys lack one', async () => {
    const previous = keys.currentKey;
    const current = await keys.rotate();
    keys.servedWithoutKid.add(current.kid);
    app = await startGuardedApp(adapter, { teamDomain: keys.teamDomain, audience: keys.audience, jwks: { timeout: TIMEOUT } });
    expect(await app.get('/email', jwt(await keys.sign({}, { key: previous })))).toMatchObject({ status: 200 });
    expect(await app.get('/email', jwt(await keys.sign({}, { key: current })))).toMatchObject({
      status: 401,
      body: { reason: 'unknown_kid' },
    });
    expect(app.app.get(CfAccessKeyStore).status()).toMatchObject({ keys: 1, usable: true, lastError: undefined });
    expect(keys.certsRequests).toBe(1);
  });
});
