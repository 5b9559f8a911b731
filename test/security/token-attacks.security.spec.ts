import 'reflect-metadata';
import { Controller, Get } from '@nestjs/common';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { type CryptoKey, exportSPKI, generateKeyPair, importJWK, SignJWT } from 'jose';
import { type CfAccessIdentity, CfAccessModule, type CfAccessUnauthorizedReason, CfIdentity } from '../../src/index.js';
import { algNoneToken } from '../support/forged-tokens.js';
import { createTestKey, TestKeyServer } from '../support/key-server.js';
import { ADAPTERS, type AdapterName, type RunningApp, startApp } from '../support/start-app.js';
import { type AttackerServer, decodeSegment, type RawResponse, rawGet, segment, signSegments, startAttackerServer } from './support/attack-kit.js';

/**
 * The dedicated adversarial suite: one test per attack, on both HTTP platforms. Every refusal must
 * be exactly 401 with Nest's error body plus the DESIGN §3 reason of the FIRST failing rule, and
 * the protected handler must never run. Controls (valid forms) are marked "accepts".
 */

/** How many times the protected handler ran; reset before every test. */
let handlerRuns = 0;

@Controller()
class ProtectedController {
  @Get('me')
  me(@CfIdentity() identity: CfAccessIdentity) {
    handlerRuns += 1;
    return { email: identity.email ?? null };
  }
}

type Headers = Record<string, string>;
type Reply = { status: number; body: unknown; text: string };

const jwt = (token: string): Headers => ({ 'cf-access-jwt-assertion': token });
const cookie = (value: string): Headers => ({ cookie: `theme=dark; CF_Authorization=${value}` });
const now = () => Math.floor(Date.now() / 1000);
const KiB = 1024;

/** Asserts a 401 in Nest's shape with exactly `reason`, a handler that never ran, and no echo of the token. */
function expectRefused(res: Reply | RawResponse, reason: CfAccessUnauthorizedReason, token?: string): void {
  expect({ status: res.status, body: res.body }).toEqual({
    status: 401,
    body: { statusCode: 401, error: 'Unauthorized', message: expect.any(String), reason },
  });
  expect(handlerRuns).toBe(0);
  if (token !== undefined && token.length > 20) {
    expect(res.text).not.toContain(token);
  }
}

/** Asserts the control case went through to the handler exactly once. */
function expectAccepted(res: Reply | RawResponse): void {
  expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { email: 'user@example.com' } });
  expect(handlerRuns).toBe(1);
}

/** For bytes Node's parser may refuse itself: the outcome must be its 400 or our 401 `malformed`. */
function expectParserOrMalformed(res: RawResponse): void {
  const reason = (res.body as { reason?: unknown } | null)?.reason;
  const outcome = reason === undefined ? String(res.status) : `${res.status} ${JSON.stringify(reason)}`;
  expect(outcome).toMatch(/^(400|401 "malformed")$/);
  expect(handlerRuns).toBe(0);
}

/** Replaces the character at `index` of `text`. */
const replaceAt = (text: string, index: number, char: string) => text.slice(0, index) + char + text.slice(index + 1);

