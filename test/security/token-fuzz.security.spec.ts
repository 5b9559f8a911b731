import 'reflect-metadata';
import { Controller, Get } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Agent, request } from 'node:http';
import { CfAccessModule, CfAccessService, CfAccessUnauthorizedException, CfIdentity } from '../../src/index.js';
import { TestKeyServer } from '../support/key-server.js';
import { ADAPTERS, type AdapterName, capturedLogs, type RunningApp, startApp } from '../support/start-app.js';
import { mulberry32, rawGet } from './support/attack-kit.js';
import { type Mutant, TokenMutator } from './support/token-mutator.js';

/**
 * The mutation choices are drawn from this seed (printed in the test name), so a failing run names
 * the same sequence of operations again; the genuine tokens themselves (fresh keys, timestamps,
 * nonces) differ per run, so the exact bytes of a mutant do not repeat. Failures print the mutant.
 */
const SEED = 0x5eedcf01;
const MUTANTS = 10_000;
const CONCURRENCY = 16;

/** How many times the protected handler ran. */
let handlerRuns = 0;

@Controller()
class FuzzController {
  @Get('me')
  me(@CfIdentity('email') email: string | undefined) {
    handlerRuns += 1;
    return { email: email ?? null };
  }
}

/** Header values node:http will send as is (latin1, no control characters but HTAB). */
const SENDABLE = /^[\t\x20-\x7e\x80-\xff]*$/;

interface Outcome {
  status: number;
  reason: string | undefined;
  viaRawSocket: boolean;
}

/** GET /me with the token in Cf-Access-Jwt-Assertion, over a keep-alive connection. */
function keepAliveGet(url: URL, agent: Agent, token: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: url.hostname, port: url.port, path: '/me', headers: { 'cf-access-jwt-assertion': token } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          let reason: string | undefined;
          try {
            reason = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { reason?: string }).reason;
          } catch {
            reason = undefined;
          }
          resolve({ status: res.statusCode ?? 0, reason, viaRawSocket: false });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Every value of `items` through `worker`, `concurrency` at a time. */
async function pool<T, R>(items: readonly T[], concurrency: number, worker: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const index = next;
        next += 1;
        results[index] = await worker(items[index] as T);
      }
    }),
  );
  return results;
}

const tally = (values: readonly string[]) =>
  Object.fromEntries([...values.reduce((map, value) => map.set(value, (map.get(value) ?? 0) + 1), new Map<string, number>())].sort());

