import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Test, type TestingModule } from '@nestjs/testing';
import { TestKeyServer } from '../test/support/key-server.js';
import { CfAccessModule } from './cf-access.module.js';
import { type CfAccessModuleOptions } from './cf-access.options.js';
import { CfAccessService } from './cf-access.service.js';
import { CfAccessKeyStore } from './keys/cf-access-key-store.js';

describe('CfAccessService: the verified-token cache', () => {
  let keys: TestKeyServer;
  const modules: TestingModule[] = [];

  beforeAll(async () => {
    keys = await TestKeyServer.start();
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await Promise.all(modules.splice(0).map((moduleRef) => moduleRef.close()));
  });
  afterAll(() => keys.close());

  /**
   * A service, and a count of its key lookups: each RSA verification takes its key from `freshKey`
   * or, when that has none, from `getKey`.
   */
  async function service(options: Partial<CfAccessModuleOptions> = {}) {
    const moduleRef = await Test.createTestingModule({
      imports: [CfAccessModule.forRoot({ teamDomain: keys.teamDomain, audience: keys.audience, ...options })],
    }).compile();
    modules.push(moduleRef);
    const store = moduleRef.get(CfAccessKeyStore);
    const freshKey = jest.spyOn(store, 'freshKey');
    const getKey = jest.spyOn(store, 'getKey');
    const fullVerifications = () =>
      freshKey.mock.results.filter(({ value }) => value !== undefined).length + getKey.mock.calls.length;
    return { cfAccess: moduleRef.get(CfAccessService), store, fullVerifications };
  }

  it('verifies a repeated token twice (it is cached on its second sighting), and answers later repeats from the cache', async () => {
    const { cfAccess, fullVerifications } = await service();
    const token = await keys.sign({ email: 'cached@example.com' });
    for (let i = 0; i < 5; i += 1) {
      await expect(cfAccess.verify(token)).resolves.toMatchObject({ email: 'cached@example.com' });
    }
    expect(fullVerifications()).toBe(2);
    expect(cfAccess.cachedIdentity(token)).toMatchObject({ email: 'cached@example.com' });
  });

  it('never retains a token seen once: cachedIdentity() knows it only after a second verification', async () => {
    const { cfAccess } = await service();
    const token = await keys.sign();
    await cfAccess.verify(token);
    expect(cfAccess.cachedIdentity(token)).toBeUndefined();
    await cfAccess.verify(token);
    expect(cfAccess.cachedIdentity(token)).toBeDefined();
  });

  it('returns deeply frozen claims, so one request cannot change what another sees', async () => {
    const { cfAccess } = await service();
    const token = await keys.sign({ groups: ['eng'], custom: { team: 'core' } });
    const first = await cfAccess.verify(token);
    expect(Object.isFrozen(first)).toBe(true);
    expect(() => {
      first.email = 'mallory@example.com';
    }).toThrow(TypeError);
    expect(() => (first.groups as string[]).push('admins')).toThrow(TypeError);
    expect(Object.isFrozen(first.custom)).toBe(true);
    for (let i = 0; i < 3; i += 1) {
      await expect(cfAccess.verify(token)).resolves.toMatchObject({ email: 'user@example.com', groups: ['eng'] });
    }
  });

  it('re-checks the clock on a hit: a cached token is refused once expired beyond the tolerance', async () => {
    const { cfAccess } = await service({ clockTolerance: 0 });
    const now = Date.now();
    const token = await keys.sign({ exp: Math.floor(now / 1000) + 60 });
    await expect(cfAccess.verify(token)).resolves.toBeDefined();
    jest.spyOn(Date, 'now').mockReturnValue(now + 61_000);
    await expect(cfAccess.verify(token)).rejects.toMatchObject({ reason: 'expired' });
  });

  it('never serves a token whose key was rotated out of the key set', async () => {
    const { cfAccess } = await service({ jwks: { cooldown: 0 } });
    const old = await keys.sign();
    await expect(cfAccess.verify(old)).resolves.toBeDefined();
    await keys.rotate();
    await keys.rotate();
    await expect(cfAccess.verify(await keys.sign())).resolves.toBeDefined(); // unknown kid: the key set is refetched
    await expect(cfAccess.verify(old)).rejects.toMatchObject({ reason: 'unknown_kid' });
  });

  it('goes through the key store again once the keys are stale, so they get refreshed', async () => {
    const { cfAccess, fullVerifications } = await service({ jwks: { cacheMaxAge: 50, cooldown: 0 } });
    const token = await keys.sign();
    await cfAccess.verify(token);
    const before = keys.certsRequests;
    await new Promise((resolve) => setTimeout(resolve, 60));
    await cfAccess.verify(token);
    expect(fullVerifications()).toBe(2);
    expect(keys.certsRequests).toBe(before + 1);
  });

  it('is bounded: the least recently used token is evicted', async () => {
    const { cfAccess, fullVerifications } = await service({ tokenCacheSize: 3 });
    const tokens = await Promise.all(Array.from({ length: 4 }, (_, i) => keys.sign({ email: `u${i}@example.com` })));
    for (const token of tokens) {
      await cfAccess.verify(token);
      await cfAccess.verify(token); // the second sighting caches it
    }
    expect(fullVerifications()).toBe(8);
    await cfAccess.verify(tokens[3] as string);
    expect(fullVerifications()).toBe(8);
    expect(cfAccess.cachedIdentity(tokens[1] as string)).toBeDefined();
    expect(cfAccess.cachedIdentity(tokens[0] as string)).toBeUndefined();
    await cfAccess.verify(tokens[0] as string);
    expect(fullVerifications()).toBe(9);
  });

  it('tokenCacheSize: 0 verifies every time', async () => {
    const { cfAccess, fullVerifications } = await service({ tokenCacheSize: 0 });
    const token = await keys.sign();
    await cfAccess.verify(token);
    await cfAccess.verify(token);
    expect(fullVerifications()).toBe(2);
  });

  it('never caches a refusal', async () => {
    const { cfAccess, fullVerifications } = await service();
    const token = await keys.sign({ aud: ['other'] });
    await expect(cfAccess.verify(token)).rejects.toMatchObject({ reason: 'wrong_audience' });
    await expect(cfAccess.verify(token)).rejects.toMatchObject({ reason: 'wrong_audience' });
    expect(fullVerifications()).toBe(2);
  });
});
