import 'reflect-metadata';
import { Controller, Get, Req } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  type CfAccessFullIdentity,
  type CfAccessIdentity,
  type CfAccessIdentityStore,
  CfAccessModule,
  type CfAccessModuleOptions,
  type CfAccessRequest,
  CfAccessService,
  CfFullIdentity,
  CfIdentity,
  inGroup,
  isServiceToken,
  isUser,
  MemoryIdentityStore,
  OptionalIdentity,
  RequireIdentity,
} from '../../src/index.js';
import { CfAccessEmulator } from '../../src/testing/index.js';
import { useKeyServerApps } from '../support/key-server-apps.js';
import { ADAPTERS, capturedLogs, jwt, type RunningApp, startApp } from '../support/start-app.js';

@Controller()
class ProfileController {
  constructor(private readonly cfAccess: CfAccessService) {}

  @Get('full')
  full(@CfFullIdentity() identity: CfAccessFullIdentity) {
    return identity;
  }

  @OptionalIdentity()
  @Get('optional-full')
  optionalFull(@CfFullIdentity() identity: CfAccessFullIdentity | undefined) {
    return { anonymous: identity === undefined };
  }

  @Get('admins')
  @RequireIdentity(inGroup('admins'))
  admins(@CfFullIdentity() identity: CfAccessFullIdentity) {
    return { name: identity.name };
  }

  @Get('humans')
  @RequireIdentity(isUser())
  humans() {
    return { ok: true };
  }

  @Get('robots')
  @RequireIdentity(isServiceToken('ci.access'))
  robots() {
    return { ok: true };
  }

  @Get('via-service')
  async viaService(@Req() request: CfAccessRequest) {
    return { identity: await this.cfAccess.getIdentity(request) };
  }

  @OptionalIdentity()
  @Get('optional-via-service')
  async optionalViaService(@Req() request: CfAccessRequest) {
    return { identity: await this.cfAccess.getIdentity(request) };
  }

  /** A handler that mutates what it was given: no other request may see the change (claims are frozen). */
  @Get('tamper')
  tamper(@CfFullIdentity() full: CfAccessFullIdentity, @CfIdentity() identity: CfAccessIdentity) {
    full.groups?.push('admins');
    full.name = 'Mallory';
    let claimsRefused = false;
    try {
      identity.email = 'mallory@example.com';
    } catch (error) {
      claimsRefused = error instanceof TypeError;
    }
    return { tampered: true, claimsRefused };
  }

  @Get('email')
  email(@CfIdentity('email') email: string) {
    return { email };
  }
}


/** A store that records every write, to check TTLs and sharing. */
class RecordingStore implements CfAccessIdentityStore {
  readonly writes: { key: string; ttl: number }[] = [];
  private readonly inner = new MemoryIdentityStore(100);
  get(key: string) {
    return this.inner.get(key);
  }
  set(key: string, value: unknown, ttl: number) {
    this.writes.push({ key, ttl });
    this.inner.set(key, value, ttl);
  }
}

