import { describe, expect, it } from '@jest/globals';
import { SignJWT } from 'jose';
import { createTestKey } from '../../test/support/key-server.js';
import { CfAccessUnauthorizedException, type CfAccessUnauthorizedReason } from '../cf-access.errors.js';
import { type ResolvedCfAccessOptions } from '../cf-access.options.js';
import { checkClaims } from './check-claims.js';
import { decodeToken } from './decode-token.js';

type ClaimOptions = Pick<ResolvedCfAccessOptions, 'audience' | 'clockTolerance'>;

const NOW = 1_750_000_000;
const TOLERANCE = 30;
const AUD = 'aud-tag-one';
const OTHER_AUD = 'aud-tag-two';
const OPTIONS: ClaimOptions = { audience: [AUD, OTHER_AUD], clockTolerance: TOLERANCE };

/** Cloudflare's user-token claim set, valid at NOW; `undefined` in `overrides` removes a claim. */
function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const all: Record<string, unknown> = {
    aud: [AUD],
    email: 'user@example.com',
    exp: NOW + 3600,
    iat: NOW,
    nbf: NOW,
    iss: 'https://acme.cloudflareaccess.com',
    type: 'app',
    identity_nonce: 'nonce',
    sub: 'sub-user',
    country: 'NL',
    ...overrides,
  };
  return Object.fromEntries(Object.entries(all).filter(([, value]) => value !== undefined));
}

/** The reason checkClaims refuses with, or `undefined` when the claims pass. */
function reasonFor(
  overrides: Record<string, unknown>,
  options: ClaimOptions = OPTIONS,
  now = NOW,
): CfAccessUnauthorizedReason | undefined {
  try {
    checkClaims(claims(overrides), options, now);
  } catch (error) {
    expect(error).toBeInstanceOf(CfAccessUnauthorizedException);
    const exception = error as CfAccessUnauthorizedException;
    expect(exception.getStatus()).toBe(401);
    return exception.reason;
  }
  return undefined;
}

