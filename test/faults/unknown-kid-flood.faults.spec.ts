import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { COLD_RETRY_MS } from '../../src/cf-access.constants.js';
import { CfAccessKeyStore } from '../../src/index.js';
import { ADAPTERS, type AdapterName, type RunningApp } from '../support/start-app.js';
import { jwt, smallestGap, startGuardedApp, watchCertsFetches } from './support/fault-app.js';
import { type CertsFault, FaultKeyServer, mapLimit, sleep } from './support/fault-key-server.js';

const FLOOD = 1_000;
const CONCURRENCY = 20;
const COOLDOWN = 2_000;
/** Slack between the library's fetch start and the moment the spy records it. */
const CLOCK_SLACK = 25;

/** How many windows of `window` ms a burst that took `took` ms can touch: the most fetches it may cause. */
const windows = (took: number, window: number) => 1 + Math.floor(took / window);

describe.each(ADAPTERS)('unknown-kid flood (%s)', (adapter: AdapterName) => {
  let keys: FaultKeyServer;
  /** Tokens signed by the team's current key, each naming a random kid: two floods' worth. */
  let randomKidTokens: string[];
  let app: RunningApp | undefined;
  let fetches: ReturnType<typeof watchCertsFetches> | undefined;

  beforeAll(async () => {
    keys = await FaultKeyServer.start();
    randomKidTokens = await mapLimit(Array.from({ length: 2 * FLOOD }), CONCURRENCY, () =>
      keys.sign({}, { kid: randomUUID() }),
    );
    expect(new Set(randomKidTokens.map((token) => JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString()) as { kid: string })).size).toBe(
      2 * FLOOD,
    );
  });

  afterEach(async () => {
    fetches?.restore();
    fetches = undefined;
    await app?.close();
    app = undefined;
    await keys.heal();
  });

  afterAll(async () => {
    await keys.close();
  });

  /** Sends `tokens` to GET /email, CONCURRENCY at a time; resolves the statuses and reasons, and how long it took. */
  async function flood(tokens: readonly string[]) {
    const started = Date.now();
    const results = await mapLimit(tokens, CONCURRENCY, async (token) => {
      const { status, body } = await (app as RunningApp).get('/email', jwt(token));
      return `${status} ${(body as { reason?: string }).reason ?? (body as { email?: string }).email}`;
    });
    return { results, took: Date.now() - started };
  }

  const tally = (results: string[]) => results.reduce<Record<string, number>>((counts, r) => ({ ...counts, [r]: (counts[r] ?? 0) + 1 }), {});

  it('warm: 1,000 random kids are all 401 unknown_kid with at most one fetch per cooldown; the real key keeps working', async () => {
    fetches = watchCertsFetches();
    app = await startGuardedApp(adapter, { teamDomain: keys.teamDomain, audience: keys.audience, jwks: { cooldown: COOLDOWN } });
    const genuine = await keys.sign();
    expect(await app.get('/email', jwt(genuine))).toMatchObject({ status: 200 });
    const before = keys.certsRequests;
    expect(fetches.count).toBe(1);
    await sleep(COOLDOWN + 100); // the cooldown is over: the flood may cause one refresh

    // Burst 1, with a genuine request every 50th.
    const burst1 = randomKidTokens.slice(0, FLOOD).flatMap((token, i) => (i % 50 === 0 ? [genuine, token] : [token]));
    const first = await flood(burst1);
    expect(tally(first.results)).toEqual({ '401 unknown_kid': FLOOD, '200 user@example.com': FLOOD / 50 });
    const afterFirst = keys.certsRequests - before;
    expect(afterFirst).toBeGreaterThanOrEqual(1); // the first unknown kid after the cooldown may refresh
    expect(afterFirst).toBeLessThanOrEqual(windows(first.took, COOLDOWN));
    if (first.took < COOLDOWN) {
      expect(afterFirst).toBe(1);
    }

    // Burst 2, once the cooldown has passed again: at most one more fetch (per cooldown).
    await sleep(COOLDOWN + 100);
    const second = await flood(randomKidTokens.slice(FLOOD));
    expect(tally(second.results)).toEqual({ '401 unknown_kid': FLOOD });
    const afterSecond = keys.certsRequests - before - afterFirst;
    expect(afterSecond).toBeGreaterThanOrEqual(1);
    expect(afterSecond).toBeLessThanOrEqual(windows(second.took, COOLDOWN));
    if (second.took < COOLDOWN) {
      expect(afterSecond).toBe(1);
    }

    expect(fetches.count).toBe(keys.certsRequests - before + 1);
    expect(smallestGap(fetches.times)).toBeGreaterThanOrEqual(COOLDOWN - CLOCK_SLACK);
    // Unknown kids are never remembered: the store holds the published key only.
    expect(app.app.get(CfAccessKeyStore).status()).toMatchObject({ keys: 1, fresh: true });
    expect(await app.get('/email', jwt(genuine))).toMatchObject({ status: 200 });
  });

  it.each<CertsFault>(['down', 'http-500', 'slow'])(
    'cold, endpoint %s: 1,000 random kids are all 503 keys_unavailable with at most one fetch per COLD_RETRY_MS; then 401 once it is back',
    async (fault) => {
      keys.slowDelay = 3_000;
      await keys.fail(fault);
      fetches = watchCertsFetches();
      // Default cooldown (30 s): cold retries are paced by COLD_RETRY_MS.
      app = await startGuardedApp(adapter, { teamDomain: keys.teamDomain, audience: keys.audience, jwks: { timeout: 200 } });

      const cold = await flood(randomKidTokens.slice(0, FLOOD));
      expect(tally(cold.results)).toEqual({ '503 keys_unavailable': FLOOD });
      expect(fetches.count).toBeGreaterThanOrEqual(1);
      expect(fetches.count).toBeLessThanOrEqual(windows(cold.took, COLD_RETRY_MS));
      if (cold.took < COLD_RETRY_MS) {
        expect(fetches.count).toBe(1);
      }
      expect(smallestGap(fetches.times)).toBeGreaterThanOrEqual(COLD_RETRY_MS - CLOCK_SLACK);
      const coldFetches = fetches.count;

      // The endpoint comes back: after the retry window, one fetch loads the keys; unknown kids are 401.
      await keys.heal();
      await sleep(COLD_RETRY_MS + 100);
      const genuine = await keys.sign();
      const warm = await flood([genuine, ...randomKidTokens.slice(FLOOD, FLOOD + 200)]);
      expect(tally(warm.results)).toEqual({ '200 user@example.com': 1, '401 unknown_kid': 200 });
      expect(fetches.count).toBe(coldFetches + 1);
      expect(app.app.get(CfAccessKeyStore).status()).toMatchObject({ keys: 1, usable: true, lastError: undefined });
    },
  );
});
