import { CF_ACCESS_DEFAULTS } from './cf-access.constants.js';
import { type Type } from '@nestjs/common';
import { type CfAccessIdentityStore } from './identity/identity-store.js';
import { type CfAccessUserResolver } from './users/cf-access-user-resolver.js';

/** One place to read the token from: a request header or a cookie. */
export type CfAccessTokenSource = { header: string } | { cookie: string };

/** Key-set fetching and caching; every duration is in milliseconds. */
export interface CfAccessJwksOptions {
  /** How long fetched keys count as fresh. Default 600 000 (10 min). */
  cacheMaxAge?: number;
  /** Least time between two fetches of the key set, of any cause. Default 30 000. */
  cooldown?: number;
  /** A key fetch that takes longer is abandoned. Default 5 000. */
  timeout?: number;
  /** How long keys past `cacheMaxAge` keep serving while the endpoint fails. Default 86 400 000 (24 h). */
  staleIfError?: number;
}

/** Full identities from get-identity: caching and fetching; durations in milliseconds. */
export interface CfAccessIdentityOptions {
  /** Where identities are cached: e.g. the `@nestjs/cache-manager` cache. Default: in memory. */
  store?: CfAccessIdentityStore;
  /** How long an identity is cached; never past its token's `exp`. Default 300 000 (5 min). */
  cacheTtl?: number;
  /** Bound of the default in-memory store. Default 10 000. */
  cacheMaxEntries?: number;
  /** A get-identity call that takes longer is abandoned. Default 5 000. */
  timeout?: number;
}

/** Options of `CfAccessModule.forRoot` / `forRootAsync` (DESIGN §2). */
export interface CfAccessModuleOptions {
  /** `https://<team>.cloudflareaccess.com` or a custom domain; `http://` only for loopback. */
  teamDomain?: string;
  /** Shorthand for `teamDomain`: `<team>` or `<team>.cloudflareaccess.com` (any case) means `https://<team>.cloudflareaccess.com`. */
  team?: string;
  /** The application's AUD tag, or several; a token passes if its `aud` contains any. */
  audience: string | readonly string[];
  /** Where to read the token, in order; the first present source is the token. */
  tokenSources?: readonly CfAccessTokenSource[];
  /** Clock skew allowed on `exp` / `nbf` / `iat`, in seconds. Default 30. */
  clockTolerance?: number;
  /** Key-set fetching and caching. */
  jwks?: CfAccessJwksOptions;
  /** Whether service tokens (`common_name`, no `email`) pass the guard. Default true. */
  allowServiceTokens?: boolean;
  /** Full identities (`getIdentity`, `@CfFullIdentity()`, `inGroup`): cache and timeout. */
  identity?: CfAccessIdentityOptions;
  /** Fetch the team's keys at start-up instead of on the first request. Default false. */
  prefetchKeys?: boolean;
  /** How many verified tokens to remember, so repeat requests skip the RSA work; 0 turns it off. Default 10 000. */
  tokenCacheSize?: number;
  /**
   * A class implementing `CfAccessUserResolver`, instantiated by DI inside `CfAccessModule` (its
   * dependencies from `forRootAsync({ imports })` or global modules): the app user of every
   * admitted request, on `request.user` and `@CfUser()`.
   */
  userResolver?: Type<CfAccessUserResolver>;
}

/** Options after validation and normalization: every default filled in. */
export interface ResolvedCfAccessOptions {
  /** The team's origin, e.g. `https://acme.cloudflareaccess.com`; tokens' `iss` must equal it. */
  readonly teamDomain: string;
  readonly audience: readonly string[];
  readonly tokenSources: readonly CfAccessTokenSource[];
  readonly clockTolerance: number;
  readonly jwks: Readonly<Required<CfAccessJwksOptions>>;
  readonly allowServiceTokens: boolean;
  readonly identity: Readonly<Required<Omit<CfAccessIdentityOptions, 'store'>> & Pick<CfAccessIdentityOptions, 'store'>>;
  readonly prefetchKeys: boolean;
  readonly tokenCacheSize: number;
  /** The `userResolver` class, instantiated once by `CfAccessModule`; `undefined` without one. */
  readonly userResolver?: Type<CfAccessUserResolver>;
}

/** Implemented by classes given to `forRootAsync({ useClass | useExisting })`. */
export interface CfAccessOptionsFactory {
  createCfAccessOptions(): CfAccessModuleOptions | Promise<CfAccessModuleOptions>;
}

