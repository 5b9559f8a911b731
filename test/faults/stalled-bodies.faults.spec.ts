import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { MAX_CERTS_BODY_BYTES } from '../../src/cf-access.constants.js';
import { CfAccessKeyStore } from '../../src/index.js';
import { collectGarbageContinuously } from '../support/gc.js';
import { ADAPTERS, type AdapterName, type RunningApp, sleep } from '../support/start-app.js';
import { jwt, startGuardedApp } from './support/fault-app.js';
import { FaultKeyServer, type IdentityFault } from './support/fault-key-server.js';

/** `jwks.timeout` and `identity.timeout` of every app here. */
const TIMEOUT = 1_000;
/**
 * What "at the timeout" allows for scheduling: a full GC every 20 ms, on 2 cores shared with other
 * suites. Without a deadline over the body these requests never get an answer at all.
 */
const SLACK = 2_500;

/**
 * Endpoints that send their headers and then stall or drip: the deadline must cover the body too.
 * A full GC runs every 20 ms throughout, since on Node 20 a collected `AbortSignal.timeout()` left
 * such fetches hanging (nodejs/undici#4627).
 */
describe.each(ADAPTERS)('bodies that stall, drip or never end (%s, with GC running)', (adapter: AdapterName) => {
  let keys: FaultKeyServer;
  let app: RunningApp | undefined;
  let stopGc: () => void;

  beforeAll(() => {
    stopGc = collectGarbageContinuously();
  });

  afterAll(() => stopGc());

  beforeEach(async () => {
    keys = await FaultKeyServer.start();
  });

  afterEach(async () => {
    await app?.close();
    app = undefined;
    await keys.close();
  });

  const start = (timeout = TIMEOUT) =>
    startGuardedApp(adapter, {
      teamDomain: keys.teamDomain,
      audience: keys.audience,
      jwks: { timeout },
      identity: { timeout },
    });

  /** GETs `path` with a fresh token and resolves the answer and how long it took (ms). */
  async function timedGet(path: string) {
    const token = await keys.sign();
    const started = Date.now();
    const response = await app!.get(path, jwt(token));
    return { ...response, took: Date.now() - started };
  }

  it.each(['stall', 'drip'] as const)('certs that %s after the headers: 503 keys_unavailable at jwks.timeout', async (fault) => {
    await keys.fail(fault);
    app = await start();
    const { status, body, took } = await timedGet('/email');
    expect(status).toBe(503);
    expect(body).toMatchObject({ reason: 'keys_unavailable' });
    expect(took).toBeGreaterThanOrEqual(TIMEOUT - 50);
    expect(took).toBeLessThan(TIMEOUT + SLACK);
  });

  it('an endless certs body: reading stops at the 1 MiB cap (a failed fetch, not a timeout)', async () => {
    await keys.fail('endless');
    // A deadline far beyond the ~15 ms the cap takes, so a loaded machine cannot make the timeout win.
    app = await start(10 * TIMEOUT);
    const { status, body } = await timedGet('/email');
    expect(status).toBe(503);
    expect(body).toMatchObject({ reason: 'keys_unavailable' });
    expect(app.app.get(CfAccessKeyStore).status().lastError).toBe(`RangeError: the body exceeds ${MAX_CERTS_BODY_BYTES} bytes`);
    for (let waited = 0; keys.endlessBytes.length === 0 && waited < 2_000; waited += 50) {
      await sleep(50); // until the server side of the connection sees the hang-up
    }
    expect(keys.endlessBytes).toHaveLength(1);
    // The cap, plus what loopback socket buffers took in before the client hung up.
    expect(keys.endlessBytes[0]).toBeGreaterThan(MAX_CERTS_BODY_BYTES);
    expect(keys.endlessBytes[0]).toBeLessThan(16 * MAX_CERTS_BODY_BYTES);
  });

  it.each<IdentityFault>(['stall', 'drip', 'oversized'])(
    'get-identity that sends a %s body: 503 identity_unavailable within identity.timeout',
    async (fault) => {
      app = await start();
      expect(await timedGet('/email')).toMatchObject({ status: 200 }); // keys fetched before the fault
      keys.identityFault = fault;
      const { status, body, took } = await timedGet('/full');
      expect(status).toBe(503);
      expect(body).toMatchObject({ reason: 'identity_unavailable' });
      expect(took).toBeLessThan(TIMEOUT + SLACK);
      keys.identityFault = undefined;
      expect(await timedGet('/full')).toMatchObject({ status: 200, body: { groups: [] } });
    },
  );
});
