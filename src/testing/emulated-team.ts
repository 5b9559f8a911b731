import { randomBytes } from 'node:crypto';
import { createLocalJWKSet, jwtVerify, type JWTPayload, SignJWT } from 'jose';
import { type CfAccessEmulatorUser } from './emulator-options.js';
import { type EmulatorKeyRing } from './emulator-key-ring.js';
import { stableUuid } from './identity-document.js';

/** Claims for `signToken`: any claim overrides Cloudflare's default; `expiresIn` is in seconds. */
export interface CfAccessTokenClaims {
  email?: string;
  /** Custom claim: shown by get-identity and usable by predicates. */
  name?: string;
  /** Custom claim: shown by get-identity and usable by predicates. */
  groups?: string[];
  /** Lifetime in seconds (default 3600); an explicit `exp` wins. */
  expiresIn?: number;
  [claim: string]: unknown;
}

/** Claims for `signServiceToken`. */
export interface CfAccessServiceTokenClaims {
  /** The service token's client id, e.g. `4f1c….access`. */
  commonName: string;
  /** Lifetime in seconds (default 3600); an explicit `exp` wins. */
  expiresIn?: number;
  [claim: string]: unknown;
}

/** The emulated team: its domain, application, keys and token minting. */
export class EmulatedTeam {
  /** While true, every `/cdn-cgi/access/*` path answers 503. */
  down = false;
  /** Requests made to `/cdn-cgi/access/certs`. */
  certsRequests = 0;
  /** Requests made to `/cdn-cgi/access/get-identity`. */
  identityRequests = 0;

  constructor(
    readonly teamDomain: string,
    readonly audience: string,
    readonly users: readonly CfAccessEmulatorUser[],
    readonly keys: EmulatorKeyRing,
  ) {}

  /** A genuine RS256 application token with Cloudflare's claim set. */
  signToken(claims: CfAccessTokenClaims = {}): Promise<string> {
    const { expiresIn, ...overrides } = claims;
    const email = typeof overrides.email === 'string' ? overrides.email : 'user@example.com';
    return this.sign(
      {
        aud: [this.audience],
        email,
        iss: this.teamDomain,
        sub: stableUuid(`user:${email}`),
        type: 'app',
        identity_nonce: randomBytes(12).toString('base64url'),
        country: 'US',
        ...overrides,
      },
      expiresIn,
    );
  }

  /** A service token: `common_name`, `sub: ""`, no `email` and no `nbf`. */
  async signServiceToken(claims: CfAccessServiceTokenClaims): Promise<string> {
    const { commonName, expiresIn, ...overrides } = claims ?? {};
    if (typeof commonName !== 'string' || commonName === '') {
      throw new Error('CfAccessEmulator.signServiceToken: "commonName" must be a non-empty string (the client id)');
    }
    return this.sign(
      { aud: [this.audience], iss: this.teamDomain, sub: '', type: 'app', common_name: commonName, nbf: undefined, ...overrides },
      expiresIn,
    );
  }

  /** The claims of a token this team issued and that is still valid, or `null`. */
  async verifySession(token: string): Promise<JWTPayload | null> {
    try {
      const keys = createLocalJWKSet({ keys: this.keys.published.map((key) => key.jwk) });
      const { payload } = await jwtVerify(token, keys, {
        issuer: this.teamDomain,
        audience: this.audience,
        algorithms: ['RS256'],
      });
      return payload;
    } catch {
      return null;
    }
  }

  private async sign(claims: Record<string, unknown>, expiresIn = 3600): Promise<string> {
    if (!Number.isFinite(expiresIn)) {
      throw new Error('CfAccessEmulator: "expiresIn" must be a number of seconds');
    }
    const now = Math.floor(Date.now() / 1000);
    const payload = { iat: now, nbf: now, exp: now + expiresIn, ...claims };
    const defined = Object.fromEntries(Object.entries(payload).filter(([, value]) => value !== undefined));
    const key = this.keys.current;
    return new SignJWT(defined).setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' }).sign(key.privateKey);
  }
}