describe.each(ADAPTERS)('full identity over HTTP, against the emulator (%s)', (adapter) => {
  let emulator: CfAccessEmulator;
  let app: RunningApp;

  beforeAll(async () => {
    emulator = await CfAccessEmulator.start();
    app = await startApp(adapter, {
      imports: [CfAccessModule.forRoot({ ...emulator.moduleOptions(), globalGuard: true })],
      controllers: [ProfileController],
    });
  });
  afterAll(async () => {
    await app.close();
    await emulator.close();
  });

  it("@CfFullIdentity() injects Cloudflare's get-identity answer", async () => {
    const token = await emulator.signToken({ email: 'ada@example.com', name: 'Ada', groups: ['admins', 'eng'] });
    const res = await app.get('/full', jwt(token));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      email: 'ada@example.com',
      name: 'Ada',
      groups: ['admins', 'eng'],
      idp: { type: 'onetimepin' },
      geo: { country: 'US' },
    });
  });

  it('fetches once per identity: repeat requests and a predicate plus the decorator share it', async () => {
    const token = await emulator.signToken({ email: 'once@example.com', groups: ['admins'] });
    const before = emulator.identityRequests;
    expect((await app.get('/admins', jwt(token))).status).toBe(200);
    expect((await app.get('/full', jwt(token))).status).toBe(200);
    expect((await app.get('/admins', jwt(token))).status).toBe(200);
    expect(emulator.identityRequests - before).toBe(1);
  });

  it('makes one fetch for concurrent first requests of one identity', async () => {
    const token = await emulator.signToken({ email: 'burst@example.com' });
    const before = emulator.identityRequests;
    const results = await Promise.all(Array.from({ length: 20 }, () => app.get('/full', jwt(token))));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(emulator.identityRequests - before).toBe(1);
  });

  it('keeps identities apart: another session of the same user is fetched on its own', async () => {
    const before = emulator.identityRequests;
    await app.get('/full', jwt(await emulator.signToken({ email: 'twice@example.com' })));
    await app.get('/full', jwt(await emulator.signToken({ email: 'twice@example.com' })));
    expect(emulator.identityRequests - before).toBe(2);
  });

  it('inGroup() refuses a user outside the group with 403', async () => {
    const res = await app.get('/admins', jwt(await emulator.signToken({ groups: ['staff'] })));
    expect(res).toMatchObject({ status: 403, body: { reason: 'identity_rejected' } });
  });

  it('@CfFullIdentity() is undefined on anonymous @OptionalIdentity() requests, with no fetch', async () => {
    const before = emulator.identityRequests;
    expect(await app.get('/optional-full')).toMatchObject({ status: 200, body: { anonymous: true } });
    expect(emulator.identityRequests).toBe(before);
  });

  it('a handler mutating its full identity (its own copy) or claims (frozen) changes nothing for the next request', async () => {
    const token = await emulator.signToken({ email: 'staff@example.com', name: 'Sam', groups: ['staff'] });
    expect(await app.get('/full', jwt(token))).toMatchObject({ status: 200, body: { name: 'Sam', groups: ['staff'] } });
    expect(await app.get('/tamper', jwt(token))).toMatchObject({ status: 200, body: { tampered: true, claimsRefused: true } });
    expect(await app.get('/tamper', jwt(token))).toMatchObject({ status: 200, body: { tampered: true, claimsRefused: true } });
    expect(await app.get('/admins', jwt(token))).toMatchObject({ status: 403, body: { reason: 'identity_rejected' } });
    expect(await app.get('/full', jwt(token))).toMatchObject({ status: 200, body: { name: 'Sam', groups: ['staff'] } });
    expect(await app.get('/email', jwt(token))).toMatchObject({ status: 200, body: { email: 'staff@example.com' } });
  });

  it('CfAccessService.getIdentity(request) reuses the guard lookup', async () => {
    const token = await emulator.signToken({ email: 'svc-call@example.com' });
    const res = await app.get('/via-service', jwt(token));
    expect(res.body).toMatchObject({ identity: { email: 'svc-call@example.com' } });
  });

  describe('service tokens', () => {
    it('isUser() refuses a service token with 403 and admits a person', async () => {
      const service = await emulator.signServiceToken({ commonName: 'ci.access' });
      expect(await app.get('/humans', jwt(service))).toMatchObject({ status: 403, body: { reason: 'identity_rejected' } });
      expect((await app.get('/humans', jwt(await emulator.signToken()))).status).toBe(200);
    });

    it('isServiceToken(commonName) admits that client only', async () => {
      expect((await app.get('/robots', jwt(await emulator.signServiceToken({ commonName: 'ci.access' })))).status).toBe(200);
      expect((await app.get('/robots', jwt(await emulator.signServiceToken({ commonName: 'other.access' })))).status).toBe(
        403,
      );
      expect((await app.get('/robots', jwt(await emulator.signToken()))).status).toBe(403);
    });

    it('a service token gets its service identity from get-identity', async () => {
      const res = await app.get('/full', jwt(await emulator.signServiceToken({ commonName: 'ci.access' })));
      expect(res.body).toMatchObject({ common_name: 'ci.access', service_token_status: true });
    });
  });
});

describe.each(ADAPTERS)('full identity where the guard left the request anonymous (%s)', (adapter) => {
  const team = useKeyServerApps(adapter, { controllers: [ProfileController] });
  const start = (options?: Partial<CfAccessModuleOptions>) => team.start(options);

  it('a service token refused by allowServiceTokens: false is anonymous to @CfFullIdentity() and getIdentity, with no fetch', async () => {
    const app = await start({ allowServiceTokens: false });
    const service = await team.keys.sign({ email: undefined, sub: '', common_name: 'svc.access' });
    const before = team.keys.identityRequests;
    expect(await app.get('/optional-full', jwt(service))).toMatchObject({ status: 200, body: { anonymous: true } });
    expect(await app.get('/optional-via-service', jwt(service))).toMatchObject({ status: 200, body: { identity: null } });
    expect(team.keys.identityRequests).toBe(before);
  });

  it('while the key endpoint fails (cold), @CfFullIdentity() is undefined (200), not 503, with no fetch', async () => {
    team.keys.mode = 'http-500';
    const app = await start();
    const token = await team.keys.sign();
    const before = team.keys.identityRequests;
    expect(await app.get('/optional-full', jwt(token))).toMatchObject({ status: 200, body: { anonymous: true } });
    expect(await app.get('/optional-via-service', jwt(token))).toMatchObject({ status: 200, body: { identity: null } });
    expect(team.keys.identityRequests).toBe(before);
  });

  it('an admitted token on an @OptionalIdentity() route still gets its full identity', async () => {
    const app = await start();
    expect(await app.get('/optional-full', jwt(await team.keys.sign()))).toMatchObject({ status: 200, body: { anonymous: false } });
  });
});

