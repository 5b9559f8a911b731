import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { type CryptoKey } from 'jose';
import { CERTS_PATH, CF_ACCESS_OPTIONS, COLD_RETRY_MS, MAX_CERTS_BODY_BYTES } from '../cf-access.constants.js';
import { CfAccessUnauthorizedException, CfAccessUnavailableException, describeError } from '../cf-access.errors.js';
import { type ResolvedCfAccessOptions } from '../cf-access.options.js';
import { boundedFetch } from '../http/bounded-fetch.js';
import { importKeySet, type KeySet } from './import-key-set.js';

/** How many skipped keys the summary log line of one fetch names; the rest are counted. */
const SKIPPED_NAMED = 5;

/** The key store's state, as `CfAccessHealthIndicator` reports it. */
export interface CfAccessKeyStatus {
  /** How many signing keys are held. */
  keys: number;
  /** When they were fetched (ISO 8601), if ever. */
  fetchedAt: string | undefined;
  /** Younger than `jwks.cacheMaxAge`. */
  fresh: boolean;
  /** Younger than `jwks.cacheMaxAge + jwks.staleIfError`: tokens can be verified. */
  usable: boolean;
  /** Why the last fetch failed; `undefined` when it succeeded. */
  lastError: string | undefined;
}

/**
 * The team's signing keys, fetched from `<teamDomain>/cdn-cgi/access/certs`.
 *
 * Keys are cached for `jwks.cacheMaxAge`; an unknown `kid` or stale keys trigger one refresh,
 * at most one per `jwks.cooldown` (1 s while no usable key is known), shared by every
 * concurrent caller. When the endpoint fails, known keys keep serving for `jwks.staleIfError`.
 */
@Injectable()
export class CfAccessKeyStore implements OnModuleInit {
  private readonly logger = new Logger(CfAccessKeyStore.name);
  private readonly certsUrl: string;
  private keys: KeySet = new Map();
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private lastError: string | undefined;
  private inFlight: Promise<void> | undefined;

  constructor(@Inject(CF_ACCESS_OPTIONS) private readonly options: ResolvedCfAccessOptions) {
    this.certsUrl = options.teamDomain + CERTS_PATH;
  }

  /** With `prefetchKeys: true`, fetches the keys at start-up; a failure is logged, not fatal. */
  async onModuleInit(): Promise<void> {
    if (!this.options.prefetchKeys) {
      return;
    }
    await this.refresh();
    if (this.lastError === undefined) {
      this.logger.log(`Prefetched ${this.keys.size} signing keys from ${this.certsUrl}`);
    } else {
      this.logger.warn(`Key prefetch from ${this.certsUrl} failed (${this.lastError}); requests will retry`);
    }
  }

  /** What the store holds now, for health checks. */
  status(): CfAccessKeyStatus {
    const loaded = this.keys.size > 0;
    return {
      keys: this.keys.size,
      fetchedAt: loaded ? new Date(this.fetchedAt).toISOString() : undefined,
      fresh: this.isFresh(),
      usable: this.hasUsableKeys(),
      lastError: this.lastError,
    };
  }

  /** Refreshes stale or missing keys if the cooldown allows (a health probe's warm-up), then reports `status()`. */
  async check(): Promise<CfAccessKeyStatus> {
    if (!this.isFresh()) {
      await this.refreshIfAllowed();
    }
    return this.status();
  }

  /**
   * The verification key named `kid`.
   * @throws CfAccessUnauthorizedException `unknown_kid` when the team has no such key.
   * @throws CfAccessUnavailableException when no usable key is known and the endpoint fails.
   */
  async getKey(kid: string): Promise<CryptoKey> {
    const fresh = this.freshKey(kid);
    if (fresh !== undefined) {
      return fresh;
    }
    await this.refreshIfAllowed();
    return this.usableKey(kid);
  }

  /**
   * The key named `kid` when it is known and the keys are fresh (no refresh due), synchronously;
   * `undefined` otherwise, and then `getKey` decides (it may fetch).
   */
  freshKey(kid: string): CryptoKey | undefined {
    const known = this.keys.get(kid);
    return known && this.isFresh() ? known.key : undefined;
  }

  /**
   * Whether `key` is still the key published as `kid` and the keys are fresh (no refresh due): a
   * cheap check, never a fetch. A key republished under its `kid` with other material fails it.
   * @param now the time in milliseconds since the epoch, if the caller has already read it.
   */
  isFreshKey(kid: string, key: CryptoKey, now: number = Date.now()): boolean {
    return this.keys.get(kid)?.key === key && this.isFresh(now);
  }

  /**
   * Fetches the key set now, ignoring the cooldown (for a start-up prefetch), or joins the fetch
   * already under way; never rejects (failures are logged and leave the known keys in place).
   */
  refresh(): Promise<void> {
    this.inFlight ??= this.fetchKeys().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private age(now: number = Date.now()): number {
    return now - this.fetchedAt;
  }

  /** Keys are held and younger than `jwks.cacheMaxAge`: no refresh is due. */
  private isFresh(now: number = Date.now()): boolean {
    return this.keys.size > 0 && this.age(now) < this.options.jwks.cacheMaxAge;
  }

  /** Joins the fetch under way, or starts one if the cooldown (or the cold retry delay) allows. */
  private async refreshIfAllowed(): Promise<void> {
    if (this.inFlight || this.mayFetch()) {
      await this.refresh();
    }
  }

  private hasUsableKeys(): boolean {
    return this.keys.size > 0 && this.age() < this.options.jwks.cacheMaxAge + this.options.jwks.staleIfError;
  }

  private mayFetch(): boolean {
    const wait = this.hasUsableKeys() ? this.options.jwks.cooldown : Math.min(this.options.jwks.cooldown, COLD_RETRY_MS);
    return Date.now() - this.lastAttemptAt >= wait;
  }

  private usableKey(kid: string): CryptoKey {
    if (!this.hasUsableKeys()) {
      throw new CfAccessUnavailableException();
    }
    const known = this.keys.get(kid);
    if (!known) {
      throw new CfAccessUnauthorizedException('unknown_kid');
    }
    return known.key;
  }

  private async fetchKeys(): Promise<void> {
    this.lastAttemptAt = Date.now();
    try {
      const { status, body } = await boundedFetch(this.certsUrl, {
        headers: { accept: 'application/json' },
        timeout: this.options.jwks.timeout,
        maxBytes: MAX_CERTS_BODY_BYTES,
      });
      if (body === undefined) {
        throw new Error(`HTTP ${status}`);
      }
      const { keys, skipped } = await importKeySet(JSON.parse(body), this.keys);
      this.logSkipped(skipped);
      if (keys.size === 0) {
        throw new Error('the response holds no usable RS256 key');
      }
      this.keys = keys;
      this.fetchedAt = Date.now();
      this.lastError = undefined;
      this.logger.debug(`Loaded ${keys.size} signing keys from ${this.certsUrl}`);
    } catch (error) {
      this.lastError = describeError(error);
      this.logger.warn(`Could not fetch signing keys from ${this.certsUrl} (${this.lastError})`);
    }
  }

  /** One warning per fetch for the keys it skipped, naming the first few. */
  private logSkipped(skipped: string[]): void {
    if (skipped.length === 0) {
      return;
    }
    const more = skipped.length > SKIPPED_NAMED ? `; and ${skipped.length - SKIPPED_NAMED} more` : '';
    this.logger.warn(`Ignored keys from ${this.certsUrl}: ${skipped.slice(0, SKIPPED_NAMED).join('; ')}${more}`);
  }
}
