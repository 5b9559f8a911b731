import 'reflect-metadata';
import { Controller, Get } from '@nestjs/common';
import { afterEach, describe, expect, it } from '@jest/globals';
import { type CfAccessModuleOptions, CfIdentity, OptionalIdentity } from '../../src/index.js';
import { createTestKey, TestKeyServer, unreachableTeamDomain } from '../support/key-server.js';
import { type AdapterName, ADAPTERS, jwt, sleep, startGuardedApp } from '../support/start-app.js';

@Controller()
class EmailController {
  @Get('email')
  email(@CfIdentity('email') email: string) {
    return { email };
  }

  @OptionalIdentity()
  @Get('optional')
  optional(@CfIdentity('email') email: string | undefined) {
    return { email: email ?? null };
  }
}


describe.each(ADAPTERS)('Key handling over HTTP (%s)', (adapter: AdapterName) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await Promise.all(cleanups.splice(0).map((close) => close()));
  });

  async function start(teamDomain: string, audience: string, jwks: CfAccessModuleOptions['jwks'] = {}) {
    const app = await startGuardedApp(adapter, { teamDomain, audience, jwks }, { controllers: [EmailController] });
    cleanups.push(() => app.close());
    return app;
  }

  async function keyServer() {
    const keys = await TestKeyServer.start();
    cleanups.push(() => keys.close());
    return keys;
  }

  it('fetches the keys once for concurrent first requests', async () => {
    const keys = await keyServer();
    const app = await start(keys.teamDomain, keys.audience);
    const token = await keys.sign();
    const results = await Promise.all(Array.from({ length: 25 }, () => app.get('/email', jwt(token))));
    expect(results.map((r) => r.status)).toEqual(Array(25).fill(200));
    expect(keys.certsRequests).toBe(1);
  });

  it('picks up a rotated key with exactly one more fetch', async () => {
    const keys = await keyServer();
    const app = await start(keys.teamDomain, keys.audience, { cooldown: 0 });
    expect((await app.get('/email', jwt(await keys.sign()))).status).toBe(200);
    const oldKey = keys.currentKey;
    await keys.rotate();
    const newToken = await keys.sign({ email: 'rotated@example.com' });
    expect(await app.get('/email', jwt(newToken))).toMatchObject({ status: 200, body: { email: 'rotated@example.com' } });
    expect(await app.get('/email', jwt(newToken))).toMatchObject({ status: 200 });
    expect((await app.get('/email', jwt(await keys.sign({}, { key: oldKey })))).status).toBe(200);
    expect(keys.certsRequests).toBe(2);
  });

  it('refuses a key rotated out twice with 401 unknown_kid', async () => {
    const keys = await keyServer();
    const app = await start(keys.teamDomain, keys.audience, { cooldown: 0 });
    const retired = keys.currentKey;
    await keys.rotate();
    await keys.rotate();
    const res = await app.get('/email', jwt(await keys.sign({}, { key: retired })));
    expect(res).toMatchObject({ status: 401, body: { reason: 'unknown_kid' } });
  });

  it('refuses an unknown kid inside the cooldown without fetching again', async () => {
    const keys = await keyServer();
    const app = await start(keys.teamDomain, keys.audience, { cooldown: 60_000 });
    expect((await app.get('/email', jwt(await keys.sign()))).status).toBe(200);
    await keys.rotate();
    const token = await keys.sign();
    for (let i = 0; i < 5; i += 1) {
      expect(await app.get('/email', jwt(token))).toMatchObject({ status: 401, body: { reason: 'unknown_kid' } });
    }
    expect(keys.certsRequests).toBe(1);
  });

  it('keeps verifying with cached keys when the endpoint goes down after warm-up', async () => {
    const keys = await keyServer();
    const app = await start(keys.teamDomain, keys.audience, { cacheMaxAge: 1, cooldown: 0 });
    const token = await keys.sign();
    expect((await app.get('/email', jwt(token))).status).toBe(200);
    await sleep(5); // past cacheMaxAge: every request now tries the endpoint first
    keys.mode = 'http-500';
    expect((await app.get('/email', jwt(token))).status).toBe(200);
    await keys.close();
    expect((await app.get('/email', jwt(token))).status).toBe(200);
    expect(keys.certsRequests).toBe(2);
  });

  it('answers 503 keys_unavailable when cold and the endpoint is unreachable; @OptionalIdentity() is anonymous', async () => {
    const teamDomain = await unreachableTeamDomain();
    const keys = await keyServer();
    const app = await start(teamDomain, keys.audience);
    const token = await keys.sign({ iss: teamDomain });
    const res = await app.get('/email', jwt(token));
    expect(res.status).toBe(503);
    expect(res.body).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message: expect.any(String),
      reason: 'keys_unavailable',
    });
    expect(res.text).not.toContain(token);
    await sleep(1_050);
    expect(await app.get('/optional', jwt(token))).toMatchObject({ status: 200, body: { email: null } });
  });

  it('a cached token stops passing when its kid is republished with another key (401 bad_signature)', async () => {
    const keys = await keyServer();
    const app = await start(keys.teamDomain, keys.audience, { cooldown: 100 });
    const original = keys.currentKey;
    const token = await keys.sign({ email: 'cached@example.com' });
    expect(await app.get('/email', jwt(token))).toMatchObject({ status: 200, body: { email: 'cached@example.com' } });

    const impostor = await createTestKey();
    keys.published = [{ ...impostor, kid: original.kid, publicJwk: { ...impostor.publicJwk, kid: original.kid } }];
    await sleep(150);
    // An unknown kid makes the store refresh: the kid now names the other key, and the keys are fresh.
    expect(await app.get('/email', jwt(await keys.sign({}, { header: { kid: 'not-published' } })))).toMatchObject({
      status: 401,
      body: { reason: 'unknown_kid' },
    });
    expect(keys.certsRequests).toBe(2);
    expect(await app.get('/email', jwt(token))).toMatchObject({ status: 401, body: { reason: 'bad_signature' } });
    expect(await app.get('/email', jwt(token))).toMatchObject({ status: 401, body: { reason: 'bad_signature' } });
  });

  it('never follows a redirect from the certs endpoint (503 when cold)', async () => {
    const keys = await keyServer();
    keys.mode = 'redirect';
    const app = await start(keys.teamDomain, keys.audience);
    expect(await app.get('/email', jwt(await keys.sign()))).toMatchObject({ status: 503, body: { reason: 'keys_unavailable' } });
    expect(keys.certsRequests).toBe(1);
    expect(keys.redirectedRequests).toBe(0);
  });

  it('answers 503 within the timeout when the endpoint hangs, and recovers without restart', async () => {
    const keys = await keyServer();
    keys.mode = 'hang';
    const app = await start(keys.teamDomain, keys.audience, { timeout: 300 });
    const token = await keys.sign();
    const started = Date.now();
    expect((await app.get('/email', jwt(token))).status).toBe(503);
    expect(Date.now() - started).toBeLessThan(3_000);
    keys.mode = 'ok';
    await sleep(1_050);
    expect((await app.get('/email', jwt(token))).status).toBe(200);
  });
});