describe('full identity: caching rules and failures (key server)', () => {
  const team = useKeyServerApps('express', { controllers: [ProfileController] });
  const start = (options?: Partial<CfAccessModuleOptions>) => team.start(options);

  it('sends the token as the CF_Authorization cookie to <teamDomain>/cdn-cgi/access/get-identity', async () => {
    const app = await start();
    const token = await team.keys.sign();
    expect((await app.get('/full', jwt(token))).status).toBe(200);
    expect(team.keys.lastIdentityCookie).toBe(`CF_Authorization=${token}`);
  });

  it('matches group objects by name', async () => {
    const app = await start();
    expect(await app.get('/admins', jwt(await team.keys.sign()))).toMatchObject({ status: 200, body: { name: 'User' } });
  });

  it('caches never past the token exp, and at most identity.cacheTtl', async () => {
    const store = new RecordingStore();
    const app = await start({ identity: { store, cacheTtl: 600_000 } });
    await app.get('/full', jwt(await team.keys.sign({ exp: Math.floor(Date.now() / 1000) + 20 })));
    await app.get('/full', jwt(await team.keys.sign({ exp: Math.floor(Date.now() / 1000) + 3600 })));
    expect(store.writes).toHaveLength(2);
    expect(store.writes[0]?.ttl).toBeLessThanOrEqual(20_000);
    expect(store.writes[0]?.ttl).toBeGreaterThan(15_000);
    expect(store.writes[1]?.ttl).toBe(600_000);
  });

  it('does not cache an identity whose token is already past exp (within clock tolerance)', async () => {
    const store = new RecordingStore();
    const app = await start({ identity: { store } });
    const before = team.keys.identityRequests;
    const token = await team.keys.sign({ exp: Math.floor(Date.now() / 1000) - 5 });
    expect((await app.get('/full', jwt(token))).status).toBe(200);
    expect((await app.get('/full', jwt(token))).status).toBe(200);
    expect(store.writes).toHaveLength(0);
    expect(team.keys.identityRequests - before).toBe(2);
  });

  it.each<[string, 'http-401' | 'err-body', number, string]>([
    ['401 from get-identity', 'http-401', 401, 'session_revoked'],
    ['an {"err": …} answer', 'err-body', 401, 'session_revoked'],
  ])('%s → %s %s', async (_name, mode, status, reason) => {
    team.keys.identityMode = mode;
    const app = await start();
    expect(await app.get('/full', jwt(await team.keys.sign()))).toMatchObject({ status, body: { reason } });
  });

  it.each<['http-500' | 'bad-json' | 'hang']>([['http-500'], ['bad-json'], ['hang']])(
    'get-identity failing (%s) → 503 identity_unavailable, and the next request tries again',
    async (mode) => {
      team.keys.identityMode = mode;
      const app = await start({ identity: { timeout: 300 } });
      const token = await team.keys.sign();
      expect(await app.get('/full', jwt(token))).toMatchObject({ status: 503, body: { reason: 'identity_unavailable' } });
      team.keys.identityMode = 'ok';
      expect((await app.get('/full', jwt(token))).status).toBe(200);
    },
  );

  it('a predicate needing the full identity answers 503 when get-identity is down', async () => {
    team.keys.identityMode = 'http-500';
    const app = await start();
    expect(await app.get('/admins', jwt(await team.keys.sign()))).toMatchObject({ status: 503 });
  });

  it('a failing cache store is logged and bypassed, never fatal', async () => {
    const broken: CfAccessIdentityStore = {
      get: () => Promise.reject(new Error('redis down')),
      set: () => Promise.reject(new Error('redis down')),
    };
    const app = await start({ identity: { store: broken } });
    capturedLogs.lines.length = 0;
    expect((await app.get('/full', jwt(await team.keys.sign()))).status).toBe(200);
    expect(capturedLogs.text()).toMatch(/warn Identity cache read failed.*redis down/);
    expect(capturedLogs.text()).toMatch(/warn Identity cache write failed.*redis down/);
  });
});
