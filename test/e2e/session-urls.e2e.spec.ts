import 'reflect-metadata';
import { Controller, Get } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CfAccessService, CfIdentity } from '../../src/index.js';
import { type CfAccessEdgeProxy, CfAccessEmulator } from '../../src/testing/index.js';
import { type AdapterName, ADAPTERS, type RunningApp, startGuardedApp } from '../support/start-app.js';

@Controller()
class ProfileController {
  @Get('profile')
  profile(@CfIdentity('email') email: string) {
    return { email };
  }
}

/** GET `url` without following redirects. */
const visit = (url: string, headers: Record<string, string> = {}) => fetch(url, { headers, redirect: 'manual' });

/** The `CF_Authorization=<token>` pair of a Set-Cookie header. */
const sessionCookie = (response: Response) => /CF_Authorization=[^;]*/.exec(response.headers.get('set-cookie') ?? '')?.[0] ?? '';

let emulator: CfAccessEmulator;
beforeAll(async () => {
  emulator = await CfAccessEmulator.start();
});
afterAll(() => emulator.close());

describe.each(ADAPTERS)("loginUrl / logoutUrl against the emulator's edge proxy (%s)", (adapter: AdapterName) => {
  let app: RunningApp;
  let edge: CfAccessEdgeProxy;
  let cfAccess: CfAccessService;
  let appHost: string;
  beforeAll(async () => {
    app = await startGuardedApp(adapter, emulator.moduleOptions(), { controllers: [ProfileController] });
    edge = await emulator.proxy(app.url);
    cfAccess = app.app.get(CfAccessService);
    appHost = new URL(edge.url).host;
  });
  afterAll(async () => {
    await edge.close();
    await app.close();
  });

  it('logs in through the login URL and lands on the redirect path with a session', async () => {
    const loginUrl = cfAccess.loginUrl({ hostname: appHost, redirectUrl: '/profile?tab=1' });
    expect(loginUrl).toBe(
      `${emulator.teamDomain}/cdn-cgi/access/login/${appHost}?kid=${emulator.audience}&redirect_url=%2Fprofile%3Ftab%3D1`,
    );

    const toApp = await visit(loginUrl);
    expect(toApp.status).toBe(302);
    expect(toApp.headers.get('location')).toBe(`${edge.url}/cdn-cgi/access/login?redirect_url=%2Fprofile%3Ftab%3D1`);

    const page = await visit(toApp.headers.get('location')!);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Sign in to continue');
    expect(html).toContain('name="redirect_url" value="/profile?tab=1"');

    const loggedIn = await fetch(`${edge.url}/cdn-cgi/access/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: edge.url, 'sec-fetch-site': 'same-origin' },
      body: new URLSearchParams({ email: 'ada@example.com', redirect_url: '/profile?tab=1' }).toString(),
    });
    expect(loggedIn.status).toBe(302);
    expect(loggedIn.headers.get('location')).toBe('/profile?tab=1');

    const profile = await visit(`${edge.url}/profile?tab=1`, { cookie: sessionCookie(loggedIn) });
    expect(profile.status).toBe(200);
    expect(await profile.json()).toEqual({ email: 'ada@example.com' });
  });

  it('logs out through the logout URL: the session cookie is cleared', async () => {
    const logoutUrl = cfAccess.logoutUrl();
    expect(logoutUrl).toBe(`${emulator.teamDomain}/cdn-cgi/access/logout`);
    const response = await visit(logoutUrl);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('You have been logged out');
    expect(response.headers.get('set-cookie')).toMatch(/^CF_Authorization=;.*Max-Age=0/);
  });
});

describe("the emulator's login URL refuses what Cloudflare would", () => {
  const loginPath = (hostname: string, query: Record<string, string>) =>
    `${emulator.teamDomain}/cdn-cgi/access/login/${hostname}?${new URLSearchParams(query).toString()}`;

  it('answers 400 for a kid that is not the AUD tag', async () => {
    const response = await visit(loginPath('127.0.0.1:1234', { kid: 'another-app', redirect_url: '/' }));
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ err: "kid is not this team's AUD tag" });
  });

  it.each(['app.example.com', 'evil.example:443', 'not a host'])('never sends anyone off this machine (%s: 400)', async (hostname) => {
    const response = await visit(loginPath(encodeURIComponent(hostname), { kid: emulator.audience, redirect_url: '/' }));
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
  });

  it.each(['//evil.example/', 'https://evil.example/', '/.//evil.example'])(
    'returns to / instead of a redirect_url that leaves the site (%s)',
    async (redirectUrl) => {
      const response = await visit(loginPath('127.0.0.1:1234', { kid: emulator.audience, redirect_url: redirectUrl }));
      expect(response.status).toBe(302);
      expect(response.headers.get('location')).toBe('http://127.0.0.1:1234/cdn-cgi/access/login?redirect_url=%2F');
    },
  );

  it('answers 405 to anything but GET', async () => {
    const response = await fetch(loginPath('127.0.0.1:1234', { kid: emulator.audience }), { method: 'POST', redirect: 'manual' });
    expect(response.status).toBe(405);
  });

  it('answers 503 while the team is down', async () => {
    emulator.setDown(true);
    try {
      expect((await visit(loginPath('127.0.0.1:1234', { kid: emulator.audience }))).status).toBe(503);
    } finally {
      emulator.setDown(false);
    }
  });
});
