import { describe, expect, it } from '@jest/globals';
import { CF_ACCESS_DEFAULTS } from './cf-access.constants.js';
import { resolveCfAccessOptions } from './cf-access.options.js';

const AUD = 'aud-tag-0123456789abcdef';
const TEAM_DOMAIN = 'https://acme.cloudflareaccess.com';

/** Valid options with `overrides` merged in; an `undefined` override removes the option. */
function withOptions(overrides: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { teamDomain: TEAM_DOMAIN, audience: AUD, ...overrides };
  return Object.fromEntries(Object.entries(merged).filter(([, value]) => value !== undefined));
}

function resolve(overrides: Record<string, unknown>) {
  return resolveCfAccessOptions(withOptions(overrides));
}

function teamDomainOf(teamDomain: string): string {
  return resolve({ teamDomain }).teamDomain;
}

describe('resolveCfAccessOptions', () => {
  describe('defaults', () => {
    it('fills every optional option with CF_ACCESS_DEFAULTS', () => {
      const resolved = resolveCfAccessOptions({ teamDomain: TEAM_DOMAIN, audience: AUD });

      expect(resolved).toEqual({
        teamDomain: TEAM_DOMAIN,
        audience: [AUD],
        tokenSources: CF_ACCESS_DEFAULTS.tokenSources,
        clockTolerance: CF_ACCESS_DEFAULTS.clockTolerance,
        jwks: CF_ACCESS_DEFAULTS.jwks,
        allowServiceTokens: CF_ACCESS_DEFAULTS.allowServiceTokens,
        identity: CF_ACCESS_DEFAULTS.identity,
        prefetchKeys: false,
        tokenCacheSize: 10_000,
      });
    });

    it('matches the documented default values (DESIGN §2)', () => {
      const resolved = resolveCfAccessOptions({ teamDomain: TEAM_DOMAIN, audience: AUD });

      expect(resolved.tokenSources).toEqual([{ header: 'cf-access-jwt-assertion' }, { cookie: 'CF_Authorization' }]);
      expect(resolved.clockTolerance).toBe(30);
      expect(resolved.jwks).toEqual({
        cacheMaxAge: 600_000,
        cooldown: 30_000,
        timeout: 5_000,
        staleIfError: 86_400_000,
      });
      expect(resolved.allowServiceTokens).toBe(true);
      expect(resolved.identity).toEqual({ cacheTtl: 300_000, cacheMaxEntries: 10_000, timeout: 5_000 });
      expect(resolved.prefetchKeys).toBe(false);
    });

    it('fills the jwks timings that are not given and keeps those that are', () => {
      const { jwks } = resolve({ jwks: { cooldown: 100 } });

      expect(jwks).toEqual({ ...CF_ACCESS_DEFAULTS.jwks, cooldown: 100 });
    });

    it('keeps explicit values of every option', () => {
      const store = { get: () => undefined, set: () => undefined };
      const resolved = resolve({
        audience: ['one', 'two'],
        tokenSources: [{ cookie: 'Session' }],
        clockTolerance: 0,
        jwks: { cacheMaxAge: 1, cooldown: 2, timeout: 3, staleIfError: 4 },
        allowServiceTokens: false,
        identity: { store, cacheTtl: 5, cacheMaxEntries: 6, timeout: 7 },
        prefetchKeys: true,
        tokenCacheSize: 0,
      });

      expect(resolved).toEqual({
        teamDomain: TEAM_DOMAIN,
        audience: ['one', 'two'],
        tokenSources: [{ cookie: 'Session' }],
        clockTolerance: 0,
        jwks: { cacheMaxAge: 1, cooldown: 2, timeout: 3, staleIfError: 4 },
        allowServiceTokens: false,
        identity: { store, cacheTtl: 5, cacheMaxEntries: 6, timeout: 7 },
        prefetchKeys: true,
        tokenCacheSize: 0,
      });
    });

    it('returns frozen options', () => {
      const resolved = resolve({ audience: ['one'], jwks: { cooldown: 5 } });

      expect(Object.isFrozen(resolved)).toBe(true);
      expect(Object.isFrozen(resolved.audience)).toBe(true);
      expect(Object.isFrozen(resolved.jwks)).toBe(true);
    });

    it('returns frozen defaults that no caller can change for the next one', () => {
      const resolved = resolve({});

      expect(Object.isFrozen(resolved.jwks)).toBe(true);
      expect(Object.isFrozen(resolved.tokenSources)).toBe(true);
      expect(resolved.tokenSources.every((source) => Object.isFrozen(source))).toBe(true);
    });

    it('copies the audience array so later changes to the input do not leak in', () => {
      const audience = ['one'];
      const resolved = resolve({ audience });
      audience.push('two');

      expect(resolved.audience).toEqual(['one']);
    });
  });

  describe('options object', () => {
    it.each([
      ['undefined', undefined],
      ['null', null],
      ['a string', 'https://acme.cloudflareaccess.com'],
      ['an array', [TEAM_DOMAIN, AUD]],
    ])('rejects options that are %s', (_label, options) => {
      expect(() => resolveCfAccessOptions(options)).toThrow(/options must be an object/);
    });

    it('names an unknown top-level option', () => {
      expect(() => resolve({ audiences: [AUD] })).toThrow(/"audiences" is not an option/);
    });

    it('names a top-level option whose case is wrong', () => {
      expect(() => resolve({ teamdomain: TEAM_DOMAIN })).toThrow(/"teamdomain"/);
    });

    it('prefixes error messages with the module name', () => {
      expect(() => resolve({ audience: '' })).toThrow(/^CfAccessModule: /);
    });
  });

  describe('teamDomain', () => {
    it('keeps a canonical https origin as it is', () => {
      expect(teamDomainOf(TEAM_DOMAIN)).toBe(TEAM_DOMAIN);
    });

    it('drops one trailing slash', () => {
      expect(teamDomainOf('https://acme.cloudflareaccess.com/')).toBe(TEAM_DOMAIN);
    });

    it('lower-cases the scheme and host', () => {
      expect(teamDomainOf('HTTPS://Acme.CloudflareAccess.COM')).toBe(TEAM_DOMAIN);
    });

    it('drops the default https port', () => {
      expect(teamDomainOf('https://acme.cloudflareaccess.com:443')).toBe(TEAM_DOMAIN);
    });

    it('drops the default http port on loopback', () => {
      expect(teamDomainOf('http://localhost:80/')).toBe('http://localhost');
    });

    it('keeps a non-default port', () => {
      expect(teamDomainOf('https://acme.cloudflareaccess.com:8443/')).toBe('https://acme.cloudflareaccess.com:8443');
    });

    it('accepts a custom domain', () => {
      expect(teamDomainOf('https://login.Example.org/')).toBe('https://login.example.org');
    });

    it.each([
      ['localhost', 'http://localhost:3000', 'http://localhost:3000'],
      ['127.0.0.1', 'http://127.0.0.1:8787/', 'http://127.0.0.1:8787'],
      ['another 127.0.0.0/8 address', 'http://127.0.0.5', 'http://127.0.0.5'],
      ['the IPv6 loopback', 'http://[::1]:9000', 'http://[::1]:9000'],
    ])('allows http:// on %s', (_label, input, expected) => {
      expect(teamDomainOf(input)).toBe(expected);
    });

    it.each([
      ['a public host', 'http://acme.cloudflareaccess.com'],
      ['a private address', 'http://10.0.0.1'],
      ['a host that merely starts with localhost', 'http://localhost.evil.example'],
      ['a host that merely starts with 127.0.0.1', 'http://127.0.0.1.evil.example'],
      ['the unspecified address', 'http://0.0.0.0:3000'],
    ])('rejects http:// on %s', (_label, input) => {
      expect(() => teamDomainOf(input)).toThrow(/"teamDomain".*http:\/\/ only for loopback/);
    });

    it('rejects an ftp:// URL', () => {
      expect(() => teamDomainOf('ftp://acme.cloudflareaccess.com')).toThrow(/"teamDomain".*got ftp:/);
    });

    it.each([
      ['a path', 'https://acme.cloudflareaccess.com/cdn-cgi/access/certs'],
      ['two trailing slashes', 'https://acme.cloudflareaccess.com//'],
      ['a query', 'https://acme.cloudflareaccess.com/?team=acme'],
      ['an empty query', 'https://acme.cloudflareaccess.com?'],
      ['a fragment', 'https://acme.cloudflareaccess.com#top'],
      ['an empty fragment', 'https://acme.cloudflareaccess.com/#'],
      ['credentials', 'https://user:secret@acme.cloudflareaccess.com'],
      ['a user name', 'https://user@acme.cloudflareaccess.com'],
    ])('rejects a team domain with %s', (_label, input) => {
      expect(() => teamDomainOf(input)).toThrow(/"teamDomain".*without credentials, path, query or fragment/);
    });

    it.each([
      ['a bare host name', 'acme.cloudflareaccess.com'],
      ['plain text', 'not a url'],
      ['a scheme with no host', 'https://'],
    ])('rejects %s that is not a URL', (_label, input) => {
      expect(() => teamDomainOf(input)).toThrow(/"teamDomain".*invalid URL/);
    });

    it('rejects a host:port without a scheme', () => {
      expect(() => teamDomainOf('localhost:3000')).toThrow(/"teamDomain"/);
    });

    it.each([
      ['missing', undefined],
      ['empty', ''],
      ['whitespace', '   '],
      ['not a string', 42],
      ['null', null],
    ])('requires a team domain (when %s and no team is given)', (_label, teamDomain) => {
      const options = withOptions({ teamDomain: undefined });
      if (teamDomain !== undefined) {
        options.teamDomain = teamDomain;
      }

      expect(() => resolveCfAccessOptions(options)).toThrow(/"teamDomain" is required.*"team"/);
    });
  });

  describe('team', () => {
    it('expands a team name to its cloudflareaccess.com origin', () => {
      const resolved = resolve({ teamDomain: undefined, team: 'acme' });

      expect(resolved.teamDomain).toBe(TEAM_DOMAIN);
    });

    it('lower-cases an upper-case team name', () => {
      expect(resolve({ teamDomain: undefined, team: 'AcMe-2' }).teamDomain).toBe('https://acme-2.cloudflareaccess.com');
    });

    it('accepts digits and inner hyphens', () => {
      expect(resolve({ teamDomain: undefined, team: '42-my-team' }).teamDomain).toBe(
        'https://42-my-team.cloudflareaccess.com',
      );
    });

    it.each([
      ['acme.cloudflareaccess.com', 'https://acme.cloudflareaccess.com'],
      ['Acme.CloudflareAccess.COM', 'https://acme.cloudflareaccess.com'],
      ['my-team-2.cloudflareaccess.com', 'https://my-team-2.cloudflareaccess.com'],
    ])('accepts the team\'s Access domain %s, in any case', (team, expected) => {
      expect(resolve({ teamDomain: undefined, team }).teamDomain).toBe(expected);
    });

    it.each([
      ['a dot', 'acme.evil'],
      ['another domain', 'acme.example.com'],
      ['a look-alike domain', 'acme.cloudflareaccess.com.evil.com'],
      ['a domain ending like the Access one', 'acme.notcloudflareaccess.com'],
      ['a sub-domain of a team', 'a.acme.cloudflareaccess.com'],
      ['an empty label', '.cloudflareaccess.com'],
      ['the Access domain alone', 'cloudflareaccess.com'],
      ['a trailing dot', 'acme.cloudflareaccess.com.'],
      ['a path', 'acme.cloudflareaccess.com/login'],
      ['a trailing slash', 'acme.cloudflareaccess.com/'],
      ['a port', 'acme.cloudflareaccess.com:443'],
      ['a scheme', 'https://acme'],
      ['credentials', 'user@acme.cloudflareaccess.com'],
      ['a query', 'acme.cloudflareaccess.com?x=1'],
      ['surrounding spaces', ' acme.cloudflareaccess.com '],
      ['a slash', 'acme/evil'],
      ['a leading hyphen', '-acme'],
      ['a trailing hyphen', 'acme-'],
      ['an underscore', 'ac_me'],
      ['a space', 'ac me'],
      ['a full URL', 'https://acme.cloudflareaccess.com'],
      ['an empty name', ''],
      ['more than 63 characters', 'a'.repeat(64)],
      ['a number', 42],
    ])('rejects a team name with %s, naming "team"', (_label, team) => {
      expect(() => resolve({ teamDomain: undefined, team })).toThrow(
        /^CfAccessModule: "team" must be a team name or its Access domain: "acme" or "acme\.cloudflareaccess\.com"/,
      );
    });

    it('rejects team and teamDomain given together, naming both', () => {
      expect(() => resolve({ team: 'acme' })).toThrow(/"team" cannot be given together with "teamDomain"/);
    });

    it('rejects team and teamDomain together even when they agree', () => {
      expect(() => resolve({ team: 'acme', teamDomain: TEAM_DOMAIN })).toThrow(/"team"/);
    });
  });

  describe('audience', () => {
    it('accepts one AUD tag as a string and returns it as a list', () => {
      expect(resolve({ audience: AUD }).audience).toEqual([AUD]);
    });

    it('accepts a list of AUD tags in order', () => {
      expect(resolve({ audience: ['b', 'a'] }).audience).toEqual(['b', 'a']);
    });

    it('keeps a tag exactly as given (no trimming or case change)', () => {
      expect(resolve({ audience: 'AbC' }).audience).toEqual(['AbC']);
    });

    it.each([
      ['missing', undefined],
      ['an empty string', ''],
      ['whitespace', ' \t '],
      ['an empty array', []],
      ['an array with an empty string', [AUD, '']],
      ['an array with a whitespace string', [' ']],
      ['an array with a non-string', [AUD, 7]],
      ['a number', 42],
      ['an object', { tag: AUD }],
      ['null', null],
    ])('rejects an audience that is %s', (_label, audience) => {
      const options = withOptions({ audience: undefined });
      if (audience !== undefined) {
        options.audience = audience;
      }

      expect(() => resolveCfAccessOptions(options)).toThrow(
        /"audience" must be a non-empty string or array of non-empty strings/,
      );
    });
  });

  describe('tokenSources', () => {
    it('accepts header and cookie sources in the given order', () => {
      const sources = [{ cookie: 'CF_Authorization' }, { header: 'x-token' }];

      expect(resolve({ tokenSources: sources }).tokenSources).toEqual(sources);
    });

    it('lower-cases header names (Node lower-cases incoming headers)', () => {
      expect(resolve({ tokenSources: [{ header: 'Cf-Access-Jwt-Assertion' }] }).tokenSources).toEqual([
        { header: 'cf-access-jwt-assertion' },
      ]);
    });

    it('keeps the case of cookie names (cookie names are case-sensitive)', () => {
      expect(resolve({ tokenSources: [{ cookie: 'CF_Authorization' }] }).tokenSources).toEqual([
        { cookie: 'CF_Authorization' },
      ]);
    });

    it('rejects an empty array', () => {
      expect(() => resolve({ tokenSources: [] })).toThrow(/"tokenSources" must be a non-empty array/);
    });

    it.each([
      ['a string', 'cf-access-jwt-assertion'],
      ['an object', { header: 'cf-access-jwt-assertion' }],
      ['null', null],
    ])('rejects tokenSources that is %s', (_label, tokenSources) => {
      expect(() => resolve({ tokenSources })).toThrow(/"tokenSources" must be a non-empty array/);
    });

    it('rejects an entry with both header and cookie, naming its index', () => {
      expect(() =>
        resolve({ tokenSources: [{ header: 'x-token' }, { header: 'x-other', cookie: 'CF_Authorization' }] }),
      ).toThrow(/"tokenSources\[1\]" must be \{ header: "<header name>" \} or \{ cookie: "<cookie name>" \}/);
    });

    it.each([
      ['an empty object', {}],
      ['an unknown key', { query: 'token' }],
      ['an empty header name', { header: '' }],
      ['a header name with a space', { header: 'x token' }],
      ['a header name with a colon', { header: 'x-token:' }],
      ['a non-string header name', { header: 1 }],
      ['an empty cookie name', { cookie: '' }],
      ['a cookie name with "="', { cookie: 'a=b' }],
      ['a cookie name with ";"', { cookie: 'a;b' }],
      ['a non-string cookie name', { cookie: ['CF_Authorization'] }],
      ['a string', 'cf-access-jwt-assertion'],
      ['null', null],
      ['an array', [{ header: 'x-token' }]],
    ])('rejects an entry that is %s', (_label, entry) => {
      expect(() => resolve({ tokenSources: [entry] })).toThrow(/"tokenSources\[0\]"/);
    });
  });

  describe('clockTolerance', () => {
    it('accepts 0 and fractional seconds', () => {
      expect(resolve({ clockTolerance: 0 }).clockTolerance).toBe(0);
      expect(resolve({ clockTolerance: 1.5 }).clockTolerance).toBe(1.5);
    });

    it.each([
      ['negative', -1],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['a numeric string', '30'],
      ['null', null],
      ['a boolean', true],
    ])('rejects a tolerance that is %s', (_label, clockTolerance) => {
      expect(() => resolve({ clockTolerance })).toThrow(/"clockTolerance" must be a finite number >= 0/);
    });
  });

  describe('jwks', () => {
    it('names an unknown key with its jwks. prefix (typos do not pass silently)', () => {
      expect(() => resolve({ jwks: { cooldwn: 100 } })).toThrow(/"jwks\.cooldwn" is not an option/);
    });

    it('lists the known jwks keys in the unknown-key error', () => {
      expect(() => resolve({ jwks: { maxAge: 100 } })).toThrow(/cacheMaxAge, cooldown, timeout, staleIfError/);
    });

    it.each([
      ['null', null],
      ['a number', 5000],
      ['a string', 'fast'],
      ['an array', [100]],
    ])('rejects jwks that is %s', (_label, jwks) => {
      expect(() => resolve({ jwks })).toThrow(/"jwks" must be an object/);
    });

    it('accepts an empty object and fills every default', () => {
      expect(resolve({ jwks: {} }).jwks).toEqual(CF_ACCESS_DEFAULTS.jwks);
    });

    it('allows cooldown 0 (refetch on every unknown kid)', () => {
      expect(resolve({ jwks: { cooldown: 0 } }).jwks.cooldown).toBe(0);
    });

    it('allows staleIfError 0 (no stale keys while the endpoint fails)', () => {
      expect(resolve({ jwks: { staleIfError: 0 } }).jwks.staleIfError).toBe(0);
    });

    it('refuses cacheMaxAge 0 (keys would be unusable the moment they arrive)', () => {
      expect(() => resolve({ jwks: { cacheMaxAge: 0 } })).toThrow(/"jwks\.cacheMaxAge" must be a finite number > 0/);
    });

    it.each([0, -1, 2500.5, 5e9, '200'])('refuses timeout %p (AbortSignal.timeout takes 1 to 2^31-1 whole ms)', (timeout) => {
      expect(() => resolve({ jwks: { timeout } })).toThrow(
        /"jwks\.timeout" must be a whole number of milliseconds from 1 to 2147483647/,
      );
      expect(() => resolve({ identity: { timeout } })).toThrow(/"identity\.timeout" must be a whole number/);
    });

    it.each([
      ['cacheMaxAge', -1],
      ['cooldown', -1],
      ['staleIfError', -1],
      ['cacheMaxAge', Number.NaN],
      ['cooldown', Number.POSITIVE_INFINITY],
      ['staleIfError', null],
    ])('rejects jwks.%s = %p', (name, value) => {
      expect(() => resolve({ jwks: { [name]: value } })).toThrow(
        new RegExp(`"jwks\\.${name}" must be a finite number`),
      );
    });
  });

  describe('allowServiceTokens', () => {
    it('accepts false', () => {
      expect(resolve({ allowServiceTokens: false }).allowServiceTokens).toBe(false);
    });

    it.each([
      ['a string', 'false'],
      ['a number', 0],
      ['null', null],
    ])('rejects a value that is %s', (_label, allowServiceTokens) => {
      expect(() => resolve({ allowServiceTokens })).toThrow(/"allowServiceTokens" must be true or false/);
    });
  });

  describe('identity', () => {
    it.each<[string, unknown, RegExp]>([
      ['a store without set', { store: { get: () => 1 } }, /"identity\.store" must have get\(key\) and set/],
      ['a negative cacheTtl', { cacheTtl: -1 }, /"identity\.cacheTtl" must be a finite number >= 0/],
      ['a zero cacheMaxEntries', { cacheMaxEntries: 0 }, /"identity\.cacheMaxEntries" must be a finite number > 0/],
      ['an unknown key', { ttl: 5 }, /"identity\.ttl" is not an option/],
      ['a non-object', 'redis', /"identity" must be an object/],
    ])('refuses %s', (_name, identity, message) => {
      expect(() => resolve({ identity })).toThrow(message);
    });
  });

  describe('tokenCacheSize', () => {
    it.each([-1, 1.5, '10', Number.POSITIVE_INFINITY])('refuses %p', (tokenCacheSize) => {
      expect(() => resolve({ tokenCacheSize })).toThrow(/"tokenCacheSize" must be a whole number >= 0/);
    });
  });

  describe('prefetchKeys', () => {
    it('must be a boolean', () => {
      expect(() => resolve({ prefetchKeys: 'yes' })).toThrow(/"prefetchKeys" must be true or false/);
    });
  });

  describe('userResolver', () => {
    class UsersResolver {
      resolve(): null {
        return null;
      }
    }

    it('is undefined when not given', () => {
      expect(resolve({}).userResolver).toBeUndefined();
    });

    it('keeps a class with a resolve method, as given (DI instantiates it)', () => {
      expect(resolve({ userResolver: UsersResolver }).userResolver).toBe(UsersResolver);
    });

    it.each([
      ['an instance', new UsersResolver()],
      ['a class without resolve', class NoResolve {}],
      ['an arrow function', () => null],
      ['a string', 'UsersResolver'],
      ['null', null],
    ])('refuses %s, naming "userResolver"', (_label, userResolver) => {
      expect(() => resolve({ userResolver })).toThrow(
        /^CfAccessModule: "userResolver" must be a class with a resolve\(identity, context\) method/,
      );
    });
  });
});
