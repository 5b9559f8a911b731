import 'reflect-metadata';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { mkdirSync } from 'node:fs';
import { type Browser, type Page } from 'playwright-core';
import { type RunningSample, startSample } from '../../sample/start-sample.js';
import { describeWithChromium, launchChromium } from '../support/browser.js';

const ARTIFACTS = 'test-artifacts';

/** The sample's whole flow in headless Chromium, through the emulator's login page. */
describeWithChromium('browser test')('sample app in a real browser (emulator proxy)', () => {
  let sample: RunningSample;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    sample = await startSample({ logger: false, env: {} });
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await sample?.close();
  });

  async function freshPage(): Promise<Page> {
    const context = await browser.newContext();
    return context.newPage();
  }

  it('shows the login page with emails, logs an admin in; profile, protected and admin pages show who is signed in', async () => {
    const page = await freshPage();
    await page.goto(`${sample.url}/profile`);
    await expect(page.locator('h1').textContent()).resolves.toBe('Sign in to continue');
    await page.screenshot({ path: `${ARTIFACTS}/login.png`, fullPage: true });
    await page.getByRole('button', { name: 'Log in as Ada Admin (admin@example.com)' }).click();
    await page.waitForURL(`${sample.url}/profile`);
    await expect(page.locator('.who').textContent()).resolves.toBe('Signed in as admin@example.com');
    await expect(page.locator('#email').textContent()).resolves.toBe('admin@example.com');
    await expect(page.locator('#name').textContent()).resolves.toBe('Ada Admin');
    await expect(page.locator('#groups').textContent()).resolves.toBe('admins');
    await expect(page.locator('#claims').textContent()).resolves.toContain(sample.url.replace(/:\d+$/, ''));
    await page.screenshot({ path: `${ARTIFACTS}/profile.png`, fullPage: true });

    const cookies = await page.context().cookies();
    expect(cookies.find((cookie) => cookie.name === 'CF_Authorization')).toMatchObject({ httpOnly: true, sameSite: 'Lax' });

    await page.getByRole('link', { name: 'Protected' }).click();
    await expect(page.locator('h1').textContent()).resolves.toBe('Protected');
    await expect(page.locator('.who').textContent()).resolves.toBe('Signed in as admin@example.com');

    await page.getByRole('link', { name: 'Admin' }).click();
    await expect(page.locator('#admin-welcome').textContent()).resolves.toContain('admin@example.com');
    await expect(page.locator('.who').textContent()).resolves.toBe('Signed in as admin@example.com');

    await page.getByRole('link', { name: 'Downstream' }).click();
    await expect(page.locator('#downstream').textContent()).resolves.toContain('"subject":"admin@example.com"');
    await page.context().close();
  });

  it('refuses /admin to a non-admin with 403; the 403 and 404 pages show who is signed in; logout clears access', async () => {
    const page = await freshPage();
    await page.goto(`${sample.url}/admin`);
    await page.fill('#email', 'user@example.com');
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
    await page.waitForURL(`${sample.url}/admin`);
    await expect(page.locator('h1').textContent()).resolves.toBe('403 Forbidden');
    await expect(page.locator('#reason').textContent()).resolves.toBe('identity_rejected');
    await expect(page.locator('.who').textContent()).resolves.toBe('Signed in as user@example.com');
    await page.screenshot({ path: `${ARTIFACTS}/forbidden.png`, fullPage: true });

    const missing = await page.goto(`${sample.url}/no-such-page`);
    expect(missing?.status()).toBe(404);
    await expect(page.locator('h1').textContent()).resolves.toBe('404 Not Found');
    await expect(page.locator('.who').textContent()).resolves.toBe('Signed in as user@example.com');
    await page.screenshot({ path: `${ARTIFACTS}/not-found.png`, fullPage: true });

    const profile = await page.goto(`${sample.url}/profile`);
    expect(profile?.status()).toBe(200);
    await expect(page.locator('#email').textContent()).resolves.toBe('user@example.com');
    const switchUser = await page.locator('#switch-user').getAttribute('href');
    const login = new URL(switchUser ?? '');
    expect(login.pathname).toBe(`/cdn-cgi/access/login/${new URL(sample.url).host}`);
    expect(login.searchParams.get('redirect_url')).toBe('/profile');
    expect(login.searchParams.get('kid')).toMatch(/^[0-9a-f]{64}$/);

    await page.locator('#logout').click();
    await expect(page.locator('h1').textContent()).resolves.toBe('You have been logged out');
    // logoutUrl() is on the team domain: no dead "Log in again" link to the emulator's own root.
    await expect(page.getByText('Open your application again to log in.').count()).resolves.toBe(1);
    expect((await page.context().cookies()).some((cookie) => cookie.name === 'CF_Authorization')).toBe(false);

    const after = await page.goto(`${sample.url}/profile`);
    expect(after?.status()).toBe(401);
    await expect(page.locator('h1').textContent()).resolves.toBe('Sign in to continue');

    // CfAccessService.loginUrl() in Cloudflare's format, served by the emulator: log in, land on the path.
    await page.goto(login.href);
    await page.getByRole('button', { name: 'Log in as Ada Admin (admin@example.com)' }).click();
    await page.waitForURL(`${sample.url}/profile`);
    await expect(page.locator('#email').textContent()).resolves.toBe('admin@example.com');
    await page.context().close();
  });
});
