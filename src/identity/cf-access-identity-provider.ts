import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { CF_ACCESS_OPTIONS, GET_IDENTITY_PATH, MAX_IDENTITY_BODY_BYTES } from '../cf-access.constants.js';
import { CfAccessUnauthorizedException, CfAccessUnavailableException, describeError } from '../cf-access.errors.js';
import { type ResolvedCfAccessOptions } from '../cf-access.options.js';
import { boundedFetch, type BoundedResponse } from '../http/bounded-fetch.js';
import { type CfAccessFullIdentity } from './cf-access-full-identity.js';
import { type CfAccessIdentity } from './cf-access-identity.js';
import { type CfAccessIdentityStore, MemoryIdentityStore } from './identity-store.js';

/** What the store holds: the identity and the `exp` (seconds) of the token it was fetched for. */
interface CachedIdentity {
  identity: CfAccessFullIdentity;
  exp: number;
}

function isCachedIdentity(value: unknown): value is CachedIdentity {
  const entry = value as CachedIdentity | null | undefined;
  return typeof entry?.exp === 'number' && typeof entry.identity === 'object' && entry.identity !== null;
}

/**
 * Fetches full identities from `<teamDomain>/cdn-cgi/access/get-identity` and caches them per
 * identity (the token's `sub` + `identity_nonce`, or a hash of a token without a nonce), never past
 * the token's `exp`. Concurrent misses for one identity share one fetch. Every caller gets its own
 * copy: what one request does to its full identity never reaches the cache or another request.
 */
@Injectable()
export class CfAccessIdentityProvider {
  private readonly logger = new Logger(CfAccessIdentityProvider.name);
  private readonly url: string;
  private readonly store: CfAccessIdentityStore;
  private readonly inFlight = new Map<string, Promise<CfAccessFullIdentity>>();

  constructor(@Inject(CF_ACCESS_OPTIONS) private readonly options: ResolvedCfAccessOptions) {
    this.url = options.teamDomain + GET_IDENTITY_PATH;
    this.store = options.identity.store ?? new MemoryIdentityStore(options.identity.cacheMaxEntries);
  }

  /**
   * The full identity behind a token that has been verified (`claims` are its verified claims).
   * @throws CfAccessUnauthorizedException `session_revoked` when Cloudflare no longer accepts the token.
   * @throws CfAccessUnavailableException `identity_unavailable` when get-identity cannot be reached.
   */
  async fullIdentity(token: string, claims: CfAccessIdentity): Promise<CfAccessFullIdentity> {
    const key = this.cacheKey(token, claims);
    const cached = await this.read(key);
    if (cached && cached.exp * 1000 > Date.now()) {
      return structuredClone(cached.identity);
    }
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.fetchAndStore(key, token, claims.exp).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return structuredClone(await pending);
  }

  private cacheKey(token: string, claims: CfAccessIdentity): string {
    const nonce = claims.identity_nonce;
    const identity = typeof nonce === 'string' && nonce !== '' ? `${claims.sub}\n${nonce}` : `token\n${token}`;
    const hash = createHash('sha256').update(`${this.options.teamDomain}\n${identity}`).digest('base64url');
    return `cf-access:identity:${hash}`;
  }

  private async read(key: string): Promise<CachedIdentity | undefined> {
    try {
      const entry = await this.store.get(key);
      return isCachedIdentity(entry) ? entry : undefined;
    } catch (error) {
      this.logger.warn(`Identity cache read failed; fetching instead (${describeError(error)})`);
      return undefined;
    }
  }

  private async fetchAndStore(key: string, token: string, exp: number): Promise<CfAccessFullIdentity> {
    const identity = await this.fetchIdentity(token);
    const ttl = Math.min(this.options.identity.cacheTtl, exp * 1000 - Date.now());
    if (ttl > 0) {
      try {
        await this.store.set(key, { identity, exp } satisfies CachedIdentity, ttl);
      } catch (error) {
        this.logger.warn(`Identity cache write failed (${describeError(error)})`);
      }
    }
    return identity;
  }

  private async fetchIdentity(token: string): Promise<CfAccessFullIdentity> {
    let response: BoundedResponse;
    try {
      response = await boundedFetch(this.url, {
        headers: { accept: 'application/json', cookie: `CF_Authorization=${token}` },
        timeout: this.options.identity.timeout,
        maxBytes: MAX_IDENTITY_BODY_BYTES,
      });
    } catch (error) {
      this.logger.warn(`Could not fetch the identity from ${this.url} (${describeError(error)})`);
      throw new CfAccessUnavailableException('identity_unavailable');
    }
    if (response.status === 401 || response.status === 403) {
      throw new CfAccessUnauthorizedException('session_revoked');
    }
    const body = response.body === undefined ? undefined : parseObject(response.body);
    if (!body) {
      this.logger.warn(`Unexpected answer from ${this.url}: HTTP ${response.status}`);
      throw new CfAccessUnavailableException('identity_unavailable');
    }
    if (typeof body.err === 'string') {
      throw new CfAccessUnauthorizedException('session_revoked');
    }
    return body;
  }
}

/** `text` parsed as a JSON object, or `undefined`. */
function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
