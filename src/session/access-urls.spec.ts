import 'reflect-metadata';
import { BadRequestException } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { describe, expect, it } from '@jest/globals';
import { CfAccessModule } from '../cf-access.module.js';
import { CfAccessService } from '../cf-access.service.js';
import { loginUrl, logoutUrl } from './access-urls.js';

const TEAM = 'https://acme.cloudflareaccess.com';
const AUD = '4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2';

const login = (hostname: string, redirectUrl?: string) =>
  loginUrl(TEAM, AUD, redirectUrl === undefined ? { hostname } : { hostname, redirectUrl });

describe('loginUrl', () => {
  it("builds Cloudflare's login URL: team domain, app hostname, kid and the URL-encoded redirect path", () => {
    expect(login('app.example.com', '/reports?page=2&sort=date')).toBe(
      `${TEAM}/cdn-cgi/access/login/app.example.com?kid=${AUD}&redirect_url=%2Freports%3Fpage%3D2%26sort%3Ddate`,
    );
  });

  it('returns to / when no redirectUrl is given', () => {
    expect(login('app.example.com')).toBe(`${TEAM}/cdn-cgi/access/login/app.example.com?kid=${AUD}&redirect_url=%2F`);
  });

  it('lower-cases the hostname and keeps a port (local edges)', () => {
    expect(login('App.Example.COM')).toBe(`${TEAM}/cdn-cgi/access/login/app.example.com?kid=${AUD}&redirect_url=%2F`);
    expect(login('127.0.0.1:40123')).toBe(`${TEAM}/cdn-cgi/access/login/127.0.0.1:40123?kid=${AUD}&redirect_url=%2F`);
    expect(login('[::1]:8080')).toBe(`${TEAM}/cdn-cgi/access/login/[::1]:8080?kid=${AUD}&redirect_url=%2F`);
    expect(login('localhost')).toBe(`${TEAM}/cdn-cgi/access/login/localhost?kid=${AUD}&redirect_url=%2F`);
  });

  it.each([
    ['dot segments', '/a/b/../c', '%2Fa%2Fc'],
    ['encoded dot segments', '/a/%2e%2e/c', '%2Fc'],
    ['a fragment', '/docs#install', '%2Fdocs%23install'],
    ['percent-encoded text, kept as sent', '/search?q=a%20b', '%2Fsearch%3Fq%3Da%2520b'],
    ['a non-ASCII path, percent-encoded', '/café', '%2Fcaf%25C3%25A9'],
  ])('normalizes a redirect path with %s', (_label, redirectUrl, encoded) => {
    expect(login('app.example.com', redirectUrl)).toBe(
      `${TEAM}/cdn-cgi/access/login/app.example.com?kid=${AUD}&redirect_url=${encoded}`,
    );
  });

  it.each([
    ['an absolute URL', 'https://evil.example/'],
    ['a protocol-relative URL', '//evil.example/'],
    ['a protocol-relative URL after normalization', '/.//evil.example/'],
    ['a protocol-relative URL behind ..', '/a/..//evil.example/'],
    ['a backslash', '/\\evil.example/'],
    ['a relative path', 'reports'],
    ['an empty string', ''],
    ['a space', '/a b'],
    ['a control character', '/a\nb'],
    ['a javascript: URL', 'javascript:alert(1)'],
  ])('refuses a redirectUrl that is %s, naming "redirectUrl"', (_label, redirectUrl) => {
    expect(() => login('app.example.com', redirectUrl)).toThrow(BadRequestException);
    expect(() => login('app.example.com', redirectUrl)).toThrow(
      /^CfAccessService\.loginUrl: "redirectUrl" must be a path on the application starting with exactly one "\/"/,
    );
  });

  it.each([
    ['a scheme', 'https://app.example.com'],
    ['a path', 'app.example.com/login'],
    ['a query', 'app.example.com?x=1'],
    ['credentials', 'user@app.example.com'],
    ['an empty label', 'app..example.com'],
    ['a leading hyphen', '-app.example.com'],
    ['an underscore', 'app_1.example.com'],
    ['a space', 'app example.com'],
    ['an empty port', 'app.example.com:'],
    ['a port over 65535', 'app.example.com:65536'],
    ['a port with a sign', 'app.example.com:+80'],
    ['an unbracketed IPv6 address', '::1'],
    ['a bad IPv6 address', '[::g]'],
    ['an empty string', ''],
    ['a name over 253 characters', `${'a'.repeat(60)}.`.repeat(5) + 'com'],
  ])('refuses a hostname with %s, naming "hostname"', (_label, hostname) => {
    expect(() => login(hostname)).toThrow(BadRequestException);
    expect(() => login(hostname)).toThrow(/^CfAccessService\.loginUrl: "hostname" must be the application's hostname/);
  });
});

describe('logoutUrl', () => {
  it("is the team domain's /cdn-cgi/access/logout", () => {
    expect(logoutUrl(TEAM)).toBe('https://acme.cloudflareaccess.com/cdn-cgi/access/logout');
  });
});

describe('CfAccessService.loginUrl / logoutUrl', () => {
  async function service(options: { team: string; audience: string | string[] }): Promise<CfAccessService> {
    const moduleRef = await Test.createTestingModule({ imports: [CfAccessModule.forRoot(options)] }).compile();
    return moduleRef.get(CfAccessService);
  }

  it('uses the normalized team domain and the first configured AUD tag as kid', async () => {
    const cfAccess = await service({ team: 'Acme', audience: ['first-aud', 'second-aud'] });
    expect(cfAccess.loginUrl({ hostname: 'app.example.com', redirectUrl: '/profile' })).toBe(
      'https://acme.cloudflareaccess.com/cdn-cgi/access/login/app.example.com?kid=first-aud&redirect_url=%2Fprofile',
    );
    expect(cfAccess.logoutUrl()).toBe('https://acme.cloudflareaccess.com/cdn-cgi/access/logout');
  });
});
