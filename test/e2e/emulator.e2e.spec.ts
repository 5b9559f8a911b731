import 'reflect-metadata';
import { Controller, Get, Headers } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { decodeJwt, decodeProtectedHeader, type JWK } from 'jose';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { createServer, get, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { CfAccessModule, CfIdentity } from '../../src/index.js';
import { CfAccessEmulator } from '../../src/testing/index.js';
import { type RunningApp, startApp } from '../support/start-app.js';

interface CertsBody {
  keys: JWK[];
  public_cert: { kid: string; cert: string };
  public_certs: { kid: string; cert: string }[];
}

/** Echoes what the app received, so proxy tests can see the forwarded request. */
@Controller()
class EchoController {
  @Get('echo')
  echo(@CfIdentity('email') email: string, @Headers('cf-access-jwt-assertion') header: string) {
    return { email, headerIsToken: header.split('.').length === 3 };
  }

  @Get('page')
  page() {
    return { page: true };
  }

  @Get('header-names')
  headerNames(@Headers() headers: Record<string, string>) {
    return Object.keys(headers);
  }
}

/** Sends raw bytes to `url`'s port and resolves the first line of the answer. */
function rawRequest(url: string, text: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(text));
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk.toString();
      if (answer.includes('\r\n')) {
        socket.destroy();
        resolve(answer.split('\r\n')[0] ?? '');
      }
    });
    socket.on('error', reject);
  });
}

