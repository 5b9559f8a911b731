/** What bench/run.ts measures; bench/server.ts builds the servers, bench/report.ts writes RESULTS.md. */

/** The Nest adapters measured. */
export const ADAPTERS = ['express', 'fastify'] as const;
export type Adapter = (typeof ADAPTERS)[number];
/** The servers bench/server.ts can start: a Nest app on an adapter, or bare `node:http`. */
export type Stack = Adapter | 'raw';
export const STACKS: readonly Stack[] = [...ADAPTERS, 'raw'];
/** The guards a Nest server can have on every route. */
export const GUARDS = ['none', 'noop', 'cf-access', 'jose', 'jose-identity', 'passport'] as const;
export type Guard = (typeof GUARDS)[number];

/** One row of the results: a server, a route, and the tokens its requests carry. */
export interface Scenario {
  /** Its name in `BENCH_SCENARIOS`. */
  key: string;
  label: string;
  /** The label in the targets table. */
  short: string;
  guard: Guard;
  route: '/plain' | '/identity';
  /** `repeated`: every request carries the same token; `unique`: each its own, never sent twice in a run. */
  tokens: 'repeated' | 'unique';
}

/** The generator's ceiling: bare `node:http`, the same request bytes, once per round. */
export const CEILINGS: Scenario[] = [
  { key: 'ceiling', short: 'ceiling', label: 'raw node:http, repeated token (static request)', guard: 'none', route: '/plain', tokens: 'repeated' },
  { key: 'ceiling-unique', short: 'ceiling, unique', label: 'raw node:http, unique tokens (Lua request())', guard: 'none', route: '/plain', tokens: 'unique' },
];

/** The rows measured on each adapter. Requests carry a token header on every row, so all parse the same bytes. */
export const SCENARIOS: Scenario[] = [
  { key: 'unprotected', short: 'unprotected', label: 'unprotected route', guard: 'none', route: '/plain', tokens: 'repeated' },
  { key: 'noop', short: 'no-op guard', label: 'no-op guard (constant identity) + @CfIdentity()', guard: 'noop', route: '/identity', tokens: 'repeated' },
  { key: 'noop-twin', short: 'no-op guard, second process', label: 'the same no-op guard in a second process (A/A: the instrument\'s own spread)', guard: 'noop', route: '/identity', tokens: 'repeated' },
  { key: 'hit', short: 'hit + @CfIdentity()', label: 'CfAccessGuard, cache hit (repeated token) + @CfIdentity()', guard: 'cf-access', route: '/identity', tokens: 'repeated' },
  { key: 'hit-plain', short: 'hit, no @CfIdentity()', label: 'CfAccessGuard, cache hit (repeated token), no @CfIdentity()', guard: 'cf-access', route: '/plain', tokens: 'repeated' },
  { key: 'miss', short: 'miss + @CfIdentity()', label: 'CfAccessGuard, cache miss (unique tokens) + @CfIdentity()', guard: 'cf-access', route: '/identity', tokens: 'unique' },
  { key: 'miss-plain', short: 'miss, no @CfIdentity()', label: 'CfAccessGuard, cache miss (unique tokens), no @CfIdentity()', guard: 'cf-access', route: '/plain', tokens: 'unique' },
  { key: 'jose', short: 'bare jose guard', label: 'bare jose jwtVerify guard, no cache (unique tokens)', guard: 'jose', route: '/plain', tokens: 'unique' },
  { key: 'jose-identity', short: 'bare jose guard + @CfIdentity()', label: 'bare jose jwtVerify guard storing its payload, no cache (unique tokens) + @CfIdentity()', guard: 'jose-identity', route: '/identity', tokens: 'unique' },
  { key: 'passport', short: 'passport-jwt', label: '@nestjs/passport + passport-jwt + jwks-rsa (repeated token)', guard: 'passport', route: '/plain', tokens: 'repeated' },
];

/** Issue 14's targets: `row` ≥ `factor` × `base`, on each adapter. */
export const TARGETS: { row: string; base: string; factor: number }[] = [
  { row: 'hit', base: 'noop', factor: 0.95 },
  { row: 'hit', base: 'unprotected', factor: 0.9 },
  { row: 'hit-plain', base: 'unprotected', factor: 0.9 },
  { row: 'miss', base: 'jose-identity', factor: 0.95 },
  { row: 'miss-plain', base: 'jose', factor: 0.95 },
];

/** The pairs measured at once on one core: every target's rows, and the A/A pair (two no-op processes). */
export const PAIRS: { row: string; base: string }[] = [...TARGETS, { row: 'noop-twin', base: 'noop' }];