describe(`Fuzzing the verifier with ${MUTANTS} mutated genuine tokens (mulberry32 seed 0x${SEED.toString(16)})`, () => {
  let keys: TestKeyServer;
  /** One app per platform; Express is the one the issue names, Fastify runs the same mutants. */
  const apps = {} as Record<AdapterName, RunningApp>;
  let originals: string[];
  let mutants: Mutant[];
  let skipped = { identical: 0, trimmedToOriginal: 0, repeated: 0 };

  beforeAll(async () => {
    keys = await TestKeyServer.start();
    const previous = keys.currentKey;
    await keys.rotate();
    for (const adapter of ADAPTERS) {
      apps[adapter] = await startApp(adapter, {
        imports: [CfAccessModule.forRoot({ teamDomain: keys.teamDomain, audience: keys.audience, globalGuard: true })],
        controllers: [FuzzController],
      });
    }
    originals = [
      await keys.sign(),
      await keys.sign({ aud: keys.audience, email: 'ada@example.com' }),
      await keys.sign({ email: undefined, sub: '', common_name: 'abc123.access', nbf: undefined }),
      await keys.sign({ custom: { groups: ['admins'] } }, { key: previous }),
    ];
    const mutator = new TokenMutator(mulberry32(SEED), {
      teamDomain: keys.teamDomain,
      audience: keys.audience,
      kids: keys.published.map((key) => key.kid),
    });
    mutants = [];
    skipped = { identical: 0, trimmedToOriginal: 0, repeated: 0 };
    const seen = new Set<string>();
    while (mutants.length < MUTANTS) {
      const mutant = mutator.mutate(originals);
      if (originals.includes(mutant.token)) {
        skipped.identical += 1; // byte-identical to a genuine token: not an attack
      } else if (originals.includes(mutant.token.trim())) {
        skipped.trimmedToOriginal += 1; // a genuine token plus surrounding whitespace: not an attack
      } else if (seen.has(mutant.token)) {
        skipped.repeated += 1; // drawn before (short truncations, segment drops): send each mutant once
      } else {
        seen.add(mutant.token);
        mutants.push(mutant);
      }
    }
  });
  afterAll(async () => {
    await Promise.all(Object.values(apps).map((app) => app.close()));
    await keys.close();
    capturedLogs.lines.length = 0;
  });

  it.each(ADAPTERS)('the genuine originals are accepted (the fuzz starts from valid tokens) (%s)', async (adapter) => {
    handlerRuns = 0;
    for (const token of originals) {
      expect((await apps[adapter].get('/me', { 'cf-access-jwt-assertion': token })).status).toBe(200);
    }
    expect(handlerRuns).toBe(originals.length);
  });

  it(`draws ${MUTANTS} distinct-from-original mutants, skipping only a few equal to a genuine token`, () => {
    console.log(
      `fuzz seed 0x${SEED.toString(16)}: ${MUTANTS} distinct mutants; skipped ${skipped.identical} identical to a genuine token, ` +
        `${skipped.trimmedToOriginal} equal to one once trimmed; re-drew ${skipped.repeated} repeats; ` +
        `mutations ${JSON.stringify(tally(mutants.flatMap((mutant) => mutant.ops)))}`,
    );
    expect(mutants).toHaveLength(MUTANTS);
    expect(new Set(mutants.map((mutant) => mutant.token)).size).toBe(MUTANTS);
    expect(skipped.identical + skipped.trimmedToOriginal).toBeLessThan(MUTANTS / 100);
    expect(skipped.repeated).toBeLessThan(MUTANTS / 5);
  });

  it.each(ADAPTERS)(`over HTTP (%s, keep-alive, concurrency ${CONCURRENCY}): zero 5xx, zero 2xx, the handler never runs`, async (adapter) => {
    const app = apps[adapter];
    handlerRuns = 0;
    const url = new URL(app.url);
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const started = Date.now();
    let outcomes: Outcome[];
    try {
      outcomes = await pool(mutants, CONCURRENCY, async ({ token }) => {
        if (SENDABLE.test(token)) {
          return keepAliveGet(url, agent, token);
        }
        const res = await rawGet(app.url, [`Cf-Access-Jwt-Assertion: ${token}`]);
        return { status: res.status, reason: (res.body as { reason?: string } | null)?.reason, viaRawSocket: true };
      });
    } finally {
      agent.destroy();
    }
    const elapsed = Date.now() - started;
    capturedLogs.lines.length = 0;

    const failures = outcomes
      .map((outcome, index) => ({ ...outcome, mutant: mutants[index] }))
      .filter(({ status, viaRawSocket }) => status >= 500 || status < 400 || (status !== 401 && !(viaRawSocket && status === 400)));
    console.log(
      `fuzz over HTTP (${adapter}): ${outcomes.length} requests in ${elapsed} ms (${outcomes.filter((o) => o.viaRawSocket).length} on raw sockets); ` +
        `statuses ${JSON.stringify(tally(outcomes.map((o) => String(o.status))))}; reasons ${JSON.stringify(tally(outcomes.map((o) => o.reason ?? '-')))}`,
    );
    expect(failures.slice(0, 5)).toEqual([]);
    expect(outcomes.filter((o) => o.status >= 500)).toHaveLength(0);
    expect(outcomes.filter((o) => o.status >= 200 && o.status < 300)).toHaveLength(0);
    expect(outcomes.filter((o) => o.status === 401 && o.reason === undefined)).toHaveLength(0);
    expect(handlerRuns).toBe(0);
  }, 120_000);

  it.each([
    ['null', null, 'missing_token'],
    ['undefined', undefined, 'missing_token'],
    ['a number', 42, 'missing_token'],
    ['an object', { toString: () => 'a.b.c' }, 'missing_token'],
    ['an array of parts', ['a', 'b', 'c'], 'missing_token'],
    ['a 1 MB string', 'a'.repeat(1024 * 1024), 'token_too_large'],
  ])('CfAccessService.verify() refuses %s with CfAccessUnauthorizedException (%s)', async (_name, input, reason) => {
    const service = apps.express.app.get(CfAccessService);
    const error = await service.verify(input as unknown as string).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(CfAccessUnauthorizedException);
    expect(error).toMatchObject({ reason });
  });

  it('through CfAccessService.verify(): every mutant rejects with CfAccessUnauthorizedException, never another error', async () => {
    const service = apps.express.app.get(CfAccessService);
    const started = Date.now();
    const results = await pool(mutants, CONCURRENCY, ({ token }) =>
      service.verify(token).then(
        () => 'accepted',
        (error: unknown) => (error instanceof CfAccessUnauthorizedException ? `401 ${error.reason}` : `other: ${String(error)}`),
      ),
    );
    const elapsed = Date.now() - started;
    capturedLogs.lines.length = 0;
    console.log(`fuzz through verify(): ${results.length} mutants in ${elapsed} ms; ${JSON.stringify(tally(results))}`);
    const failures = results
      .map((result, index) => ({ result, mutant: mutants[index] }))
      .filter(({ result }) => !result.startsWith('401 '));
    expect(failures.slice(0, 5)).toEqual([]);
    expect(results.filter((result) => result.startsWith('401 '))).toHaveLength(MUTANTS);
  }, 120_000);
});