describe('checkClaims', () => {
  it('accepts Cloudflare user-token claims', () => {
    expect(reasonFor({})).toBeUndefined();
  });

  it('accepts service-token claims (common_name, empty sub, no email, no nbf)', () => {
    const service = { email: undefined, nbf: undefined, sub: '', common_name: 'abc123.access' };

    expect(reasonFor(service)).toBeUndefined();
  });

  it('accepts the claims of a real signed token decoded by decodeToken', async () => {
    const key = await createTestKey();
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT(claims({ iat: now, nbf: now, exp: now + 60 }))
      .setProtectedHeader({ alg: 'RS256', kid: key.kid })
      .sign(key.privateKey);
    const { claims: decoded } = decodeToken(token);

    expect(() => checkClaims(decoded, OPTIONS, Date.now() / 1000)).not.toThrow();
  });

  describe('aud', () => {
    it('accepts aud as an array holding a configured tag', () => {
      expect(reasonFor({ aud: [AUD] })).toBeUndefined();
    });

    it('accepts aud as a single string equal to a configured tag', () => {
      expect(reasonFor({ aud: AUD })).toBeUndefined();
    });

    it('accepts any of several configured tags', () => {
      expect(reasonFor({ aud: OTHER_AUD })).toBeUndefined();
      expect(reasonFor({ aud: ['unrelated', OTHER_AUD] })).toBeUndefined();
    });

    it.each([
      ['missing', undefined],
      ['an empty array', []],
      ['another tag', 'aud-tag-three'],
      ['an array of other tags', ['aud-tag-three', 'aud-tag-four']],
      ['a prefix of the tag', 'aud-tag'],
      ['the tag with a suffix', `${AUD}x`],
      ['the tag with surrounding spaces', ` ${AUD} `],
      ['the tag in another case', AUD.toUpperCase()],
      ['a string that contains the tag', `${AUD},${OTHER_AUD}`],
      ['the tag nested in an array', [[AUD]]],
      ['an object keyed by the tag', { [AUD]: true }],
      ['the empty string', ''],
      ['null', null],
    ])('refuses aud that is %s with wrong_audience', (_label, aud) => {
      expect(reasonFor({ aud })).toBe('wrong_audience');
    });

    it('refuses every aud when the configured audience is a different tag', () => {
      expect(reasonFor({ aud: [AUD] }, { audience: ['configured'], clockTolerance: TOLERANCE })).toBe('wrong_audience');
    });
  });

  describe('exp', () => {
    it('refuses a token without exp with expired', () => {
      expect(reasonFor({ exp: undefined })).toBe('expired');
    });

    it('accepts a token that expired less than clockTolerance ago', () => {
      expect(reasonFor({ exp: NOW - TOLERANCE + 1 })).toBeUndefined();
    });

    it('refuses a token that expired exactly clockTolerance ago', () => {
      expect(reasonFor({ exp: NOW - TOLERANCE })).toBe('expired');
    });

    it('refuses a token that expired long ago', () => {
      expect(reasonFor({ exp: NOW - 3600 })).toBe('expired');
    });

    it('with clockTolerance 0, refuses exp equal to now and accepts exp one second ahead', () => {
      const strict: ClaimOptions = { ...OPTIONS, clockTolerance: 0 };

      expect(reasonFor({ exp: NOW }, strict)).toBe('expired');
      expect(reasonFor({ exp: NOW + 1 }, strict)).toBeUndefined();
    });

    it('compares against a fractional now', () => {
      const strict: ClaimOptions = { ...OPTIONS, clockTolerance: 0 };

      const past = { iat: NOW - 10, nbf: NOW - 10 };

      expect(reasonFor({ ...past, exp: NOW }, strict, NOW - 0.5)).toBeUndefined();
      expect(reasonFor({ ...past, exp: NOW }, strict, NOW + 0.5)).toBe('expired');
    });
  });

  describe('nbf and iat', () => {
    it('accepts nbf in the future within clockTolerance', () => {
      expect(reasonFor({ nbf: NOW + TOLERANCE })).toBeUndefined();
    });

    it('refuses nbf in the future beyond clockTolerance with not_yet_valid', () => {
      expect(reasonFor({ nbf: NOW + TOLERANCE + 1 })).toBe('not_yet_valid');
    });

    it('accepts iat in the future within clockTolerance', () => {
      expect(reasonFor({ iat: NOW + TOLERANCE })).toBeUndefined();
    });

    it('refuses iat in the future beyond clockTolerance with not_yet_valid', () => {
      expect(reasonFor({ iat: NOW + TOLERANCE + 1 })).toBe('not_yet_valid');
    });

    it('accepts a token without nbf and iat (both optional)', () => {
      expect(reasonFor({ nbf: undefined, iat: undefined })).toBeUndefined();
    });

    it('accepts nbf and iat far in the past', () => {
      expect(reasonFor({ nbf: NOW - 86_400, iat: NOW - 86_400 })).toBeUndefined();
    });

    it('with clockTolerance 0, refuses nbf one second ahead and accepts nbf equal to now', () => {
      const strict: ClaimOptions = { ...OPTIONS, clockTolerance: 0 };

      expect(reasonFor({ nbf: NOW + 1 }, strict)).toBe('not_yet_valid');
      expect(reasonFor({ nbf: NOW }, strict)).toBeUndefined();
    });

    it('honours a larger clockTolerance', () => {
      const lenient: ClaimOptions = { ...OPTIONS, clockTolerance: 300 };

      expect(reasonFor({ nbf: NOW + 300, iat: NOW + 300, exp: NOW - 299 }, lenient)).toBeUndefined();
      expect(reasonFor({ nbf: NOW + 301 }, lenient)).toBe('not_yet_valid');
    });
  });

  describe('type', () => {
    it("refuses Cloudflare's global session token (type org) with wrong_token_type", () => {
      expect(reasonFor({ type: 'org' })).toBe('wrong_token_type');
    });

    it('accepts a token without type', () => {
      expect(reasonFor({ type: undefined })).toBeUndefined();
    });

    it.each([
      ['upper-case APP', 'APP'],
      ['an empty string', ''],
      ['null', null],
      ['an array', ['app']],
    ])('refuses type that is %s with wrong_token_type', (_label, type) => {
      expect(reasonFor({ type })).toBe('wrong_token_type');
    });
  });

  describe('order when several rules fail', () => {
    it('reports wrong_audience before expired', () => {
      expect(reasonFor({ aud: 'other', exp: NOW - 3600 })).toBe('wrong_audience');
    });

    it('reports wrong_audience before wrong_token_type', () => {
      expect(reasonFor({ aud: 'other', type: 'org' })).toBe('wrong_audience');
    });

    it('reports expired before not_yet_valid', () => {
      expect(reasonFor({ exp: undefined, nbf: NOW + 3600 })).toBe('expired');
    });

    it('reports not_yet_valid before wrong_token_type', () => {
      expect(reasonFor({ iat: NOW + 3600, type: 'org' })).toBe('not_yet_valid');
    });

    it('reports expired before wrong_token_type', () => {
      expect(reasonFor({ exp: NOW - 3600, type: 'org' })).toBe('expired');
    });
  });
});
