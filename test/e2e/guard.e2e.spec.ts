import 'reflect-metadata';
import { Controller, Get, ImATeapotException } from '@nestjs/common';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import {
  type CfAccessIdentity,
  type CfAccessModuleOptions,
  CfIdentity,
  OptionalIdentity,
  Public,
  RequireIdentity,
} from '../../src/index.js';
import { algNoneToken, hs256WithPublicKey, ps256Token, rawToken, withPayload } from '../support/forged-tokens.js';
import { createTestKey, TestKeyServer } from '../support/key-server.js';
import { type AdapterName, ADAPTERS, jwt, type RunningApp, startGuardedApp } from '../support/start-app.js';

/** Every handler run, so tests can prove a refused request never reached its handler. */
const handled: string[] = [];
/** The order in which stacked predicates ran. */
const predicateOrder: string[] = [];
const tracing =
  (name: string, result = true) =>
  () => {
    predicateOrder.push(name);
    return result;
  };

@Controller()
class ReportsController {
  @Get('me')
  me(@CfIdentity() identity: CfAccessIdentity) {
    handled.push('me');
    return identity;
  }

  @Get('email')
  email(@CfIdentity('email') email: string | undefined) {
    handled.push('email');
    return { email: email ?? null };
  }

  @Public()
  @Get('health')
  health(@CfIdentity() identity: CfAccessIdentity | undefined) {
    handled.push('health');
    return { ok: true, identity: identity ?? null };
  }

  @OptionalIdentity()
  @Get('optional')
  optional(@CfIdentity() identity: CfAccessIdentity | undefined) {
    handled.push('optional');
    return { anonymous: identity === undefined, email: identity?.email ?? null };
  }

  @OptionalIdentity()
  @RequireIdentity(() => true)
  @Get('optional-required')
  optionalRequired() {
    handled.push('optional-required');
    return { ok: true };
  }
}

@Public()
@Controller('open')
class OpenController {
  @Get()
  open() {
    handled.push('open');
    return { open: true };
  }
}

@Controller('admin')
@RequireIdentity(tracing('class-1'))
@RequireIdentity((identity) => identity.email?.endsWith('@example.com') ?? false)
class AdminController {
  @Get()
  @RequireIdentity(async (identity) => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return identity.email === 'admin@example.com';
  })
  index(@CfIdentity('email') email: string) {
    handled.push('admin');
    return { admin: email };
  }

  @Get('any')
  any() {
    handled.push('admin-any');
    return { ok: true };
  }

  @Get('order')
  @RequireIdentity(tracing('handler-1'))
  @RequireIdentity(tracing('handler-2'))
  order() {
    handled.push('admin-order');
    return { order: predicateOrder };
  }

  @Get('throws')
  @RequireIdentity(() => {
    throw new Error('directory lookup failed');
  })
  throws() {
    handled.push('admin-throws');
  }

  @Get('teapot')
  @RequireIdentity(() => {
    throw new ImATeapotException();
  })
  teapot() {
    handled.push('admin-teapot');
  }

  @Get('truthy')
  @RequireIdentity(() => 'yes' as unknown as boolean)
  truthy() {
    handled.push('admin-truthy');
  }
}

/** A base class whose predicates every subclass inherits, even subclasses with their own. */
@RequireIdentity(tracing('base'))
@RequireIdentity((identity) => identity.email !== 'banned@example.com')
class GuardedBase {}

@Controller('derived')
@RequireIdentity(tracing('derived'))
class DerivedController extends GuardedBase {
  @Get()
  @RequireIdentity(tracing('handler'))
  index() {
    handled.push('derived');
    return { ok: true };
  }
}

/** Claims named like `Object.prototype` members: a token without them must inject `undefined`. */
@Controller('inherited')
class InheritedNamesController {
  @Get()
  claims(
    @CfIdentity('constructor') constructorClaim: unknown,
    @CfIdentity('toString') toStringClaim: unknown,
    @CfIdentity('__proto__') protoClaim: unknown,
    @CfIdentity('hasOwnProperty') hasOwnPropertyClaim: unknown,
  ) {
    return { claims: [constructorClaim, toStringClaim, protoClaim, hasOwnPropertyClaim].map((claim) => claim ?? null) };
  }
}

