import { Inject, Injectable } from '@nestjs/common';
import { compactVerify, type CryptoKey, errors } from 'jose';
import { ExpiringLru } from './cache/expiring-lru.js';
import { CF_ACCESS_OPTIONS } from './cf-access.constants.js';
import { CfAccessUnauthorizedException } from './cf-access.errors.js';
import { type ResolvedCfAccessOptions } from './cf-access.options.js';
import { type CfAccessFullIdentity } from './identity/cf-access-full-identity.js';
import { type CfAccessIdentity } from './identity/cf-access-identity.js';
import { CfAccessIdentityProvider } from './identity/cf-access-identity-provider.js';
import { deepFreeze } from './identity/deep-freeze.js';
import { fullIdentityOf, rememberToken, verifiedTokenOf } from './identity/request-access.js';
import { CfAccessKeyStore } from './keys/cf-access-key-store.js';
import { type CfAccessLoginUrlOptions, loginUrl, logoutUrl } from './session/access-urls.js';
import { checkClaims } from './token/check-claims.js';
import { type CfAccessRequest } from './token/cf-access-request.js';
import { decodeToken } from './token/decode-token.js';
import { extractToken } from './token/extract-token.js';

/** The header Cloudflare forwards the token in, as `forwardHeaders` names it. */
const FORWARD_HEADER = 'Cf-Access-Jwt-Assertion';

/**
 * Verifies Cloudflare Access tokens; for use in guards, filters, middleware and views.
 *
 * Verified tokens are remembered (a bounded LRU of `tokenCacheSize`, keyed by the exact token,
 * each entry living until the token's `exp`; a token is admitted on its second verification, so
 * a stream of never-repeated tokens is not retained), and a repeat request skips the RSA work: it
 * checks that the very key that verified the token is still published under its `kid` and fresh;
 * an entry whose key is gone or replaced is dropped and the token verified again. Claims objects
 * are deeply frozen and shared: no request can change what another sees.
 */
@Injectable()
export class CfAccessService {
  /** Verified tokens → the key that verified them and their (deeply frozen) claims. */
  private readonly verified: ExpiringLru<{ kid: string; key: CryptoKey; claims: CfAccessIdentity }> | undefined;

  constructor(
    @Inject(CF_ACCESS_OPTIONS) private readonly options: ResolvedCfAccessOptions,
    private readonly keys: CfAccessKeyStore,
    private readonly identities: CfAccessIdentityProvider,
  ) {
    this.verified =
      options.tokenCacheSize > 0 ? new ExpiringLru(options.tokenCacheSize, { admitOnSecondSighting: true }) : undefined;
  }

  /**
   * Verifies a token against the team's keys, issuer and audience, and resolves its claims.
   * Service tokens are returned like any other (`allowServiceTokens` is guard policy).
   * @throws CfAccessUnauthorizedException with the first failing rule's `reason` (DESIGN §3).
   * @throws CfAccessUnavailableException when no key is known and the key endpoint cannot be reached.
   */
  verify(token: string): Promise<CfAccessIdentity> {
    const cached = this.cachedIdentity(token);
    return cached === undefined ? this.verifyFully(token) : Promise.resolve(cached);
  }

  /**
   * The claims of `token` when it was verified before and its entry still holds (not past `exp`,
   * its key still published and fresh): synchronous, never a fetch or an RSA operation. `undefined`
   * means "not known": `verify` decides. A token is cached only after passing every rule, and no
   * rule but `exp` can change with time, so a hit needs no other check.
   */
  cachedIdentity(token: string): CfAccessIdentity | undefined {
    const now = Date.now();
    const hit = typeof token === 'string' ? this.verified?.get(token, now) : undefined;
    if (hit === undefined) {
      return undefined;
    }
    if (this.keys.isFreshKey(hit.kid, hit.key, now)) {
      return hit.claims;
    }
    this.verified?.delete(token);
    return undefined;
  }

  private async verifyFully(token: string): Promise<CfAccessIdentity> {
    const { kid, claims } = decodeToken(token);
    if (claims.iss !== this.options.teamDomain) {
      throw new CfAccessUnauthorizedException('wrong_issuer');
    }
    const key = this.keys.freshKey(kid) ?? (await this.keys.getKey(kid)); // no await (a microtask) for a known key
    try {
      await compactVerify(token, key, { algorithms: ['RS256'] });
    } catch (error) {
      const forged = error instanceof errors.JWSSignatureVerificationFailed;
      throw new CfAccessUnauthorizedException(forged ? 'bad_signature' : 'malformed');
    }
    const now = Date.now();
    checkClaims(claims, this.options, now / 1000);
    const identity = deepFreeze(claims);
    rememberToken(identity, token);
    const ttl = identity.exp * 1000 - now;
    if (ttl > 0) {
      this.verified?.set(token, { kid, key, claims: identity }, ttl);
    }
    return identity;
  }