const OPTION_NAMES = [
  'teamDomain',
  'team',
  'audience',
  'tokenSources',
  'clockTolerance',
  'jwks',
  'allowServiceTokens',
  'identity',
  'prefetchKeys',
  'tokenCacheSize',
  'userResolver',
];
const JWKS_NAMES = Object.keys(CF_ACCESS_DEFAULTS.jwks) as (keyof CfAccessJwksOptions)[];
const IDENTITY_NAMES = ['store', ...Object.keys(CF_ACCESS_DEFAULTS.identity)];
const TEAM_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** The domain of every team's Access origin. */
const TEAM_SUFFIX = '.cloudflareaccess.com';
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
const COOKIE_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** A start-up error whose message names the option and the form expected. */
function invalid(option: string, expected: string): Error {
  return new Error(`CfAccessModule: "${option}" ${expected}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Switches of `forRoot` / `forRootAsync` themselves, easily put in a factory's options by mistake. */
const MODULE_SWITCHES = ['globalGuard', 'isGlobal'];

function rejectUnknown(input: Record<string, unknown>, known: readonly string[], prefix: string): void {
  const unknown = Object.keys(input).find((key) => !known.includes(key));
  if (unknown !== undefined && prefix === '' && MODULE_SWITCHES.includes(unknown)) {
    throw invalid(unknown, 'is a module switch: give it to forRoot() / forRootAsync() itself, not in the options a factory returns');
  }
  if (unknown !== undefined) {
    throw invalid(prefix + unknown, `is not an option (known: ${known.join(', ')})`);
  }
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/**
 * The team's DNS label from `team` as users write it: `acme` or `acme.cloudflareaccess.com`, any case.
 * @throws Error naming `team` for anything else (a path, port, scheme, other domain, empty label).
 */
function resolveTeamLabel(team: unknown): string {
  const name = typeof team === 'string' ? team.toLowerCase() : '';
  const label = name.endsWith(TEAM_SUFFIX) ? name.slice(0, -TEAM_SUFFIX.length) : name;
  if (!TEAM_LABEL.test(label)) {
    throw invalid('team', 'must be a team name or its Access domain: "acme" or "acme.cloudflareaccess.com" (letters, digits and inner hyphens)');
  }
  return label;
}

function resolveTeamDomain(teamDomain: unknown, team: unknown): string {
  if (teamDomain !== undefined && team !== undefined) {
    throw invalid('team', 'cannot be given together with "teamDomain": give one of them');
  }
  if (team !== undefined) {
    return `https://${resolveTeamLabel(team)}${TEAM_SUFFIX}`;
  }
  const expected = 'must be an origin like "https://<team>.cloudflareaccess.com" (http:// only for loopback)';
  if (typeof teamDomain !== 'string' || teamDomain.trim() === '') {
    throw invalid('teamDomain', `is required: ${expected}, or give "team"`);
  }
  let url: URL;
  try {
    url = new URL(teamDomain);
  } catch {
    throw invalid('teamDomain', `${expected}; got an invalid URL`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
    throw invalid('teamDomain', `${expected}; got ${url.protocol}//${url.hostname}`);
  }
  if (url.username || url.password || url.pathname !== '/' || /[?#]/.test(teamDomain)) {
    throw invalid('teamDomain', `${expected}, without credentials, path, query or fragment`);
  }
  return url.origin;
}

function resolveAudience(audience: unknown): readonly string[] {
  const tags = typeof audience === 'string' ? [audience] : audience;
  const valid =
    Array.isArray(tags) && tags.length > 0 && tags.every((tag) => typeof tag === 'string' && tag.trim() !== '');
  if (!valid) {
    throw invalid('audience', 'must be a non-empty string or array of non-empty strings (the AUD tag)');
  }
  return Object.freeze([...(tags as string[])]);
}

function resolveTokenSource(source: unknown, index: number): CfAccessTokenSource {
  const name = `tokenSources[${index}]`;
  const expected = 'must be { header: "<header name>" } or { cookie: "<cookie name>" }';
  if (!isRecord(source) || Object.keys(source).length !== 1) {
    throw invalid(name, expected);
  }
  if (typeof source.header === 'string' && HEADER_NAME.test(source.header.toLowerCase())) {
    return { header: source.header.toLowerCase() };
  }
  if (typeof source.cookie === 'string' && COOKIE_NAME.test(source.cookie)) {
    return { cookie: source.cookie };
  }
  throw invalid(name, expected);
}

function resolveTokenSources(sources: unknown): readonly CfAccessTokenSource[] {
  if (sources === undefined) {
    return CF_ACCESS_DEFAULTS.tokenSources;
  }
  if (!Array.isArray(sources) || sources.length === 0) {
    throw invalid('tokenSources', 'must be a non-empty array of { header } / { cookie } sources');
  }
  return Object.freeze(sources.map(resolveTokenSource));
}

function resolveNumber(name: string, value: unknown, fallback: number, minimum: 'zero' | 'positive'): number {
  if (value === undefined) {
    return fallback;
  }
  const ok = typeof value === 'number' && Number.isFinite(value) && (minimum === 'zero' ? value >= 0 : value > 0);
  if (!ok) {
    throw invalid(name, `must be a finite number ${minimum === 'zero' ? '>= 0' : '> 0'}`);
  }
  return value;
}

/** Largest delay Node's timers (and `AbortSignal.timeout`) accept, in milliseconds. */
const MAX_TIMER_MS = 2_147_483_647;

function resolveTimeout(name: string, value: unknown, fallback: number): number {
  if (value !== undefined && !(Number.isInteger(value) && (value as number) >= 1 && (value as number) <= MAX_TIMER_MS)) {
    throw invalid(name, `must be a whole number of milliseconds from 1 to ${MAX_TIMER_MS}`);
  }
  return (value as number | undefined) ?? fallback;
}

function resolveJwks(jwks: unknown): ResolvedCfAccessOptions['jwks'] {
  if (jwks === undefined) {
    return CF_ACCESS_DEFAULTS.jwks;
  }
  if (!isRecord(jwks)) {
    throw invalid('jwks', `must be an object with any of ${JWKS_NAMES.join(', ')} (milliseconds)`);
  }
  rejectUnknown(jwks, JWKS_NAMES, 'jwks.');
  const defaults = CF_ACCESS_DEFAULTS.jwks;
  return Object.freeze({
    cacheMaxAge: resolveNumber('jwks.cacheMaxAge', jwks.cacheMaxAge, defaults.cacheMaxAge, 'positive'),
    cooldown: resolveNumber('jwks.cooldown', jwks.cooldown, defaults.cooldown, 'zero'),
    timeout: resolveTimeout('jwks.timeout', jwks.timeout, defaults.timeout),
    staleIfError: resolveNumber('jwks.staleIfError', jwks.staleIfError, defaults.staleIfError, 'zero'),
  });
}

function resolveIdentity(identity: unknown): ResolvedCfAccessOptions['identity'] {
  if (identity === undefined) {
    return CF_ACCESS_DEFAULTS.identity;
  }
  if (!isRecord(identity)) {
    throw invalid('identity', `must be an object with any of ${IDENTITY_NAMES.join(', ')}`);
  }
  rejectUnknown(identity, IDENTITY_NAMES, 'identity.');
  const store = identity.store as CfAccessIdentityStore | undefined;
  if (store !== undefined && (typeof store?.get !== 'function' || typeof store?.set !== 'function')) {
    throw invalid('identity.store', 'must have get(key) and set(key, value, ttl) methods (e.g. the CACHE_MANAGER cache)');
  }
  const defaults = CF_ACCESS_DEFAULTS.identity;
  return Object.freeze({
    store,
    cacheTtl: resolveNumber('identity.cacheTtl', identity.cacheTtl, defaults.cacheTtl, 'zero'),
    cacheMaxEntries: resolveNumber('identity.cacheMaxEntries', identity.cacheMaxEntries, defaults.cacheMaxEntries, 'positive'),
    timeout: resolveTimeout('identity.timeout', identity.timeout, defaults.timeout),
  });
}

function resolveCount(name: string, value: unknown, fallback: number): number {
  if (value !== undefined && !(Number.isSafeInteger(value) && (value as number) >= 0)) {
    throw invalid(name, 'must be a whole number >= 0');
  }
  return (value as number | undefined) ?? fallback;
}

function resolveBoolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) {
    return fallback;
  }
  if (typeof value !== 'boolean') {
    throw invalid(name, 'must be true or false');
  }
  return value;
}

