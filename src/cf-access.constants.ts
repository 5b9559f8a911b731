/** Metadata key set by `@Public()`. */
export const CF_ACCESS_PUBLIC = 'cf-access:public';

/** Metadata key set by `@OptionalIdentity()`. */
export const CF_ACCESS_OPTIONAL = 'cf-access:optional-identity';

/** Metadata key under which `@RequireIdentity()` stacks its predicates. */
export const CF_ACCESS_REQUIREMENTS = 'cf-access:require-identity';

/** Injection token of the validated, normalized options (`ResolvedCfAccessOptions`). */
export const CF_ACCESS_OPTIONS = Symbol('CF_ACCESS_OPTIONS');

/** Request property where the guard stores the verified identity (`undefined` when anonymous). */
export const CF_ACCESS_IDENTITY_KEY = 'cfAccessIdentity';

/** Path of the team's signing keys, relative to the team domain. */
export const CERTS_PATH = '/cdn-cgi/access/certs';

/** Path of the full identity of a token, relative to the team domain. */
export const GET_IDENTITY_PATH = '/cdn-cgi/access/get-identity';

/** Tokens longer than this are refused before any decoding (Cloudflare's must fit a 4 KiB cookie). */
export const MAX_TOKEN_LENGTH = 8 * 1024;

/** The most bytes read from a certs response; a longer body is a failed fetch (Cloudflare's is ~3 KiB). */
export const MAX_CERTS_BODY_BYTES = 1024 * 1024;

/** The most keys taken from one certs response (Cloudflare publishes two); later entries are skipped. */
export const MAX_KEYS_PER_RESPONSE = 64;

/** The most bytes read from a get-identity response; a longer body is a failed fetch. */
export const MAX_IDENTITY_BODY_BYTES = 64 * 1024;

/** After a failed key fetch with no usable keys, the next request may retry this soon (ms). */
export const COLD_RETRY_MS = 1_000;

/** Defaults of the optional options (DESIGN §2). Durations under `jwks` and `identity` are in milliseconds. */
export const CF_ACCESS_DEFAULTS = Object.freeze({
  tokenSources: Object.freeze([
    Object.freeze({ header: 'cf-access-jwt-assertion' }),
    Object.freeze({ cookie: 'CF_Authorization' }),
  ]),
  clockTolerance: 30,
  jwks: Object.freeze({ cacheMaxAge: 600_000, cooldown: 30_000, timeout: 5_000, staleIfError: 86_400_000 }),
  allowServiceTokens: true,
  identity: Object.freeze({ cacheTtl: 300_000, cacheMaxEntries: 10_000, timeout: 5_000 }),
  prefetchKeys: false,
  tokenCacheSize: 10_000,
});