  /**
   * The identity of a request, or `null` when it carries no token or an invalid one.
   * @throws CfAccessUnavailableException when keys are unknown and cannot be fetched.
   */
  async authenticate(request: CfAccessRequest): Promise<CfAccessIdentity | null> {
    const token = extractToken(request, this.options.tokenSources);
    return token === undefined ? null : this.verifyOrNull(token);
  }

  /**
   * Everything Cloudflare knows about the request's identity (get-identity: groups, IdP, geo, …),
   * cached per identity; `null` when the request carries no valid token, or when the guard left it
   * anonymous (`@OptionalIdentity()`; then nothing is fetched). On a route the guard admitted, this
   * reuses the guard's token and lookup.
   * @throws CfAccessUnauthorizedException `session_revoked` when Cloudflare no longer accepts the token.
   * @throws CfAccessUnavailableException when keys or get-identity cannot be reached.
   */
  async getIdentity(request: CfAccessRequest): Promise<CfAccessFullIdentity | null> {
    const judged = fullIdentityOf(request, this.loadFullIdentity);
    if (judged !== undefined) {
      return judged;
    }
    const token = extractToken(request, this.options.tokenSources);
    if (token === undefined) {
      return null;
    }
    const claims = await this.verifyOrNull(token);
    return claims && this.fullIdentity(token, claims);
  }

  /**
   * The full identity behind `token`, whose verified claims are `claims` (see `getIdentity`).
   * @throws as `getIdentity`.
   */
  fullIdentity(token: string, claims: CfAccessIdentity): Promise<CfAccessFullIdentity> {
    return this.identities.fullIdentity(token, claims);
  }

  private readonly loadFullIdentity = (token: string, claims: CfAccessIdentity) => this.fullIdentity(token, claims);

  /**
   * The raw token `CfAccessGuard` verified for this request, from whichever source it came (header,
   * cookie, a custom `tokenSources` entry, or a guard subclass's `extractToken`); `undefined` when
   * the guard verified none (`@Public()`, or anonymous on an `@OptionalIdentity()` route). It never
   * reads the request itself, so a token the guard did not verify is never handed on.
   */
  tokenOf(request: object): string | undefined {
    return verifiedTokenOf(request);
  }

  /**
   * Headers that forward the verified token to a downstream service behind the same Access team,
   * as Cloudflare sends it: `{ 'Cf-Access-Jwt-Assertion': token }`; `{}` when the guard verified
   * none (see `tokenOf`). Spread them into `fetch`, axios or `HttpService` headers.
   */
  forwardHeaders(request: object): Record<string, string> {
    const token = verifiedTokenOf(request);
    return token === undefined ? {} : { [FORWARD_HEADER]: token };
  }

  /**
   * Cloudflare's login URL for the application at `hostname`:
   * `<teamDomain>/cdn-cgi/access/login/<hostname>?kid=<first AUD tag>&redirect_url=<path>`, for a
   * "log in again" link or a SPA whose session ended. `redirectUrl` (default `/`) is normalized and
   * must stay on the application.
   * @throws BadRequestException naming `hostname` or `redirectUrl` when either is not acceptable.
   */
  loginUrl(options: CfAccessLoginUrlOptions): string {
    return loginUrl(this.options.teamDomain, this.options.audience[0] as string, options);
  }

  /**
   * Cloudflare's logout URL, `<teamDomain>/cdn-cgi/access/logout`: it ends the session for every
   * Access application of the team (tokens already issued stop being accepted at Cloudflare's edge
   * within about 30 s; a token verified here stays valid until its `exp`).
   */
  logoutUrl(): string {
    return logoutUrl(this.options.teamDomain);
  }

  private async verifyOrNull(token: string): Promise<CfAccessIdentity | null> {
    try {
      return await this.verify(token);
    } catch (error) {
      if (error instanceof CfAccessUnauthorizedException) {
        return null;
      }
      throw error;
    }
  }
}