const controllers = [ReportsController, OpenController, AdminController, DerivedController, InheritedNamesController];
const cookie = (token: string) => ({ cookie: `theme=dark; CF_Authorization=${token}` });

function startTeamApp(adapter: AdapterName, keys: TestKeyServer, options: Partial<CfAccessModuleOptions> = {}) {
  return startGuardedApp(adapter, { teamDomain: keys.teamDomain, audience: keys.audience, ...options }, { controllers });
}

describe.each(ADAPTERS)('CfAccessGuard over HTTP (%s)', (adapter) => {
  let keys: TestKeyServer;
  let app: RunningApp;

  beforeAll(async () => {
    keys = await TestKeyServer.start();
    app = await startTeamApp(adapter, keys);
  });
  afterAll(async () => {
    await app.close();
    await keys.close();
  });
  beforeEach(() => {
    handled.length = 0;
    predicateOrder.length = 0;
  });

  describe('accepts', () => {
    it('a valid token in the Cf-Access-Jwt-Assertion header and exposes its claims', async () => {
      const res = await app.get('/me', jwt(await keys.sign({ email: 'ada@example.com' })));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ email: 'ada@example.com', iss: keys.teamDomain, aud: [keys.audience], type: 'app' });
      expect(handled).toEqual(['me']);
    });

    it('a valid token in the CF_Authorization cookie', async () => {
      const res = await app.get('/email', cookie(await keys.sign({ email: 'cookie@example.com' })));
      expect(res).toMatchObject({ status: 200, body: { email: 'cookie@example.com' } });
    });

    it('injects one claim with @CfIdentity("email")', async () => {
      const res = await app.get('/email', jwt(await keys.sign({ email: 'grace@example.com' })));
      expect(res).toMatchObject({ status: 200, body: { email: 'grace@example.com' } });
    });

    it('an aud given as a single string', async () => {
      const res = await app.get('/me', jwt(await keys.sign({ aud: keys.audience })));
      expect(res.status).toBe(200);
    });

    it('a service token (common_name, no email) by default', async () => {
      const token = await keys.sign({ email: undefined, sub: '', common_name: 'abc123.access', nbf: undefined });
      const res = await app.get('/me', jwt(token));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ common_name: 'abc123.access' });
    });

    it("@CfIdentity('constructor' | 'toString' | '__proto__' | 'hasOwnProperty') reads own claims only", async () => {
      expect(await app.get('/inherited', jwt(await keys.sign()))).toMatchObject({ status: 200, body: { claims: [null, null, null, null] } });
      const named = await keys.sign({ constructor: 'c', toString: 't', hasOwnProperty: 'h' });
      expect(await app.get('/inherited', jwt(named))).toMatchObject({ status: 200, body: { claims: ['c', 't', null, 'h'] } });
    });

    it('custom claims, passed through as Cloudflare sent them', async () => {
      const res = await app.get('/me', jwt(await keys.sign({ custom: { department: 'R&D' }, groups: ['eng'] })));
      expect(res.body).toMatchObject({ custom: { department: 'R&D' }, groups: ['eng'] });
    });
  });

  describe('refuses with 401', () => {
    const cases: [string, string, () => Record<string, string> | Promise<Record<string, string>>][] = [
      ['no token at all', 'missing_token', () => ({})],
      ['an empty header', 'missing_token', () => jwt('')],
      ['an empty cookie', 'missing_token', () => ({ cookie: 'CF_Authorization=' })],
      ['a token over 8 KiB', 'token_too_large', () => jwt('a'.repeat(8 * 1024 + 1))],
      ['a token that is not three parts', 'malformed', () => jwt('abc.def')],
      ['a token with characters outside base64url', 'malformed', () => jwt('a*b.c$d.e!f')],
      ['a payload that is not JSON', 'malformed', () => jwt(rawToken({ alg: 'RS256', kid: 'k' }, 'not json'))],
      ['a payload that is a JSON array', 'malformed', () => jwt(rawToken({ alg: 'RS256', kid: 'k' }, [1, 2]))],
      ['a header that is not a JSON object', 'malformed', () => jwt(rawToken('"RS256"', { iss: 'x' }))],
      ['a non-numeric exp', 'malformed', async () => jwt(await keys.sign({ exp: 'tomorrow' }))],
      ['a crit header', 'malformed', () => jwt(rawToken({ alg: 'RS256', kid: keys.currentKey.kid, crit: ['b64'], b64: true }, keys.claims()))],
      ['alg none', 'unsupported_alg', () => jwt(algNoneToken(keys))],
      ['HS256 keyed with the public key (PEM)', 'unsupported_alg', async () => jwt(await hs256WithPublicKey(keys, 'pem'))],
      ['HS256 keyed with the public key (JWK)', 'unsupported_alg', async () => jwt(await hs256WithPublicKey(keys, 'jwk'))],
      ['PS256', 'unsupported_alg', async () => jwt(await ps256Token(keys))],
      ['no kid', 'missing_kid', async () => jwt(await keys.sign({}, { header: { kid: undefined } }))],
      ['an empty kid', 'missing_kid', async () => jwt(await keys.sign({}, { header: { kid: '' } }))],
      ['another team as issuer', 'wrong_issuer', async () => jwt(await keys.sign({ iss: 'https://evil.cloudflareaccess.com' }))],
      ['the issuer with a trailing slash', 'wrong_issuer', async () => jwt(await keys.sign({ iss: keys.teamDomain + '/' }))],
      ['no issuer', 'wrong_issuer', async () => jwt(await keys.sign({ iss: undefined }))],
      ['a kid the team never published', 'unknown_kid', async () => jwt(await keys.sign({}, { key: await createTestKey() }))],
      ['a known kid signed by another key', 'bad_signature', async () => jwt(await forgedWithKnownKid(keys))],
      ['a payload changed after signing', 'bad_signature', async () => jwt(withPayload(await keys.sign(), keys.claims({ email: 'ceo@example.com' })))],
      ['another application as audience', 'wrong_audience', async () => jwt(await keys.sign({ aud: ['other-app'] }))],
      ['an audience that only contains ours as a substring', 'wrong_audience', async () => jwt(await keys.sign({ aud: [keys.audience + 'x'] }))],
      ['an empty audience array', 'wrong_audience', async () => jwt(await keys.sign({ aud: [] }))],
      ['an expired token', 'expired', async () => jwt(await keys.sign({ exp: nowSeconds() - 31 }))],
      ['a token without exp', 'expired', async () => jwt(await keys.sign({ exp: undefined }))],
      ['nbf in the future beyond tolerance', 'not_yet_valid', async () => jwt(await keys.sign({ nbf: nowSeconds() + 120 }))],
      ['iat in the future beyond tolerance', 'not_yet_valid', async () => jwt(await keys.sign({ iat: nowSeconds() + 120 }))],
      ['an org (global session) token', 'wrong_token_type', async () => jwt(await keys.sign({ type: 'org' }))],
      ['a bad header token beside a good cookie', 'malformed', async () => ({ ...jwt('bad'), ...cookie(await keys.sign()) })],
    ];

    it.each(cases)('%s → %s', async (_name, reason, headers) => {
      const sent = await headers();
      const res = await app.get('/me', sent);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ statusCode: 401, error: 'Unauthorized', message: expect.any(String), reason });
      expect(handled).toEqual([]);
      for (const value of Object.values(sent).filter((v) => v.length > 20)) {
        expect(res.text).not.toContain(value.replace(/^.*CF_Authorization=/, ''));
      }
    });

    it('a token of a foreign issuer without fetching any key', async () => {
      const fresh = await TestKeyServer.start();
      const other = await startTeamApp(adapter, fresh);
      try {
        const res = await other.get('/me', jwt(await fresh.sign({ iss: 'https://evil.cloudflareaccess.com' })));
        expect(res.body).toMatchObject({ reason: 'wrong_issuer' });
        expect(fresh.certsRequests).toBe(0);
      } finally {
        await other.close();
        await fresh.close();
      }
    });

    it('tokens whose jku / x5u / jwk / x5c header points at an attacker key, without contacting it', async () => {
      const attacker = await attackerKeyServer();
      try {
        const token = await keys.sign(
          {},
          {
            key: { ...attacker.key, kid: keys.currentKey.kid },
            header: { jku: attacker.url, x5u: attacker.url, jwk: attacker.key.publicJwk, x5c: ['MIIB'] },
          },
        );
        const res = await app.get('/me', jwt(token));
        expect(res.body).toMatchObject({ statusCode: 401, reason: 'bad_signature' });
        expect(attacker.requests()).toBe(0);
      } finally {
        await attacker.close();
      }
    });

    it('anonymous requests to a route that has @RequireIdentity, even with @OptionalIdentity', async () => {
      const res = await app.get('/optional-required');
      expect(res).toMatchObject({ status: 401, body: { reason: 'missing_token' } });
      expect(handled).toEqual([]);
    });

    it('logs the reason at debug, never the token', async () => {
      const token = await keys.sign({ exp: nowSeconds() - 3600 });
      app.logger.lines.length = 0;
      await app.get('/me', jwt(token));
      expect(app.logger.text()).toMatch(/debug .*ReportsController\.me.*expired/);
      expect(app.logger.text()).not.toContain(token);
      expect(app.logger.text()).not.toContain(token.split('.')[2]);
    });
  });

  describe('decorators', () => {
    it('@Public() lets a request without a token through and reads no token', async () => {
      const res = await app.get('/health', jwt(await keys.sign()));
      expect(res).toMatchObject({ status: 200, body: { ok: true, identity: null } });
    });

    it('@Public() ignores an invalid token', async () => {
      expect((await app.get('/health', jwt('garbage'))).status).toBe(200);
    });

    it('@Public() on a controller opens every route of it', async () => {
      expect(await app.get('/open')).toMatchObject({ status: 200, body: { open: true } });
    });

    it('@OptionalIdentity() with a valid token yields the identity', async () => {
      const res = await app.get('/optional', jwt(await keys.sign({ email: 'opt@example.com' })));
      expect(res).toMatchObject({ status: 200, body: { anonymous: false, email: 'opt@example.com' } });
    });

    it('@OptionalIdentity() without a token is anonymous', async () => {
      expect(await app.get('/optional')).toMatchObject({ status: 200, body: { anonymous: true, email: null } });
    });

    it('@OptionalIdentity() with an invalid token is anonymous, logged at debug', async () => {
      app.logger.lines.length = 0;
      const res = await app.get('/optional', jwt(await keys.sign({ aud: ['other'] })));
      expect(res).toMatchObject({ status: 200, body: { anonymous: true } });
      expect(app.logger.text()).toMatch(/debug .*optional.*wrong_audience/);
    });

    it('stacked @RequireIdentity on class and handler: all pass → 200 (async predicate included)', async () => {
      const res = await app.get('/admin', jwt(await keys.sign({ email: 'admin@example.com' })));
      expect(res).toMatchObject({ status: 200, body: { admin: 'admin@example.com' } });
    });

    it('the async handler predicate refusing → 403 identity_rejected', async () => {
      const res = await app.get('/admin', jwt(await keys.sign({ email: 'user@example.com' })));
      expect(res.status).toBe(403);
      expect(res.body).toEqual({ statusCode: 403, error: 'Forbidden', message: expect.any(String), reason: 'identity_rejected' });
      expect(handled).toEqual([]);
    });

    it('the class predicate refusing → 403 on every route of the controller', async () => {
      const res = await app.get('/admin/any', jwt(await keys.sign({ email: 'mallory@evil.test' })));
      expect(res).toMatchObject({ status: 403, body: { reason: 'identity_rejected' } });
      expect(handled).toEqual([]);
    });

    it('runs class predicates first, each target in source order', async () => {
      const res = await app.get('/admin/order', jwt(await keys.sign()));
      expect(res.status).toBe(200);
      expect(predicateOrder).toEqual(['class-1', 'handler-1', 'handler-2']);
    });

    it("runs a base class's predicates before a subclass's own, and they can refuse", async () => {
      expect((await app.get('/derived', jwt(await keys.sign()))).status).toBe(200);
      expect(predicateOrder).toEqual(['base', 'derived', 'handler']);
      const res = await app.get('/derived', jwt(await keys.sign({ email: 'banned@example.com' })));
      expect(res).toMatchObject({ status: 403, body: { reason: 'identity_rejected' } });
      expect(handled).toEqual(['derived']);
    });

    it('a predicate that throws → 403 predicate_error, logged at warn', async () => {
      app.logger.lines.length = 0;
      const res = await app.get('/admin/throws', jwt(await keys.sign()));
      expect(res).toMatchObject({ status: 403, body: { reason: 'predicate_error' } });
      expect(app.logger.lines).toContainEqual({ level: 'warn', message: expect.stringContaining('directory lookup failed') });
      expect(handled).toEqual([]);
    });

    it('a predicate that throws an HttpException → that exception', async () => {
      expect((await app.get('/admin/teapot', jwt(await keys.sign()))).status).toBe(418);
    });

    it('a predicate returning a truthy non-boolean → 403 (only true admits)', async () => {
      expect(await app.get('/admin/truthy', jwt(await keys.sign()))).toMatchObject({ status: 403 });
    });
  });

  describe('service tokens refused by allowServiceTokens: false', () => {
    let strict: RunningApp;
    beforeAll(async () => {
      strict = await startTeamApp(adapter, keys, { allowServiceTokens: false });
    });
    afterAll(() => strict.close());
    const serviceToken = () => keys.sign({ email: undefined, sub: '', common_name: 'svc.access' });

    it('→ 403 service_token_not_allowed on protected routes', async () => {
      const res = await strict.get('/me', jwt(await serviceToken()));
      expect(res).toMatchObject({ status: 403, body: { reason: 'service_token_not_allowed' } });
    });

    it('→ anonymous on @OptionalIdentity() routes', async () => {
      expect(await strict.get('/optional', jwt(await serviceToken()))).toMatchObject({ status: 200, body: { anonymous: true } });
    });

    it('users still pass', async () => {
      expect((await strict.get('/me', jwt(await keys.sign()))).status).toBe(200);
    });
  });

  describe('several audiences', () => {
    it('accepts a token for any configured AUD tag', async () => {
      const multi = await startTeamApp(adapter, keys, { audience: ['first-app', keys.audience] });
      try {
        expect((await multi.get('/me', jwt(await keys.sign({ aud: ['first-app'] })))).status).toBe(200);
        expect((await multi.get('/me', jwt(await keys.sign()))).status).toBe(200);
        expect((await multi.get('/me', jwt(await keys.sign({ aud: ['third-app'] })))).status).toBe(401);
      } finally {
        await multi.close();
      }
    });
  });
});

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** A token naming the team's current kid but signed by a key the attacker owns. */
async function forgedWithKnownKid(keys: TestKeyServer): Promise<string> {
  const attackerKey = await createTestKey();
  return keys.sign({}, { key: { ...attackerKey, kid: keys.currentKey.kid } });
}

/** A server an attacker controls, serving their own key; counts every request it gets. */
async function attackerKeyServer() {
  const key = await createTestKey();
  let requests = 0;
  const server: Server = createServer((_req, res) => {
    requests += 1;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [key.publicJwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    key,
    url: `http://127.0.0.1:${port}/certs`,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