function resolveUserResolver(value: unknown): Type<CfAccessUserResolver> | undefined {
  if (value === undefined) {
    return undefined;
  }
  const resolve: unknown = typeof value === 'function' ? (value.prototype as { resolve?: unknown } | undefined)?.resolve : undefined;
  if (typeof resolve !== 'function') {
    throw invalid('userResolver', 'must be a class with a resolve(identity, context) method (one that implements CfAccessUserResolver)');
  }
  return value as Type<CfAccessUserResolver>;
}

/**
 * Validates options once, at start-up, and fills in the defaults.
 * @throws Error naming the bad option and the form expected.
 */
export function resolveCfAccessOptions(options: unknown): ResolvedCfAccessOptions {
  if (!isRecord(options)) {
    throw new Error('CfAccessModule: options must be an object like { teamDomain, audience }');
  }
  rejectUnknown(options, OPTION_NAMES, '');
  return Object.freeze({
    teamDomain: resolveTeamDomain(options.teamDomain, options.team),
    audience: resolveAudience(options.audience),
    tokenSources: resolveTokenSources(options.tokenSources),
    clockTolerance: resolveNumber('clockTolerance', options.clockTolerance, CF_ACCESS_DEFAULTS.clockTolerance, 'zero'),
    jwks: resolveJwks(options.jwks),
    allowServiceTokens: resolveBoolean('allowServiceTokens', options.allowServiceTokens, CF_ACCESS_DEFAULTS.allowServiceTokens),
    identity: resolveIdentity(options.identity),
    prefetchKeys: resolveBoolean('prefetchKeys', options.prefetchKeys, CF_ACCESS_DEFAULTS.prefetchKeys),
    tokenCacheSize: resolveCount('tokenCacheSize', options.tokenCacheSize, CF_ACCESS_DEFAULTS.tokenCacheSize),
    userResolver: resolveUserResolver(options.userResolver),
  });
}
