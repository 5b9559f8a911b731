import { beforeAll, describe, expect, it } from '@jest/globals';
import { base64url, generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { createTestKey, type TestKey } from '../../test/support/key-server.js';
import { MAX_TOKEN_LENGTH } from '../cf-access.constants.js';
import { CfAccessUnauthorizedException, type CfAccessUnauthorizedReason } from '../cf-access.errors.js';
import { decodeToken } from './decode-token.js';

const ISS = 'https://acme.cloudflareaccess.com';
const NOW = Math.floor(Date.now() / 1000);
const CLAIMS = {
  aud: ['aud-tag'],
  email: 'user@example.com',
  iss: ISS,
  iat: NOW,
  nbf: NOW,
  exp: NOW + 3600,
  type: 'app',
};

/** A compact JWS built by hand from raw JSON text; the signature is not checked by decodeToken. */
function compose(header: string, payload: string, signature = 'c2lnbmF0dXJl'): string {
  return `${base64url.encode(header)}.${base64url.encode(payload)}.${signature}`;
}

/** A compact JWS whose header and payload are the given values, serialized as JSON. */
function craft(header: unknown, payload: unknown = CLAIMS, signature?: string): string {
  return compose(JSON.stringify(header), JSON.stringify(payload), signature);
}

/** The exception `fn` throws; fails the test when it throws anything else or nothing. */
function rejection(fn: () => unknown): CfAccessUnauthorizedException {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CfAccessUnauthorizedException);
    return error as CfAccessUnauthorizedException;
  }
  throw new Error('expected a CfAccessUnauthorizedException, but nothing was thrown');
}

function reasonFor(token: string): CfAccessUnauthorizedReason {
  return rejection(() => decodeToken(token)).reason;
}

