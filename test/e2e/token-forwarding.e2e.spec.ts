import 'reflect-metadata';
import { Controller, Get, Injectable, Req } from '@nestjs/common';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  CfAccessGuard,
  CfAccessModule,
  type CfAccessModuleOptions,
  type CfAccessRequest,
  CfAccessService,
  CfAccessToken,
  OptionalIdentity,
  Public,
} from '../../src/index.js';
import { CfAccessEmulator } from '../../src/testing/index.js';
import { type AdapterName, ADAPTERS, jwt, type RunningApp, startApp, startGuardedApp } from '../support/start-app.js';

/** What a handler can learn about the verified token, three ways. */
interface TokenView {
  decorator: string | null;
  tokenOf: string | null;
  forwardHeaders: Record<string, string>;
}

@Controller()
class TokenController {
  constructor(private readonly cfAccess: CfAccessService) {}

  private view(decorator: string | undefined, request: CfAccessRequest): TokenView {
    return {
      decorator: decorator ?? null,
      tokenOf: this.cfAccess.tokenOf(request) ?? null,
      forwardHeaders: this.cfAccess.forwardHeaders(request),
    };
  }

  @Get('token')
  token(@CfAccessToken() token: string | undefined, @Req() request: CfAccessRequest): TokenView {
    return this.view(token, request);
  }

  @Public()
  @Get('public/token')
  publicToken(@CfAccessToken() token: string | undefined, @Req() request: CfAccessRequest): TokenView {
    return this.view(token, request);
  }

  @OptionalIdentity()
  @Get('optional/token')
  optionalToken(@CfAccessToken() token: string | undefined, @Req() request: CfAccessRequest): TokenView {
    return this.view(token, request);
  }

  /** Calls the downstream service with the forwarded token and reports what it received. */
  @Get('downstream')
  async downstream(@Req() request: CfAccessRequest): Promise<unknown> {
    const response = await fetch(downstreamUrl, { headers: this.cfAccess.forwardHeaders(request) });
    return response.json();
  }
}

/** Accepts `Authorization: Bearer <token>` before the configured sources. */
@Injectable()
class BearerCfAccessGuard extends CfAccessGuard {
  protected override extractToken(request: CfAccessRequest): string | undefined {
    const auth = request.headers.authorization;
    return typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : super.extractToken(request);
  }
}

const anonymous: TokenView = { decorator: null, tokenOf: null, forwardHeaders: {} };
const verified = (token: string): TokenView => ({
  decorator: token,
  tokenOf: token,
  forwardHeaders: { 'Cf-Access-Jwt-Assertion': token },
});

let emulator: CfAccessEmulator;
let downstream: Server;
let downstreamUrl: string;
/** The headers of every request the downstream service received. */
const received: IncomingHttpHeaders[] = [];

beforeAll(async () => {
  emulator = await CfAccessEmulator.start();
  downstream = createServer((request, response) => {
    received.push(request.headers);
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ assertion: request.headers['cf-access-jwt-assertion'] ?? null }));
  });
  await new Promise<void>((resolve) => downstream.listen(0, '127.0.0.1', resolve));
  downstreamUrl = `http://127.0.0.1:${(downstream.address() as AddressInfo).port}/whoami`;
});
afterAll(async () => {
  await new Promise((resolve) => downstream.close(resolve));
  await emulator.close();
});

describe.each(ADAPTERS)('the verified token: @CfAccessToken(), tokenOf, forwardHeaders (%s)', (adapter: AdapterName) => {
  describe('with the default token sources', () => {
    let app: RunningApp;
    beforeAll(async () => {
      app = await startGuardedApp(adapter, emulator.moduleOptions(), { controllers: [TokenController] });
    });
    afterAll(() => app.close());

    it('gives the token that came in the Cf-Access-Jwt-Assertion header', async () => {
      const token = await emulator.signToken({ email: 'header@example.com' });
      expect(await app.get('/token', jwt(token))).toMatchObject({ status: 200, body: verified(token) });
    });

    it('gives the token that came in the CF_Authorization cookie, as a header for the next hop', async () => {
      const token = await emulator.signToken({ email: 'cookie@example.com' });
      expect(await app.get('/token', { cookie: `theme=dark; CF_Authorization=${token}` })).toMatchObject({
        status: 200,
        body: verified(token),
      });
    });

    it('forwards the cookie token to a downstream service in the Cf-Access-Jwt-Assertion header', async () => {
      const token = await emulator.signToken({ email: 'forward@example.com' });
      received.length = 0;
      expect(await app.get('/downstream', { cookie: `CF_Authorization=${token}` })).toMatchObject({
        status: 200,
        body: { assertion: token },
      });
      expect(received).toHaveLength(1);
      expect(received[0]?.cookie).toBeUndefined();
    });

    it('gives nothing on a @Public() route, even when a valid token is sent (the guard verified none)', async () => {
      const token = await emulator.signToken();
      expect(await app.get('/public/token', jwt(token))).toMatchObject({ status: 200, body: anonymous });
    });

    it('gives nothing on an @OptionalIdentity() route for an anonymous request', async () => {
      expect(await app.get('/optional/token')).toMatchObject({ status: 200, body: anonymous });
    });

    it('never hands on an invalid token: anonymous on @OptionalIdentity(), refused before forwarding elsewhere', async () => {
      const expired = await emulator.signToken({ expiresIn: -3600 });
      expect(await app.get('/optional/token', jwt(expired))).toMatchObject({ status: 200, body: anonymous });
      received.length = 0;
      expect(await app.get('/downstream', jwt(expired))).toMatchObject({ status: 401, body: { reason: 'expired' } });
      expect(received).toHaveLength(0);
    });

    it('gives the token on an @OptionalIdentity() route when it was verified', async () => {
      const token = await emulator.signToken();
      expect(await app.get('/optional/token', jwt(token))).toMatchObject({ status: 200, body: verified(token) });
    });
  });

  it('gives the token from a custom tokenSources entry', async () => {
    const options: CfAccessModuleOptions = { ...emulator.moduleOptions(), tokenSources: [{ header: 'x-access-token' }] };
    const app = await startGuardedApp(adapter, options, { controllers: [TokenController] });
    try {
      const token = await emulator.signToken({ email: 'custom@example.com' });
      expect(await app.get('/token', { 'x-access-token': token })).toMatchObject({ status: 200, body: verified(token) });
      received.length = 0;
      expect(await app.get('/downstream', { 'x-access-token': token })).toMatchObject({ body: { assertion: token } });
    } finally {
      await app.close();
    }
  });

  it("gives the token a guard subclass's extractToken found (Authorization: Bearer)", async () => {
    const app = await startApp(adapter, {
      imports: [CfAccessModule.forRoot({ ...emulator.moduleOptions(), globalGuard: BearerCfAccessGuard })],
      controllers: [TokenController],
    });
    try {
      const token = await emulator.signToken({ email: 'bearer@example.com' });
      expect(await app.get('/token', { authorization: `Bearer ${token}` })).toMatchObject({
        status: 200,
        body: verified(token),
      });
    } finally {
      await app.close();
    }
  });
});
