import 'reflect-metadata';
import { Controller, Get, Headers, Req } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Server } from 'node:http';
import WebSocket, { WebSocketServer } from 'ws';
import { messageText } from '../support/message-text.js';
import { CfIdentity, Public } from '../../src/index.js';
import { type CfAccessEdgeProxy, CfAccessEmulator } from '../../src/testing/index.js';
import { ADAPTERS, type AdapterName, type RunningApp, startGuardedApp } from '../support/start-app.js';
import { type RunningSample, startSample } from '../../sample/start-sample.js';

@Controller('api')
class ApiController {
  @Public()
  @Get(['health', 'health/live', 'healthz'])
  health(@Req() req: { url?: string; originalUrl?: string }, @Headers('cf-access-jwt-assertion') token: string | undefined) {
    return { path: req.originalUrl ?? req.url, token: token ?? null };
  }

  @Get('me')
  me(@CfIdentity('email') email: string) {
    return { email };
  }
}

describe.each(ADAPTERS)('edge proxy bypass paths (%s)', (adapter: AdapterName) => {
  let emulator: CfAccessEmulator;
  let app: RunningApp;
  let edge: CfAccessEdgeProxy;
  const tokensSeenByWs: (string | null)[] = [];

  beforeAll(async () => {
    emulator = await CfAccessEmulator.start();
    app = await startGuardedApp(adapter, emulator.moduleOptions(), { controllers: [ApiController] });
    const wss = new WebSocketServer({ server: app.app.getHttpServer() as Server, path: '/api/health/ws' });
    wss.on('connection', (socket, request) => {
      tokensSeenByWs.push((request.headers['cf-access-jwt-assertion'] as string | undefined) ?? null);
      socket.send('hi');
    });
    edge = await emulator.proxy(app.url, { bypass: ['/api/health/'] });
  });
  afterAll(async () => {
    await emulator.close();
    await app.close();
  });

  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(edge.url + path, { headers: { accept: 'application/json', ...headers } });
    return { status: res.status, body: await res.json() };
  };

  it.each(['/api/health', '/api/health/', '/api/health/live', '/api/health?probe=1'])(
    'forwards %s without a session (the path and everything below it)',
    async (path) => {
      const { status, body } = await get(path);
      expect(status).toBe(adapter === 'express' || path !== '/api/health/' ? 200 : 404);
      if (status === 200) {
        expect(body).toEqual({ path, token: null });
      }
    },
  );

  it('never passes a client-sent Cf-Access-Jwt-Assertion on a bypass path', async () => {
    const forged = await emulator.signToken({ email: 'mallory@example.com' });
    expect(await get('/api/health', { 'cf-access-jwt-assertion': forged })).toEqual({ status: 200, body: { path: '/api/health', token: null } });
  });

  it.each(['/api/healthz', '/API/health', '/api/%68ealth', '/api/health/../me', '/api/health/%2e%2e/me', '/api/me'])(
    'needs a session for %s (no segment-boundary match after normalization)',
    async (path) => {
      expect(await get(path)).toMatchObject({ status: 401, body: { statusCode: 401, reason: 'missing_token' } });
    },
  );

  it('judges and forwards the normalized path: /x/../api/health reaches the app as /api/health', async () => {
    expect(await get('/x/../api/health')).toEqual({ status: 200, body: { path: '/api/health', token: null } });
  });

  it('forwards a WebSocket upgrade on a bypass path without a session and without a token', async () => {
    const client = new WebSocket(`${edge.url.replace(/^http/, 'ws')}/api/health/ws`, {
      headers: { 'cf-access-jwt-assertion': await emulator.signToken() },
    });
    try {
      expect(await new Promise((resolve, reject) => client.once('message', (data) => resolve(messageText(data))).once('error', reject))).toBe('hi');
      expect(tokensSeenByWs.at(-1)).toBeNull();
    } finally {
      client.close();
    }
  });

  it.each<[unknown, string]>([
    [['api/health'], '"bypass[0]" must be a path such as "/api/health"'],
    [['/ok', '//evil'], '"bypass[1]" must be a path'],
    [['/a?b=1'], '"bypass[0]" must be a path'],
    [['/api/*'], '"bypass[0]" must be a path'],
    [[42], '"bypass[0]" must be a path'],
    ['/api/health', '"bypass" must be an array'],
  ])('refuses the bypass list %j', async (bypass, message) => {
    await expect(emulator.proxy(app.url, { bypass: bypass as string[] })).rejects.toThrow(message);
  });
});

describe('npm run sample (emulated): the @Public() health check is a bypass path of the edge', () => {
  let sample: RunningSample;
  beforeAll(async () => {
    sample = await startSample({ logger: false, env: {} });
  });
  afterAll(() => sample.close());

  it('answers /api/health through the URL to open without a session, and still guards /api/me', async () => {
    const health = await fetch(`${sample.url}/api/health`, { headers: { accept: 'application/json' } });
    expect({ status: health.status, body: await health.json() }).toEqual({ status: 200, body: { status: 'ok' } });
    const me = await fetch(`${sample.url}/api/me`, { headers: { accept: 'application/json' } });
    expect({ status: me.status, body: await me.json() }).toMatchObject({ status: 401, body: { reason: 'missing_token' } });
  });
});