describe.each(ADAPTERS)('Token attacks over HTTP (%s)', (adapter: AdapterName) => {
  let keys: TestKeyServer;
  let app: RunningApp;
  let attacker: AttackerServer;

  beforeAll(async () => {
    keys = await TestKeyServer.start();
    attacker = await startAttackerServer();
    app = await startApp(adapter, {
      imports: [CfAccessModule.forRoot({ teamDomain: keys.teamDomain, audience: keys.audience, globalGuard: true })],
      controllers: [ProtectedController],
    });
  });
  afterAll(async () => {
    await app.close();
    await attacker.close();
    await keys.close();
  });
  beforeEach(() => {
    handlerRuns = 0;
  });

  /** The default header of a genuine team token. */
  const teamHeader = (extra: Record<string, unknown> = {}) => ({ alg: 'RS256', kid: keys.currentKey.kid, typ: 'JWT', ...extra });
  /** Genuinely signed by the team's current key, with these header and payload segments. */
  const teamSigned = (header: unknown, payload: unknown) => signSegments(header, payload, keys.currentKey);
  /** Genuinely signed by the team's key with the default header and `claims(overrides)`. */
  const withClaims = (overrides: Record<string, unknown>) => keys.sign(overrides);

  it('control: accepts a genuine team token', async () => {
    expectAccepted(await app.get('/me', jwt(await keys.sign())));
  });

  describe('alg', () => {
    const hmac = async (alg: 'HS256' | 'HS384' | 'HS512', secret: string) =>
      new SignJWT(keys.claims()).setProtectedHeader({ alg, kid: keys.currentKey.kid, typ: 'JWT' }).sign(new TextEncoder().encode(secret));
    const teamPem = async () => exportSPKI((await importJWK(keys.currentKey.publicJwk, 'RS256', { extractable: true })) as CryptoKey);

    const cases: [string, () => Promise<string> | string][] = [
      ['alg "none" with an empty signature', () => algNoneToken(keys)],
      ['alg "none" keeping a genuine team signature', async () => {
        const [, payload, signature] = (await keys.sign()).split('.');
        return `${segment({ alg: 'none', kid: keys.currentKey.kid })}.${payload}.${signature}`;
      }],
      ['alg "None" (case variant)', async () => teamSigned(teamHeader({ alg: 'None' }), keys.claims())],
      ['alg "NONE" (case variant)', async () => teamSigned(teamHeader({ alg: 'NONE' }), keys.claims())],
      ['alg "rs256" (lower case)', async () => teamSigned(teamHeader({ alg: 'rs256' }), keys.claims())],
      ['alg missing', async () => teamSigned({ kid: keys.currentKey.kid, typ: 'JWT' }, keys.claims())],
      ['alg as an array ["RS256"]', async () => teamSigned(teamHeader({ alg: ['RS256'] }), keys.claims())],
      ['HS256 keyed with the team public key as PEM (alg confusion)', async () => hmac('HS256', await teamPem())],
      ['HS256 keyed with the team public key as PEM without its final newline', async () => hmac('HS256', (await teamPem()).trimEnd())],
      ['HS256 keyed with the team public key as JWK JSON', async () => hmac('HS256', JSON.stringify(keys.currentKey.publicJwk))],
      ['HS384 keyed with the team public key as PEM', async () => hmac('HS384', await teamPem())],
      ['HS512 keyed with the team public key as PEM', async () => hmac('HS512', await teamPem())],
      ['PS256 genuinely signed by another RSA key naming the team kid', async () => {
        const { privateKey } = await generateKeyPair('PS256');
        return new SignJWT(keys.claims()).setProtectedHeader({ alg: 'PS256', kid: keys.currentKey.kid }).sign(privateKey);
      }],
      ['ES256 genuinely signed by an EC key naming the team kid', async () => {
        const { privateKey } = await generateKeyPair('ES256');
        return new SignJWT(keys.claims()).setProtectedHeader({ alg: 'ES256', kid: keys.currentKey.kid }).sign(privateKey);
      }],
    ];
    it.each(cases)('refuses %s → unsupported_alg', async (_name, make) => {
      const token = await make();
      expectRefused(await app.get('/me', jwt(token)), 'unsupported_alg', token);
    });
  });

  describe('signature and key choice', () => {
    it('refuses RS256 signed by an unknown key that names the team\'s known kid → bad_signature', async () => {
      const stranger = await createTestKey();
      const token = await keys.sign({}, { key: { ...stranger, kid: keys.currentKey.kid } });
      expectRefused(await app.get('/me', jwt(token)), 'bad_signature', token);
    });

    it('refuses RS256 signed by an unknown key under its own kid → unknown_kid', async () => {
      const token = await keys.sign({}, { key: await createTestKey() });
      expectRefused(await app.get('/me', jwt(token)), 'unknown_kid', token);
    });

    it('refuses a genuine header and payload carrying the signature of another genuine token → bad_signature', async () => {
      const [header, payload] = (await keys.sign({ email: 'ceo@example.com' })).split('.');
      const otherSignature = (await keys.sign()).split('.')[2];
      const token = `${header}.${payload}.${otherSignature}`;
      expectRefused(await app.get('/me', jwt(token)), 'bad_signature', token);
    });

    it('refuses a payload swapped in from another genuine token → bad_signature', async () => {
      const [header, , signature] = (await keys.sign()).split('.');
      const otherPayload = (await keys.sign({ email: 'admin@example.com' })).split('.')[1];
      const token = `${header}.${otherPayload}.${signature}`;
      expectRefused(await app.get('/me', jwt(token)), 'bad_signature', token);
    });

    it('refuses an empty signature segment → bad_signature', async () => {
      const [header, payload] = (await keys.sign()).split('.');
      const token = `${header}.${payload}.`;
      expectRefused(await app.get('/me', jwt(token)), 'bad_signature', token);
    });

    it('refuses a signature changed only in its unused padding bits → malformed', async () => {
      const token = await keys.sign();
      const signature = token.split('.')[2] ?? '';
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      // a 256-byte signature is 342 chars: the last one carries 2 data bits and 4 padding bits
      expect(signature.length % 4).toBe(2);
      const sibling = signature.slice(0, -1) + alphabet.charAt(alphabet.indexOf(signature.slice(-1)) ^ 0x01);
      // a lenient decoder (Node's Buffer) reads both spellings as the same 256 bytes
      expect(Buffer.from(sibling, 'base64url')).toEqual(Buffer.from(signature, 'base64url'));
      const forged = token.slice(0, -signature.length) + sibling;
      expectRefused(await app.get('/me', jwt(forged)), 'malformed', forged);
    });
  });

  describe('kid', () => {
    const cases: [string, () => unknown, CfAccessUnauthorizedReason][] = [
      ['missing', () => undefined, 'missing_kid'],
      ['empty', () => '', 'missing_kid'],
      ['a number', () => 42, 'missing_kid'],
      ['null', () => null, 'missing_kid'],
      ['an array holding the team kid', () => [keys.currentKey.kid], 'missing_kid'],
      ['an object', () => ({ kid: keys.currentKey.kid }), 'missing_kid'],
      ['a relative path', () => '../../../../etc/passwd', 'unknown_kid'],
      ['a Windows path', () => '..\\..\\keys\\private.pem', 'unknown_kid'],
      ['a file URL', () => 'file:///etc/passwd', 'unknown_kid'],
      ['an SQL injection string', () => "' OR '1'='1' --", 'unknown_kid'],
      ['an SQL statement', () => "x'; DROP TABLE keys; --", 'unknown_kid'],
      ['"__proto__"', () => '__proto__', 'unknown_kid'],
      ['"constructor"', () => 'constructor', 'unknown_kid'],
      ['"toString"', () => 'toString', 'unknown_kid'],
      ['"hasOwnProperty"', () => 'hasOwnProperty', 'unknown_kid'],
      ['whitespace only', () => '   ', 'unknown_kid'],
      ['the team kid with a trailing space', () => `${keys.currentKey.kid} `, 'unknown_kid'],
      ['the team kid in upper case', () => keys.currentKey.kid.toUpperCase(), 'unknown_kid'],
      ['the team kid followed by a NUL', () => `${keys.currentKey.kid}\u0000`, 'unknown_kid'],
      ['5 kB long (token still under 8 KiB)', () => 'k'.repeat(5_000), 'unknown_kid'],
      ['10 kB long (token over 8 KiB)', () => 'k'.repeat(10_000), 'token_too_large'],
    ];
    it.each(cases)('refuses a kid that is %s → %s', async (_name, kid, reason) => {
      const token = await teamSigned(teamHeader({ kid: kid() }), keys.claims());
      expectRefused(await app.get('/me', jwt(token)), reason, token);
    });
  });

  describe('headers that try to bring their own key (jku / jwk / x5u / x5c)', () => {
    /** Signed by the attacker's key; the header names a kid and points at the attacker's key. */
    const attackerSigned = (header: Record<string, unknown>) =>
      keys.sign({}, { key: { ...attacker.key, kid: keys.currentKey.kid }, header: { typ: 'JWT', ...header } });
    const cases: [string, () => Record<string, unknown>, CfAccessUnauthorizedReason][] = [
      ['jku → attacker JWKS, team kid', () => ({ jku: attacker.jwksUrl }), 'bad_signature'],
      ['jku → attacker JWKS, attacker kid', () => ({ jku: attacker.jwksUrl, kid: attacker.key.kid }), 'unknown_kid'],
      ['x5u → attacker certificate, team kid', () => ({ x5u: attacker.certUrl }), 'bad_signature'],
      ['x5u → attacker certificate, attacker kid', () => ({ x5u: attacker.certUrl, kid: attacker.key.kid }), 'unknown_kid'],
      ['jwk = attacker public key, team kid', () => ({ jwk: attacker.key.publicJwk }), 'bad_signature'],
      ['jwk = attacker public key, no kid', () => ({ jwk: attacker.key.publicJwk, kid: undefined }), 'missing_kid'],
      ['x5c = attacker certificate, team kid', () => ({ x5c: [attacker.x5c] }), 'bad_signature'],
      ['x5c = attacker certificate, no kid', () => ({ x5c: [attacker.x5c], kid: undefined }), 'missing_kid'],
    ];
    it.each(cases)('refuses %s → %s, and never contacts the attacker', async (_name, header, reason) => {
      attacker.alsoPublishAs.splice(0, Infinity, keys.currentKey.kid);
      const before = attacker.requests;
      const token = await attackerSigned(header());
      expectRefused(await app.get('/me', jwt(token)), reason, token);
      expect(attacker.requests - before).toBe(0);
    });

    it('the attacker server got zero requests over all of the above', () => {
      expect(attacker.requests).toBe(0);
    });
  });

  describe('crit', () => {
    const cases: [string, Record<string, unknown>][] = [
      ['crit ["b64"] with b64: false', { crit: ['b64'], b64: false }],
      ['crit ["b64"] with b64: true', { crit: ['b64'], b64: true }],
      ['crit ["exp"] (a claim name)', { crit: ['exp'], exp: now() + 3600 }],
      ['crit naming an unknown extension', { crit: ['x-attack'], 'x-attack': 1 }],
      ['an empty crit list', { crit: [] }],
      ['crit as a string', { crit: 'x-attack', 'x-attack': 1 }],
    ];
    it.each(cases)('refuses a genuinely signed token with %s → malformed', async (_name, extra) => {
      const token = await teamSigned(teamHeader(extra), keys.claims());
      expectRefused(await app.get('/me', jwt(token)), 'malformed', token);
    });
  });

  describe('iss (checked before any key lookup)', () => {
    const cases: [string, () => unknown, CfAccessUnauthorizedReason][] = [
      ['another team', () => 'https://evil.cloudflareaccess.com', 'wrong_issuer'],
      ['our team under the https scheme', () => keys.teamDomain.replace('http://', 'https://'), 'wrong_issuer'],
      ['our team with a trailing slash', () => `${keys.teamDomain}/`, 'wrong_issuer'],
      ['our team with two trailing slashes', () => `${keys.teamDomain}//`, 'wrong_issuer'],
      ['our team with a path', () => `${keys.teamDomain}/cdn-cgi/access`, 'wrong_issuer'],
      ['our team with an empty query', () => `${keys.teamDomain}?`, 'wrong_issuer'],
      ['our team with a fragment', () => `${keys.teamDomain}#`, 'wrong_issuer'],
      ['our team with an upper-case scheme', () => keys.teamDomain.replace('http://', 'HTTP://'), 'wrong_issuer'],
      ['our team spelled as localhost', () => keys.teamDomain.replace('127.0.0.1', 'localhost'), 'wrong_issuer'],
      ['our team with credentials', () => keys.teamDomain.replace('http://', 'http://user@'), 'wrong_issuer'],
      ['our team without its port', () => keys.teamDomain.replace(/:\d+$/, ''), 'wrong_issuer'],
      ['our team with surrounding spaces', () => ` ${keys.teamDomain} `, 'wrong_issuer'],
      ['our team as a prefix of a longer host', () => `${keys.teamDomain}.evil.test`, 'wrong_issuer'],
      ['missing', () => undefined, 'wrong_issuer'],
      ['an empty string', () => '', 'wrong_issuer'],
      ['an array holding our team', () => [keys.teamDomain], 'malformed'],
      ['a number', () => 42, 'malformed'],
      ['null', () => null, 'malformed'],
      ['an object', () => ({ href: keys.teamDomain }), 'malformed'],
    ];
    it.each(cases)('refuses an iss that is %s → %s, fetching no key', async (_name, iss, reason) => {
      const token = await withClaims({ iss: iss() });
      const fetches = keys.certsRequests;
      expectRefused(await app.get('/me', jwt(token)), reason, token);
      expect(keys.certsRequests).toBe(fetches);
    });
  });

  describe('aud', () => {
    it('accepts aud as a bare string equal to our tag (a valid form)', async () => {
      expectAccepted(await app.get('/me', jwt(await withClaims({ aud: keys.audience }))));
    });

    it('accepts aud as an array containing our tag', async () => {
      expectAccepted(await app.get('/me', jwt(await withClaims({ aud: ['other-app', keys.audience] }))));
    });

    it('accepts aud as an array containing our tag beside non-string junk', async () => {
      expectAccepted(await app.get('/me', jwt(await withClaims({ aud: [null, 7, { a: 1 }, keys.audience] }))));
    });

    const cases: [string, () => unknown][] = [
      ['an empty array', () => []],
      ['another app (array)', () => ['0'.repeat(64)]],
      ['another app (string)', () => '0'.repeat(64)],
      ['our tag plus a suffix', () => [`${keys.audience}x`]],
      ['our tag minus its last character', () => [keys.audience.slice(0, -1)]],
      ['our tag in upper case', () => [keys.audience.toUpperCase()]],
      ['our tag with a trailing space', () => [`${keys.audience} `]],
      ['our tag and another joined by a comma', () => `${keys.audience},other-app`],
      ['our tag nested in an inner array', () => [[keys.audience]]],
      ['an object keyed by our tag', () => ({ [keys.audience]: true })],
      ['an object { 0: tag }', () => ({ 0: keys.audience })],
      ['missing', () => undefined],
      ['null', () => null],
      ['an empty string', () => ''],
      ['a number', () => 1],
    ];
    it.each(cases)('refuses an aud that is %s → wrong_audience', async (_name, aud) => {
      const token = await withClaims({ aud: aud() });
      expectRefused(await app.get('/me', jwt(token)), 'wrong_audience', token);
    });
  });

  describe('time claims', () => {
    it('accepts exp 10 s ago (inside the 30 s tolerance)', async () => {
      expectAccepted(await app.get('/me', jwt(await withClaims({ exp: now() - 10 }))));
    });

    it('accepts iat 10 s in the future (inside the 30 s tolerance)', async () => {
      expectAccepted(await app.get('/me', jwt(await withClaims({ iat: now() + 10 }))));
    });

    const cases: [string, () => Record<string, unknown>, CfAccessUnauthorizedReason][] = [
      ['an expired token (exp an hour ago)', () => ({ exp: now() - 3600 }), 'expired'],
      ['exp just beyond the tolerance (60 s ago)', () => ({ exp: now() - 60 }), 'expired'],
      ['exp missing', () => ({ exp: undefined }), 'expired'],
      ['exp 0', () => ({ exp: 0 }), 'expired'],
      ['exp negative', () => ({ exp: -1 }), 'expired'],
      ['nbf in the future (2 min)', () => ({ nbf: now() + 120 }), 'not_yet_valid'],
      ['nbf far in the future', () => ({ nbf: now() + 10 * 365 * 86_400 }), 'not_yet_valid'],
      ['iat in the future beyond tolerance (2 min)', () => ({ iat: now() + 120 }), 'not_yet_valid'],
      ['exp as a numeric string', () => ({ exp: String(now() + 3600) }), 'malformed'],
      ['exp as a word', () => ({ exp: 'tomorrow' }), 'malformed'],
      ['exp as true', () => ({ exp: true }), 'malformed'],
      ['exp as null', () => ({ exp: null }), 'malformed'],
      ['exp as an array', () => ({ exp: [now() + 3600] }), 'malformed'],
      ['exp as an object', () => ({ exp: { seconds: now() + 3600 } }), 'malformed'],
      ['nbf as a string', () => ({ nbf: '0' }), 'malformed'],
      ['iat as a string', () => ({ iat: 'now' }), 'malformed'],
      ['iat as null', () => ({ iat: null }), 'malformed'],
      ['type "org" (the global session token)', () => ({ type: 'org' }), 'wrong_token_type'],
      ['type "APP" (case variant)', () => ({ type: 'APP' }), 'wrong_token_type'],
      ['type null', () => ({ type: null }), 'wrong_token_type'],
    ];
    it.each(cases)('refuses %s → %s', async (_name, claims, reason) => {
      const token = await withClaims(claims());
      expectRefused(await app.get('/me', jwt(token)), reason, token);
    });

    it('refuses exp = 1e400 (JSON that parses to Infinity) → malformed', async () => {
      const payload = JSON.stringify(keys.claims({ exp: 0 })).replace('"exp":0', '"exp":1e400');
      const token = await teamSigned(teamHeader(), payload);
      expectRefused(await app.get('/me', jwt(token)), 'malformed', token);
    });
  });

  describe('the first failing rule in DESIGN §3 order is the reason', () => {
    const cases: [string, () => Promise<string>, CfAccessUnauthorizedReason][] = [
      ['non-numeric exp and alg HS256', async () => teamSigned(teamHeader({ alg: 'HS256' }), keys.claims({ exp: 'x' })), 'malformed'],
      ['alg none and a foreign iss', async () => teamSigned(teamHeader({ alg: 'none' }), keys.claims({ iss: 'https://evil.test' })), 'unsupported_alg'],
      ['no kid and a foreign iss', async () => teamSigned(teamHeader({ kid: undefined }), keys.claims({ iss: 'https://evil.test' })), 'missing_kid'],
      ['a foreign iss and an unknown kid', async () => teamSigned(teamHeader({ kid: 'nope' }), keys.claims({ iss: 'https://evil.test' })), 'wrong_issuer'],
      ['an unknown kid and a wrong audience', async () => teamSigned(teamHeader({ kid: 'nope' }), keys.claims({ aud: ['x'] })), 'unknown_kid'],
      ['a bad signature and an expired token', async () => {
        const [header, payload] = (await withClaims({ exp: now() - 3600 })).split('.');
        return `${header}.${payload}.${(await keys.sign()).split('.')[2]}`;
      }, 'bad_signature'],
      ['a wrong audience and an expired token', async () => withClaims({ aud: ['x'], exp: now() - 3600 }), 'wrong_audience'],
      ['an expired token from the future (nbf)', async () => withClaims({ exp: now() - 3600, nbf: now() + 3600 }), 'expired'],
      ['nbf in the future and type org', async () => withClaims({ nbf: now() + 3600, type: 'org' }), 'not_yet_valid'],
    ];
    it.each(cases)('%s → %s', async (_name, make, reason) => {
      const token = await make();
      expectRefused(await app.get('/me', jwt(token)), reason, token);
    });
  });

  describe('structure: segments, JSON, base64url', () => {
    const cases: [string, () => Promise<string> | string][] = [
      ['a payload that is not JSON', () => teamSigned(teamHeader(), 'not json')],
      ['a payload that is truncated JSON', () => teamSigned(teamHeader(), '{"iss":')],
      ['a payload that is a JSON array', () => teamSigned(teamHeader(), [keys.claims()])],
      ['a payload that is a JSON string', () => teamSigned(teamHeader(), '"claims"')],
      ['a payload that is a JSON number', () => teamSigned(teamHeader(), '42')],
      ['a payload that is JSON null', () => teamSigned(teamHeader(), 'null')],
      ['a payload that is JSON true', () => teamSigned(teamHeader(), 'true')],
      ['a payload that is not UTF-8', () => teamSigned(teamHeader(), Uint8Array.of(0xff, 0xfe, 0x7b, 0x7d))],
      ['an empty payload segment', async () => {
        const [header, , signature] = (await keys.sign()).split('.');
        return `${header}..${signature}`;
      }],
      ['a header that is not JSON', () => teamSigned('RS256', keys.claims())],
      ['a header that is a JSON array', () => teamSigned([teamHeader()], keys.claims())],
      ['a header that is JSON null', () => teamSigned('null', keys.claims())],
      ['two segments', async () => (await keys.sign()).split('.').slice(0, 2).join('.')],
      ['four segments', async () => `${await keys.sign()}.AAAA`],
      ['a trailing dot', async () => `${await keys.sign()}.`],
      ['a leading dot', async () => `.${await keys.sign()}`],
      ['"=" padding on the payload', async () => {
        const [header, payload, signature] = (await keys.sign()).split('.');
        return `${header}.${payload}==.${signature}`;
      }],
      ['a standard-base64 "+" in the payload', async () => {
        const token = await keys.sign();
        return replaceAt(token, token.indexOf('.') + 5, '+');
      }],
      ['a standard-base64 "/" in the signature', async () => {
        const token = await keys.sign();
        return replaceAt(token, token.length - 10, '/');
      }],
      ['JSON claims sent as is, not base64url-encoded', () => `{"alg":"RS256"}.${JSON.stringify(keys.claims())}.sig`],
    ];
    it.each(cases)('refuses %s → malformed', async (_name, make) => {
      const token = await make();
      expectRefused(await app.get('/me', jwt(token)), 'malformed', token);
    });

    it('refuses a 6 kB payload nested 2,800 levels deep (team iss, forged signature) → bad_signature, no stack overflow', async () => {
      const depth = 2_800;
      const payload = `{"iss":${JSON.stringify(keys.teamDomain)},"x":${'['.repeat(depth)}${']'.repeat(depth)}}`;
      const token = `${segment(teamHeader())}.${segment(payload)}.${(await keys.sign()).split('.')[2]}`;
      expect(token.length).toBeLessThan(8 * KiB);
      expectRefused(await app.get('/me', jwt(token)), 'bad_signature', token);
    });
  });

  describe('token sources: header, cookie, duplicates', () => {
    it('refuses a bad header token beside a good cookie (no fallback once a header token is present) → malformed', async () => {
      const res = await app.get('/me', { ...jwt('not-a-token'), ...cookie(await keys.sign()) });
      expectRefused(res, 'malformed');
    });

    it('refuses an expired genuine header token beside a good cookie → expired', async () => {
      const res = await app.get('/me', { ...jwt(await withClaims({ exp: now() - 3600 })), ...cookie(await keys.sign()) });
      expectRefused(res, 'expired');
    });

    it('refuses a header token for another app beside a good cookie → wrong_audience', async () => {
      const res = await app.get('/me', { ...jwt(await withClaims({ aud: ['other'] })), ...cookie(await keys.sign()) });
      expectRefused(res, 'wrong_audience');
    });

    it('control: accepts a good header token beside a bad cookie (the header wins)', async () => {
      expectAccepted(await app.get('/me', { ...jwt(await keys.sign()), ...cookie('garbage') }));
    });

    it('duplicate CF_Authorization cookies, bad then good: the FIRST occurrence is the token → 401 malformed', async () => {
      const res = await app.get('/me', { cookie: `CF_Authorization=garbage; CF_Authorization=${await keys.sign()}` });
      expectRefused(res, 'malformed');
    });

    it('duplicate CF_Authorization cookies, expired then good: the FIRST occurrence is the token → 401 expired', async () => {
      const expired = await withClaims({ exp: now() - 3600 });
      const res = await app.get('/me', { cookie: `CF_Authorization=${expired}; CF_Authorization=${await keys.sign()}` });
      expectRefused(res, 'expired');
    });

    it('duplicate CF_Authorization cookies, good then bad: the FIRST occurrence is the token → 200', async () => {
      expectAccepted(await app.get('/me', { cookie: `CF_Authorization=${await keys.sign()}; CF_Authorization=garbage` }));
    });

    it('two Cookie header lines, bad then good: Node joins them and the first occurrence wins → 401 malformed', async () => {
      const res = await rawGet(app.url, ['Cookie: CF_Authorization=garbage', `Cookie: CF_Authorization=${await keys.sign()}`]);
      expectRefused(res, 'malformed');
    });

    it('two Cf-Access-Jwt-Assertion header lines, both genuine: joined with ", " → 401 malformed (never one picked)', async () => {
      const token = await keys.sign();
      const res = await rawGet(app.url, [`Cf-Access-Jwt-Assertion: ${token}`, `Cf-Access-Jwt-Assertion: ${token}`]);
      expectRefused(res, 'malformed', token);
    });

    it('refuses a cookie whose name differs only in case (cf_authorization) → missing_token', async () => {
      expectRefused(await app.get('/me', { cookie: `cf_authorization=${await keys.sign()}` }), 'missing_token');
    });

    it('refuses a cookie whose name merely ends in CF_Authorization → missing_token', async () => {
      expectRefused(await app.get('/me', { cookie: `XCF_Authorization=${await keys.sign()}` }), 'missing_token');
    });

    it('refuses a quoted bad cookie → malformed', async () => {
      expectRefused(await app.get('/me', { cookie: 'CF_Authorization="garbage"' }), 'malformed');
    });
  });

  describe('size', () => {
    const big = (length: number) => 'a'.repeat(length);

    it('refuses a token one byte over 8 KiB in the header → token_too_large', async () => {
      expectRefused(await app.get('/me', jwt(big(8 * KiB + 1))), 'token_too_large');
    });

    it('refuses a 9 KiB token in the header (under Node\'s 16 KiB limit) → token_too_large', async () => {
      expectRefused(await app.get('/me', jwt(big(9 * KiB))), 'token_too_large');
    });

    it('refuses a 9 KiB token in the cookie → token_too_large', async () => {
      expectRefused(await app.get('/me', cookie(big(9 * KiB))), 'token_too_large');
    });

    it('refuses a genuine-looking 9 KiB token (padded custom claim, team signature) → token_too_large', async () => {
      const token = await withClaims({ padding: 'p'.repeat(7 * KiB) });
      expect(token.length).toBeGreaterThan(8 * KiB);
      expectRefused(await app.get('/me', jwt(token)), 'token_too_large', token);
    });

    it('a 1 MB token in the header: Node\'s parser answers 431 before Nest runs', async () => {
      const res = await rawGet(app.url, [`Cf-Access-Jwt-Assertion: ${big(1024 * KiB)}`]);
      expect(res.status).toBe(431);
      expect(handlerRuns).toBe(0);
    });

    it('a 1 MB token in the cookie: Node\'s parser answers 431 before Nest runs', async () => {
      const res = await rawGet(app.url, [`Cookie: CF_Authorization=${big(1024 * KiB)}`]);
      expect(res.status).toBe(431);
      expect(handlerRuns).toBe(0);
    });

    it('a 17 KiB token in the header (just over Node\'s 16 KiB limit) → 431', async () => {
      const res = await rawGet(app.url, [`Cf-Access-Jwt-Assertion: ${big(17 * KiB)}`]);
      expect(res.status).toBe(431);
      expect(handlerRuns).toBe(0);
    });

    it('a genuine token with other headers pushing the total over the server limit → 431, handler not run', async () => {
      const padding = Array.from({ length: 20 }, (_, i) => `X-Padding-${i}: ${'p'.repeat(KiB)}`);
      const res = await rawGet(app.url, [`Cf-Access-Jwt-Assertion: ${await keys.sign()}`, ...padding]);
      expect(res.status).toBe(431);
      expect(handlerRuns).toBe(0);
    });
  });

  describe('unicode and control characters (raw bytes on the wire)', () => {
    /** The token with `char` put in the middle of its payload segment. */
    const inPayload = (token: string, char: string) => {
      const at = token.indexOf('.') + 10;
      return token.slice(0, at) + char + token.slice(at);
    };
    const cases: [string, (token: string) => string][] = [
      ['a non-ASCII letter (é) inside the payload', (t) => inPayload(t, 'é')],
      ['a Cyrillic homoglyph replacing a letter', (t) => replaceAt(t, 5, 'а')],
      ['an emoji inside the payload', (t) => inPayload(t, '😀')],
      ['a NUL byte inside the payload', (t) => inPayload(t, '\u0000')],
      ['a \\x01 control character', (t) => inPayload(t, '\u0001')],
      ['a DEL (\\x7f) character', (t) => inPayload(t, '\u007f')],
      ['a vertical tab', (t) => inPayload(t, '\u000b')],
      ['an ESC character', (t) => inPayload(t, '\u001b')],
      ['a zero-width space inside the payload', (t) => inPayload(t, '\u200b')],
      ['a zero-width space before the token', (t) => `\u200b${t}`],
      ['a byte-order mark before the token', (t) => `\ufeff${t}`],
      ['a right-to-left override inside the payload', (t) => inPayload(t, '\u202e')],
      ['fullwidth dots (U+FF0E) instead of the separators', (t) => t.replaceAll('.', '\uff0e')],
      ['an ideographic full stop (U+3002) instead of the separators', (t) => t.replaceAll('.', '\u3002')],
      ['fullwidth letters (NFKC-equal to ASCII) in the header segment', (t) => replaceAt(t, 3, String.fromCharCode(t.charCodeAt(3) + 0xfee0))],
      ['a latin1 no-break space (\\xa0) inside the payload', (t) => inPayload(t, '\u00a0')],
    ];

    it.each(cases)('refuses a header token with %s → 400 from the parser or 401 malformed', async (_name, mutate) => {
      const res = await rawGet(app.url, [`Cf-Access-Jwt-Assertion: ${mutate(await keys.sign())}`]);
      expectParserOrMalformed(res);
    });

    it.each(cases)('refuses a cookie token with %s → 400 from the parser or 401 malformed', async (_name, mutate) => {
      const res = await rawGet(app.url, [`Cookie: CF_Authorization=${mutate(await keys.sign())}`]);
      expectParserOrMalformed(res);
    });

    it('refuses a token sent as latin1 bytes with \\xff inside → 401 malformed', async () => {
      const res = await rawGet(app.url, [`Cf-Access-Jwt-Assertion: ${inPayload(await keys.sign(), '\u00ff')}`], { encoding: 'latin1' });
      expectRefused(res, 'malformed');
    });

    it('refuses a genuinely signed token whose claims hold unicode and control characters in iss → wrong_issuer', async () => {
      const token = await withClaims({ iss: `${keys.teamDomain}\u0000\u200b` });
      expectRefused(await app.get('/me', jwt(token)), 'wrong_issuer', token);
    });

    it('refuses a genuinely signed token whose kid is the team kid with a zero-width space → unknown_kid', async () => {
      const token = await teamSigned(teamHeader({ kid: `${keys.currentKey.kid}\u200b` }), keys.claims());
      expectRefused(await app.get('/me', jwt(token)), 'unknown_kid', token);
    });

    it('refuses a genuinely signed token whose aud is our tag in fullwidth letters → wrong_audience', async () => {
      const fullwidth = [...keys.audience].map((c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).join('');
      const token = await withClaims({ aud: [fullwidth] });
      expectRefused(await app.get('/me', jwt(token)), 'wrong_audience', token);
    });
  });

  it('decodes the genuine tokens this suite mutates as the team\'s (sanity of the fixtures)', async () => {
    const token = await keys.sign();
    expect(decodeSegment(token, 0)).toEqual({ alg: 'RS256', kid: keys.currentKey.kid, typ: 'JWT' });
    expect(decodeSegment(token, 1)).toMatchObject({ iss: keys.teamDomain, aud: [keys.audience] });
  });
});
