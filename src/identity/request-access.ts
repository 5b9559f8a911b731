import { type CfAccessFullIdentity } from './cf-access-full-identity.js';
import { type CfAccessIdentity } from './cf-access-identity.js';

/** What the guard verified for one request: the token, its identity and the app user (`userResolver`). */
export interface VerifiedAccess {
  token: string;
  identity: CfAccessIdentity;
  /** The resolved app user; `undefined` without a `userResolver`. */
  user?: unknown;
}

/** What the guard verified for one request, and the full identity once loaded. */
interface RequestAccess extends VerifiedAccess {
  fullIdentity?: Promise<CfAccessFullIdentity>;
}

/** A symbol key: never serialized by JSON.stringify, never listed by Object.keys, so never logged by accident. */
const ACCESS = Symbol('cfAccess');

/** The app-user lookup of one request, and the token it was made for. */
const USER_LOOKUP = Symbol('cfAccessUserLookup');

/** `null`: the guard judged the request and left it anonymous (`@OptionalIdentity()`). */
type Holder = {
  [ACCESS]?: RequestAccess | null;
  [USER_LOOKUP]?: { token: string; user: Promise<unknown> };
};

/** Remembers the token the guard verified for `request`, its identity and the app user. */
export function rememberAccess(request: object, { token, identity, user }: VerifiedAccess): void {
  const access: RequestAccess = { token, identity, user, fullIdentity: undefined };
  (request as Holder)[ACCESS] = access;
}

/** Remembers that the guard left `request` anonymous: nothing may load an identity for it later. */
export function rememberAnonymous(request: object): void {
  (request as Holder)[ACCESS] = null;
}

/**
 * The raw token the guard verified for `request`, whichever source it came from; `undefined` when
 * the guard verified none (anonymous, `@Public()`, no guard).
 */
export function verifiedTokenOf(request: object): string | undefined {
  return (request as Holder)[ACCESS]?.token;
}

/**
 * The app user the guard resolved for `request` (`userResolver`); `undefined` when the guard left it
 * anonymous, did not judge it, or has no `userResolver`.
 */
export function resolvedUserOf(request: object): unknown {
  return (request as Holder)[ACCESS]?.user;
}

/**
 * The app user behind `token` on `request`, looked up with `load` at most once per request and token,
 * so guards that run several times for one request (each GraphQL field, a global guard plus
 * `@UseGuards`) share one lookup, concurrent ones included.
 */
export function userLookupOf(request: object, token: string, load: () => Promise<unknown>): Promise<unknown> {
  const holder = request as Holder;
  const held = holder[USER_LOOKUP];
  if (held?.token === token) {
    return held.user;
  }
  const user = load();
  holder[USER_LOOKUP] = { token, user };
  return user;
}

/**
 * The full identity of a request the guard admitted, loaded with `load` at most once per request
 * (predicates, `@CfFullIdentity()` and `CfAccessService.getIdentity` share it); `null` when the guard
 * left the request anonymous; `undefined` when the guard did not judge it (`@Public()`, no guard).
 */
export function fullIdentityOf(
  request: object,
  load: (token: string, identity: CfAccessIdentity) => Promise<CfAccessFullIdentity>,
): Promise<CfAccessFullIdentity> | null | undefined {
  const access = (request as Holder)[ACCESS];
  return access && (access.fullIdentity ??= load(access.token, access.identity));
}