describe('decodeToken', () => {
  let key: TestKey;

  beforeAll(async () => {
    key = await createTestKey();
  });

  function sign(claims: Record<string, unknown> = CLAIMS, header: Record<string, unknown> = {}): Promise<string> {
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT', ...header })
      .sign(key.privateKey);
  }

  describe('a well-formed RS256 token', () => {
    it('yields the kid of its header and its claims, unverified', async () => {
      const decoded = decodeToken(await sign());

      expect(decoded).toEqual({ kid: key.kid, claims: CLAIMS });
    });

    it('keeps custom claims and nested objects', async () => {
      const claims = { ...CLAIMS, groups: ['admins'], custom: { department: 'ops' } };

      expect(decodeToken(await sign(claims)).claims).toEqual(claims);
    });

    it('decodes each token whole and on its own: a payload near the size limit, then a short one, non-ASCII text intact', async () => {
      const long = { ...CLAIMS, name: 'Zoë Ångström 山田', padding: 'p'.repeat(((MAX_TOKEN_LENGTH - 900) * 3) / 4) };
      const short = { aud: 'aud-tag', name: 'Łukasz' };
      const longToken = await sign(long);
      expect(longToken.length).toBeGreaterThan(MAX_TOKEN_LENGTH - 200);
      expect(longToken.length).toBeLessThanOrEqual(MAX_TOKEN_LENGTH);

      expect(decodeToken(longToken).claims).toEqual(long);
      expect(decodeToken(await sign(short)).claims).toEqual(short);
      expect(decodeToken(longToken).claims).toEqual(long);
    });

    it('accepts a token without exp, nbf, iat or iss (those are checked later)', async () => {
      expect(decodeToken(await sign({ aud: 'aud-tag' })).claims).toEqual({ aud: 'aud-tag' });
    });

    it('returns the header kid even when the header tries to bring its own key (jku, jwk, x5u, x5c)', async () => {
      const other = await createTestKey();
      const token = await sign(CLAIMS, {
        jku: 'https://evil.example/jwks.json',
        jwk: other.publicJwk,
        x5u: 'https://evil.example/cert.pem',
        x5c: ['MIIB'],
      });

      expect(decodeToken(token).kid).toBe(key.kid);
    });
  });

  describe('size', () => {
    it('refuses a token over 8 KiB with token_too_large', async () => {
      const token = await sign({ ...CLAIMS, padding: 'x'.repeat(MAX_TOKEN_LENGTH) });

      expect(token.length).toBeGreaterThan(MAX_TOKEN_LENGTH);
      expect(reasonFor(token)).toBe('token_too_large');
    });

    it('refuses an oversized token before any decoding (even when it is garbage)', () => {
      expect(reasonFor('!'.repeat(MAX_TOKEN_LENGTH + 1))).toBe('token_too_large');
    });

    it('accepts a token of exactly 8192 characters', () => {
      const base = craft({ alg: 'RS256', kid: 'k1' }, CLAIMS, '');
      const token = base + 'A'.repeat(MAX_TOKEN_LENGTH - base.length);

      expect(token.length).toBe(MAX_TOKEN_LENGTH);
      expect(decodeToken(token).kid).toBe('k1');
    });

    it('refuses a token of 8193 characters', () => {
      const base = craft({ alg: 'RS256', kid: 'k1' }, CLAIMS, '');
      const token = base + 'A'.repeat(MAX_TOKEN_LENGTH + 1 - base.length);

      expect(reasonFor(token)).toBe('token_too_large');
    });
  });

  describe('shape', () => {
    it.each([
      ['one part', 'abc'],
      ['two parts', 'abc.def'],
      ['four parts', 'abc.def.ghi.jkl'],
      ['five parts (a JWE)', 'abc.def.ghi.jkl.mno'],
      ['an empty header part', '.def.ghi'],
      ['an empty payload part', 'abc..ghi'],
      ['standard base64 characters', 'ab+c.de/f.ghi'],
      ['base64 padding', 'abc=.def.ghi'],
      ['inner whitespace', 'abc. def.ghi'],
      ['only dots', '..'],
    ])('refuses a token with %s as malformed', (_label, token) => {
      expect(reasonFor(token)).toBe('malformed');
    });

    it.each([
      ['the empty string', ''],
      ['whitespace', '  '],
      ['undefined (e.g. a missing cookie passed to verify)', undefined],
      ['a number', 42],
    ])('refuses %s as missing_token, never a TypeError', (_label, token) => {
      expect(reasonFor(token as string)).toBe('missing_token');
    });

    it('refuses a header that is not JSON', () => {
      expect(reasonFor(compose('{"alg":"RS256",', JSON.stringify(CLAIMS)))).toBe('malformed');
    });

    it('refuses a payload that is not JSON', () => {
      expect(reasonFor(compose('{"alg":"RS256","kid":"k1"}', 'email=user@example.com'))).toBe('malformed');
    });

    it.each([
      ['an array', ['RS256']],
      ['a string', 'RS256'],
      ['null', null],
      ['a number', 1],
    ])('refuses a header that is %s rather than an object', (_label, header) => {
      expect(reasonFor(craft(header))).toBe('malformed');
    });

    it.each([
      ['an array', [CLAIMS]],
      ['a string', 'claims'],
      ['null', null],
      ['a number', 1],
    ])('refuses a payload that is %s rather than an object', (_label, payload) => {
      expect(reasonFor(craft({ alg: 'RS256', kid: 'k1' }, payload))).toBe('malformed');
    });

    it('accepts an empty signature part at this stage (alg decides what happens next)', () => {
      expect(decodeToken(craft({ alg: 'RS256', kid: 'k1' }, CLAIMS, '')).kid).toBe('k1');
    });
  });

  describe('claim types and crit', () => {
    it.each([
      ['exp as a numeric string', { exp: String(NOW + 3600) }],
      ['exp as null', { exp: null }],
      ['exp as a boolean', { exp: true }],
      ['nbf as a string', { nbf: 'now' }],
      ['nbf as an array', { nbf: [NOW] }],
      ['iat as an object', { iat: { seconds: NOW } }],
      ['iss as a number', { iss: 42 }],
      ['iss as an array', { iss: [ISS] }],
      ['iss as null', { iss: null }],
    ])('refuses %s as malformed', async (_label, override) => {
      expect(reasonFor(await sign({ ...CLAIMS, ...override }))).toBe('malformed');
    });

    it('refuses an exp that overflows to Infinity as malformed', () => {
      const payload = JSON.stringify({ ...CLAIMS, exp: 0 }).replace('"exp":0', '"exp":1e400');

      expect(reasonFor(compose(JSON.stringify({ alg: 'RS256', kid: 'k1' }), payload))).toBe('malformed');
    });

    it('accepts fractional numeric dates', async () => {
      expect(decodeToken(await sign({ ...CLAIMS, exp: NOW + 0.5 })).claims.exp).toBe(NOW + 0.5);
    });

    it('refuses a header with crit as malformed', () => {
      const token = craft({ alg: 'RS256', kid: 'k1', crit: ['exp'], exp: NOW + 3600 });

      expect(reasonFor(token)).toBe('malformed');
    });

    it('refuses a header with an empty crit list as malformed', () => {
      expect(reasonFor(craft({ alg: 'RS256', kid: 'k1', crit: [] }))).toBe('malformed');
    });
  });

  describe('alg', () => {
    it('refuses an unsecured token (alg "none") with unsupported_alg', () => {
      const token = new UnsecuredJWT(CLAIMS).encode();

      expect(reasonFor(token)).toBe('unsupported_alg');
    });

    it('refuses an HS256 token (the public key used as an HMAC secret) with unsupported_alg', async () => {
      const secret = new TextEncoder().encode(JSON.stringify(key.publicJwk));
      const token = await new SignJWT(CLAIMS).setProtectedHeader({ alg: 'HS256', kid: key.kid }).sign(secret);

      expect(reasonFor(token)).toBe('unsupported_alg');
    });

    it('refuses a PS256 token with unsupported_alg', async () => {
      const { privateKey } = await generateKeyPair('PS256');
      const token = await new SignJWT(CLAIMS).setProtectedHeader({ alg: 'PS256', kid: key.kid }).sign(privateKey);

      expect(reasonFor(token)).toBe('unsupported_alg');
    });

    it.each([
      ['ES256', { alg: 'ES256', kid: 'k1' }],
      ['RS512', { alg: 'RS512', kid: 'k1' }],
      ['lower-case rs256', { alg: 'rs256', kid: 'k1' }],
      ['no alg', { kid: 'k1' }],
      ['a non-string alg', { alg: ['RS256'], kid: 'k1' }],
    ])('refuses %s with unsupported_alg', (_label, header) => {
      expect(reasonFor(craft(header))).toBe('unsupported_alg');
    });
  });

  describe('kid', () => {
    it.each([
      ['no kid', { alg: 'RS256' }],
      ['an empty kid', { alg: 'RS256', kid: '' }],
      ['a numeric kid', { alg: 'RS256', kid: 1 }],
      ['a null kid', { alg: 'RS256', kid: null }],
    ])('refuses a token with %s with missing_kid', (_label, header) => {
      expect(reasonFor(craft(header))).toBe('missing_kid');
    });
  });

  describe('order when several rules fail', () => {
    it('reports token_too_large before malformed', () => {
      expect(reasonFor('a.b'.repeat(MAX_TOKEN_LENGTH))).toBe('token_too_large');
    });

    it('reports token_too_large before unsupported_alg', () => {
      const token = new UnsecuredJWT({ ...CLAIMS, padding: 'x'.repeat(MAX_TOKEN_LENGTH) }).encode();

      expect(reasonFor(token)).toBe('token_too_large');
    });

    it('reports a bad claim type (malformed) before unsupported_alg', () => {
      const claims: Record<string, unknown> = { ...CLAIMS, exp: 'tomorrow' };
      const token = new UnsecuredJWT(claims).encode();

      expect(reasonFor(token)).toBe('malformed');
    });

    it('reports crit (malformed) before unsupported_alg and missing_kid', () => {
      expect(reasonFor(craft({ alg: 'none', crit: ['b64'], b64: true }))).toBe('malformed');
    });

    it('reports unsupported_alg before missing_kid', () => {
      expect(reasonFor(craft({ alg: 'HS256' }))).toBe('unsupported_alg');
    });
  });

  describe('the exception', () => {
    it('is a 401 whose body carries the reason and never the token', async () => {
      const token = await sign({ ...CLAIMS, exp: 'soon' });
      const error = rejection(() => decodeToken(token));

      expect(error.getStatus()).toBe(401);
      expect(error.getResponse()).toEqual({
        statusCode: 401,
        error: 'Unauthorized',
        message: expect.any(String) as unknown,
        reason: 'malformed',
      });
      expect(JSON.stringify(error.getResponse())).not.toContain(token.split('.')[1]);
      expect(error.message).not.toContain(token);
    });
  });
});

describe('decodeToken: canonical base64url', () => {
  let key: TestKey;
  beforeAll(async () => {
    key = await createTestKey();
  });

  it('refuses a signature whose unused padding bits were changed (it would still verify)', async () => {
    const token = await new SignJWT(CLAIMS).setProtectedHeader({ alg: 'RS256', kid: key.kid }).sign(key.privateKey);
    const signature = token.split('.')[2] ?? '';
    expect(signature.length % 4).toBe(2); // 256 bytes: the last character carries 4 unused bits
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(signature.at(-1) ?? '');
    const twin = token.slice(0, -1) + alphabet.charAt(last | 0x01);
    expect(Buffer.from(twin.split('.')[2] ?? '', 'base64url')).toEqual(Buffer.from(signature, 'base64url'));
    expect(reasonFor(twin)).toBe('malformed');
    expect(() => decodeToken(token)).not.toThrow();
  });

  it('refuses a segment of impossible length (4n + 1 characters)', () => {
    expect(reasonFor(compose(JSON.stringify({ alg: 'RS256', kid: 'k' }), JSON.stringify(CLAIMS)) + 'AAAAA')).toBe('malformed');
  });
});