describe('CfAccessEmulator', () => {
  let emulator: CfAccessEmulator;

  beforeAll(async () => {
    emulator = await CfAccessEmulator.start({ users: [{ email: 'admin@example.com', name: 'Ada Admin', groups: ['admins'] }] });
  });
  afterAll(() => emulator.close());

  async function certs(): Promise<CertsBody> {
    return (await (await fetch(`${emulator.teamDomain}/cdn-cgi/access/certs`)).json()) as CertsBody;
  }

  describe('team domain and options', () => {
    it('listens on 127.0.0.1 at a free port with a random 64-hex AUD tag', () => {
      expect(emulator.teamDomain).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(emulator.audience).toMatch(/^[0-9a-f]{64}$/);
      expect(emulator.moduleOptions()).toEqual({ teamDomain: emulator.teamDomain, audience: emulator.audience });
    });

    it.each<[string, object, RegExp]>([
      ['a bad port', { port: 70_000 }, /"port" must be an integer/],
      ['an empty audience', { audience: '' }, /"audience" must be a non-empty/],
      ['a user without email', { users: [{ name: 'x' }] }, /"users\[0\]" must be/],
    ])('refuses %s', async (_name, options, message) => {
      await expect(CfAccessEmulator.start(options)).rejects.toThrow(message);
    });

    it.each(['0.0.0.0', '::', '192.0.2.10', 'example.com'])(
      'refuses the non-loopback host %s unless allowNonLoopback: true is passed, naming that option',
      async (host) => {
        await expect(CfAccessEmulator.start({ host })).rejects.toThrow(
          `CfAccessEmulator: "host" is ${host}, not a loopback address: anyone who can reach the emulator can log in as anyone. ` +
            'Pass allowNonLoopback: true to bind it anyway (development and tests only)',
        );
      },
    );

    it.each(['localhost', '127.0.0.2'])('binds the loopback host %s without allowNonLoopback and without a warning', async (host) => {
      const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
      try {
        const local = await CfAccessEmulator.start({ host });
        await local.close();
        expect(warn).not.toHaveBeenCalled();
      } finally {
        warn.mockRestore();
      }
    });

    it('binds 0.0.0.0 with allowNonLoopback: true, and warns loudly that it is for development and tests only', async () => {
      const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
      try {
        const exposed = await CfAccessEmulator.start({ host: '0.0.0.0', allowNonLoopback: true });
        await exposed.close();
        expect(exposed.teamDomain).toMatch(/^http:\/\/0\.0\.0\.0:\d+$/);
        expect(warn).toHaveBeenCalledTimes(1);
        const message = String(warn.mock.calls[0]?.[0]);
        expect(message).toContain('listening on 0.0.0.0, not loopback (allowNonLoopback: true)');
        expect(message).toContain('Anyone who can reach it can log in as anyone');
        expect(message).toContain('development and tests only');
      } finally {
        warn.mockRestore();
      }
    });

    it('refuses an allowNonLoopback that is not a boolean', async () => {
      await expect(CfAccessEmulator.start({ allowNonLoopback: 'yes' as never })).rejects.toThrow('"allowNonLoopback" must be true or false');
    });
  });

  it('answers 400 to a request target that is not a path, and keeps running', async () => {
    expect(await rawRequest(emulator.teamDomain, 'GET //[ HTTP/1.1\r\nHost: x\r\n\r\n')).toBe('HTTP/1.1 400 Bad Request');
    expect((await fetch(`${emulator.teamDomain}/cdn-cgi/access/certs`)).status).toBe(200);
  });

  it('can be closed twice, and a closed emulator refuses connections', async () => {
    const spare = await CfAccessEmulator.start();
    await spare.close();
    await expect(spare.close()).resolves.toBeUndefined();
    await expect(fetch(`${spare.teamDomain}/cdn-cgi/access/certs`)).rejects.toThrow();
  });

  describe('/cdn-cgi/access/certs', () => {
    it("serves the keys in Cloudflare's shape and counts requests", async () => {
      const before = emulator.certsRequests;
      const body = await certs();
      expect(emulator.certsRequests).toBe(before + 1);
      expect(body.keys).toHaveLength(1);
      expect(body.keys[0]).toEqual({ kid: expect.any(String), kty: 'RSA', alg: 'RS256', use: 'sig', e: 'AQAB', n: expect.any(String) });
      expect(body.public_cert.kid).toBe(body.keys[0]?.kid);
      expect(body.public_certs.map((c) => c.kid)).toEqual(body.keys.map((k) => k.kid));
    });

    it('publishes a real X.509 certificate for each key, self-signed by that key', async () => {
      const body = await certs();
      const cert = new X509Certificate(body.public_cert.cert);
      const jwkKey = createPublicKey({ key: body.keys[0] as JWK & { kty: 'RSA' }, format: 'jwk' });
      expect(cert.verify(jwkKey)).toBe(true);
      expect(cert.publicKey.export({ format: 'jwk' })).toMatchObject({ n: body.keys[0]?.n, e: 'AQAB' });
    });
  });

  describe('token minting', () => {
    it("signs user tokens with Cloudflare's claim set", async () => {
      const token = await emulator.signToken({ email: 'ada@example.com', department: 'R&D' });
      const claims = decodeJwt(token);
      expect(decodeProtectedHeader(token)).toEqual({ alg: 'RS256', kid: (await certs()).public_cert.kid, typ: 'JWT' });
      expect(claims).toEqual({
        aud: [emulator.audience],
        email: 'ada@example.com',
        iss: emulator.teamDomain,
        sub: expect.stringMatching(/^[0-9a-f-]{36}$/),
        type: 'app',
        identity_nonce: expect.any(String),
        country: 'US',
        department: 'R&D',
        iat: expect.any(Number),
        nbf: claims.iat,
        exp: (claims.iat ?? 0) + 3600,
      });
      expect(decodeJwt(await emulator.signToken({ email: 'ada@example.com' })).sub).toBe(claims.sub);
      expect(decodeJwt(await emulator.signToken({ email: 'bob@example.com' })).sub).not.toBe(claims.sub);
    });

    it('defaults to user@example.com; expiresIn sets the lifetime; an explicit exp wins', async () => {
      const short = decodeJwt(await emulator.signToken({ expiresIn: 60 }));
      expect(short.email).toBe('user@example.com');
      expect((short.exp ?? 0) - (short.iat ?? 0)).toBe(60);
      expect(decodeJwt(await emulator.signToken({ expiresIn: 60, exp: 42 })).exp).toBe(42);
    });

    it('signs service tokens: common_name, sub "", no email, no nbf', async () => {
      const claims = decodeJwt(await emulator.signServiceToken({ commonName: 'c0ffee.access' }));
      expect(claims).toMatchObject({ common_name: 'c0ffee.access', sub: '', type: 'app', aud: [emulator.audience] });
      expect(claims).not.toHaveProperty('email');
      expect(claims).not.toHaveProperty('nbf');
      await expect(emulator.signServiceToken({ commonName: '' })).rejects.toThrow(/"commonName"/);
    });
  });

  describe('/cdn-cgi/access/get-identity', () => {
    const identity = (cookie?: string) =>
      fetch(`${emulator.teamDomain}/cdn-cgi/access/get-identity`, { headers: cookie ? { cookie } : {} });

    it('answers the identity for a valid CF_Authorization cookie', async () => {
      const token = await emulator.signToken({ email: 'ada@example.com', name: 'Ada', groups: ['admins', 'eng'] });
      const res = await identity(`CF_Authorization=${token}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        email: 'ada@example.com',
        name: 'Ada',
        groups: ['admins', 'eng'],
        idp: { type: 'onetimepin' },
        geo: { country: 'US' },
        user_uuid: decodeJwt(token).sub,
        service_token_status: false,
      });
    });

    it('answers a service identity for a service token', async () => {
      const res = await identity(`CF_Authorization=${await emulator.signServiceToken({ commonName: 'svc.access' })}`);
      expect(await res.json()).toMatchObject({ common_name: 'svc.access', service_token_status: true });
    });

    it.each([
      ['no cookie', undefined],
      ['a garbage cookie', 'CF_Authorization=garbage'],
    ])('answers 401 for %s', async (_name, cookie) => {
      expect((await identity(cookie)).status).toBe(401);
    });

    it('answers 401 for an expired token', async () => {
      const res = await identity(`CF_Authorization=${await emulator.signToken({ expiresIn: -120 })}`);
      expect(res.status).toBe(401);
    });
  });

  describe('with CfAccessModule', () => {
    let app: RunningApp;
    beforeAll(async () => {
      app = await startApp('express', {
        imports: [CfAccessModule.forRoot({ ...emulator.moduleOptions(), globalGuard: true })],
        controllers: [EchoController],
      });
    });
    afterAll(() => app.close());
    const jwt = (token: string) => ({ 'cf-access-jwt-assertion': token });

    it('verifies emulator tokens across rotations; a key rotated out twice is refused once keys are refetched', async () => {
      const rotating = await startApp('express', {
        imports: [CfAccessModule.forRoot({ ...emulator.moduleOptions(), jwks: { cooldown: 0 }, globalGuard: true })],
        controllers: [EchoController],
      });
      try {
        const first = await emulator.signToken({ email: 'rot@example.com' });
        expect(await rotating.get('/echo', jwt(first))).toMatchObject({ status: 200, body: { email: 'rot@example.com' } });
        await emulator.rotateKeys();
        expect((await certs()).keys).toHaveLength(2);
        expect((await rotating.get('/echo', jwt(await emulator.signToken()))).status).toBe(200);
        expect((await rotating.get('/echo', jwt(first))).status).toBe(200);
        await emulator.rotateKeys();
        expect((await rotating.get('/echo', jwt(await emulator.signToken()))).status).toBe(200);
        expect(await rotating.get('/echo', jwt(first))).toMatchObject({ status: 401, body: { reason: 'unknown_kid' } });
      } finally {
        await rotating.close();
      }
    });

    it('setDown(true) makes every Access endpoint answer 503, and a cold app answer 503', async () => {
      emulator.setDown(true);
      try {
        const res = await fetch(`${emulator.teamDomain}/cdn-cgi/access/certs`);
        expect(res.status).toBe(503);
        const cold = await startApp('fastify', {
          imports: [CfAccessModule.forRoot({ ...emulator.moduleOptions(), globalGuard: true })],
          controllers: [EchoController],
        });
        try {
          const answer = await cold.get('/echo', jwt(await emulator.signToken()));
          expect(answer).toMatchObject({ status: 503, body: { reason: 'keys_unavailable' } });
        } finally {
          await cold.close();
        }
      } finally {
        emulator.setDown(false);
      }
    });
  });

  describe('proxy()', () => {
    let app: RunningApp;
    let edge: { url: string; close(): Promise<void> };

    beforeAll(async () => {
      app = await startApp('fastify', {
        imports: [CfAccessModule.forRoot({ ...emulator.moduleOptions(), globalGuard: true })],
        controllers: [EchoController],
      });
      edge = await emulator.proxy(app.url);
    });
    afterAll(async () => {
      await edge.close();
      await app.close();
    });

    const login = (fields: Record<string, string>) =>
      fetch(`${edge.url}/cdn-cgi/access/login`, {
        method: 'POST',
        body: new URLSearchParams(fields),
        redirect: 'manual',
      });
    const sessionCookie = (res: Response) => (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';

    it('shows the login page, with one-click users, to a browser without a session', async () => {
      const res = await fetch(`${edge.url}/page?x=1`, { headers: { accept: 'text/html,*/*' } });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/text\/html/);
      const html = await res.text();
      expect(html).toContain('action="/cdn-cgi/access/login"');
      expect(html).toContain('name="email"');
      expect(html).toContain('name="groups"');
      expect(html).toContain('value="/page?x=1"');
      expect(html).toContain('Log in as Ada Admin');
    });

    it('shows the login page to curl (Accept: */*)', async () => {
      const res = await fetch(`${edge.url}/page`, { headers: { accept: '*/*' } });
      expect(await res.text()).toContain('<form');
    });

    it.each([
      ['X-Requested-With: XMLHttpRequest', { 'x-requested-with': 'XMLHttpRequest' }],
      ['Accept: application/json', { accept: 'application/json' }],
    ])('answers 401 JSON to %s', async (_name, headers) => {
      const res = await fetch(`${edge.url}/page`, { headers });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({
        statusCode: 401,
        error: 'Unauthorized',
        message: 'No Cloudflare Access token was sent',
        reason: 'missing_token',
      });
    });

    it('logs in: sets an HttpOnly SameSite=Lax cookie and redirects to the page first asked for', async () => {
      const res = await login({ email: 'ada@example.com', groups: 'admins, eng', redirect_url: '/echo?from=login' });
      expect(res.status).toBe(302);
      expect(res.headers.get('location')).toBe('/echo?from=login');
      const setCookie = res.headers.get('set-cookie') ?? '';
      expect(setCookie).toMatch(/^CF_Authorization=[\w-]+\.[\w-]+\.[\w-]+; Path=\/; HttpOnly; SameSite=Lax$/);
      const token = sessionCookie(res).split('=')[1] ?? '';
      expect(decodeJwt(token)).toMatchObject({ email: 'ada@example.com', groups: ['admins', 'eng'] });
    });

    it('forwards a request with a session to the app with Cf-Access-Jwt-Assertion, replacing a client value', async () => {
      const cookie = sessionCookie(await login({ email: 'ada@example.com', redirect_url: '/' }));
      const forged = await emulator.signToken({ email: 'mallory@example.com' });
      const res = await fetch(`${edge.url}/echo`, { headers: { cookie, 'cf-access-jwt-assertion': forged } });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ email: 'ada@example.com', headerIsToken: true });
    });

    it('serves /cdn-cgi/access/* itself and never forwards it', async () => {
      const cookie = sessionCookie(await login({ email: 'ada@example.com', redirect_url: '/' }));
      const res = await fetch(`${edge.url}/cdn-cgi/access/get-identity`, { headers: { cookie } });
      expect(await res.json()).toMatchObject({ email: 'ada@example.com' });
      expect((await fetch(`${edge.url}/cdn-cgi/access/nope`, { headers: { cookie } })).status).toBe(404);
    });

    it('logout clears the cookie and shows a logged-out page', async () => {
      const res = await fetch(`${edge.url}/cdn-cgi/access/logout`);
      expect(res.headers.get('set-cookie')).toBe('CF_Authorization=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0');
      expect(await res.text()).toContain('You have been logged out');
    });

    it('refuses a login without a valid email with 400 and the form again', async () => {
      const res = await login({ email: 'not-an-email', redirect_url: '/' });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('Enter a valid email address.');
    });

    it.each(['https://evil.example/', '//evil.example/', '/\\evil.example', '/\t/evil.example/', '/\n/evil.example'])(
      'never redirects off-site after login (%s → /)',
      async (target) => {
        const res = await login({ email: 'ada@example.com', redirect_url: target });
        expect(res.headers.get('location')).toBe('/');
      },
    );

    // A browser resolves dot segments (%2e counts as a dot) before following a Location header, so
    // each of these would be `//evil.test`, another site, had the path not been normalized first.
    it.each(['/.//evil.test', '/..//evil.test', '/%2e//evil.test', '/a/..//evil.test', '/%2E%2e//evil.test', '/a/%2e%2e//evil.test'])(
      'never redirects off-site through dot segments (%s → /)',
      async (target) => {
        const res = await login({ email: 'ada@example.com', redirect_url: target });
        expect(res.status).toBe(302);
        expect(res.headers.get('location')).toBe('/');
      },
    );

    it('redirects to a same-site path after resolving its dot segments', async () => {
      const res = await login({ email: 'ada@example.com', redirect_url: '/a/../echo?x=1' });
      expect(res.headers.get('location')).toBe('/echo?x=1');
    });

    it.each([
      ['a foreign Origin', { origin: 'http://evil.example' }],
      ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
    ])('refuses a login POST with %s (login CSRF) with 403', async (_name, headers) => {
      const res = await fetch(`${edge.url}/cdn-cgi/access/login`, {
        method: 'POST',
        headers,
        body: new URLSearchParams({ email: 'mallory@example.com', redirect_url: '/' }),
        redirect: 'manual',
      });
      expect(res.status).toBe(403);
      expect(res.headers.get('set-cookie')).toBeNull();
    });

    it('accepts a login POST from its own origin', async () => {
      const res = await fetch(`${edge.url}/cdn-cgi/access/login`, {
        method: 'POST',
        headers: { origin: edge.url, 'sec-fetch-site': 'same-origin' },
        body: new URLSearchParams({ email: 'ada@example.com', redirect_url: '/' }),
        redirect: 'manual',
      });
      expect(res.status).toBe(302);
    });

    it('answers 413 to an oversized login form', async () => {
      const res = await login({ email: 'ada@example.com', redirect_url: '/', padding: 'x'.repeat(70_000) });
      expect(res.status).toBe(413);
    });

    it('answers 400 to a target that is not a path, even with a session (never forwarded)', async () => {
      const cookie = sessionCookie(await login({ email: 'ada@example.com', redirect_url: '/' }));
      const raw = `GET //cdn-cgi/access/logout HTTP/1.1\r\nHost: x\r\nCookie: ${cookie}\r\n\r\n`;
      expect(await rawRequest(edge.url, raw)).toBe('HTTP/1.1 400 Bad Request');
    });

    it('drops hop-by-hop headers, those the Connection header names and proxy-*', async () => {
      const cookie = sessionCookie(await login({ email: 'ada@example.com', redirect_url: '/' }));
      const headers = { cookie, connection: 'x-secret', 'x-secret': '1', 'proxy-authorization': 'Basic eA==', 'x-kept': '1' };
      const body = await new Promise<string>((resolve, reject) => {
        get(`${edge.url}/header-names`, { headers }, (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve(text));
        }).on('error', reject);
      });
      const names = JSON.parse(body) as string[];
      expect(names).toContain('x-kept');
      expect(names).not.toContain('x-secret');
      expect(names).not.toContain('proxy-authorization');
    });

    it('tears the upstream request down when the client goes away', async () => {
      let upstreamClosed!: () => void;
      const closed = new Promise<void>((resolve) => (upstreamClosed = resolve));
      const streaming = createServer((req: IncomingMessage, res) => {
        res.writeHead(200);
        const timer = setInterval(() => res.write('tick\n'), 20);
        req.socket.on('close', () => {
          clearInterval(timer);
          upstreamClosed();
        });
      });
      await new Promise<void>((resolve) => streaming.listen(0, '127.0.0.1', resolve));
      const streamingEdge = await emulator.proxy(`http://127.0.0.1:${(streaming.address() as AddressInfo).port}`);
      try {
        const cookie = sessionCookie(await login({ email: 'ada@example.com', redirect_url: '/' }));
        const abort = new AbortController();
        const res = await fetch(`${streamingEdge.url}/stream`, { headers: { cookie }, signal: abort.signal });
        await res.body?.getReader().read();
        abort.abort();
        await closed; // the test times out if the upstream stays open
      } finally {
        await streamingEdge.close();
        streaming.closeAllConnections();
        await new Promise((resolve) => streaming.close(resolve));
      }
    });

    it('treats an expired or foreign session cookie as no session', async () => {
      const expired = await emulator.signToken({ expiresIn: -120 });
      expect((await fetch(`${edge.url}/echo`, { headers: { cookie: `CF_Authorization=${expired}` } })).status).toBe(401);
      const other = await CfAccessEmulator.start();
      try {
        const foreign = await other.signToken();
        expect((await fetch(`${edge.url}/echo`, { headers: { cookie: `CF_Authorization=${foreign}` } })).status).toBe(401);
      } finally {
        await other.close();
      }
    });

    it('while down: Access paths answer 503, forwarding for a valid session goes on', async () => {
      const cookie = sessionCookie(await login({ email: 'ada@example.com', redirect_url: '/' }));
      emulator.setDown(true);
      try {
        expect((await fetch(`${edge.url}/cdn-cgi/access/get-identity`, { headers: { cookie } })).status).toBe(503);
        expect((await fetch(`${edge.url}/echo`, { headers: { cookie } })).status).toBe(200);
      } finally {
        emulator.setDown(false);
      }
    });

    it('refuses a target that is not an http:// URL', async () => {
      await expect(emulator.proxy('ftp://127.0.0.1:1')).rejects.toThrow(/http:\/\//);
      await expect(emulator.proxy('not a url')).rejects.toThrow(/not a URL/);
    });
  });
});
