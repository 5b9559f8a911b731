import { CF_ACCESS_IDENTITY_KEY } from '../cf-access.constants.js';
import { type CfAccessRequest } from '../token/cf-access-request.js';
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

/** Every identity `CfAccessService` verified → the token it verified it from (the identity objects are its own). */
const TOKENS = new WeakMap<CfAccessIdentity, string>();

/**
 * `null`: the guard judged the request and left it anonymous (`@OptionalIdentity()`). Absent: the
 * identity the guard stored (`request.cfAccessIdentity`) says which token it verified, if any.
 */
type Holder = CfAccessRequest & {
  [ACCESS]?: RequestAccess | null;
  [USER_LOOKUP]?: { token: string; user: Promise<unknown> };
};

/** Records that `identity` (an object the service made, deeply frozen) was verified from `token`. */
export function rememberToken(identity: CfAccessIdentity, token: string): void {
  TOKENS.set(identity, token);
}

/**
 * Remembers what the guard admitted `request` with. Its identity (stored by the guard on the request)
 * already names the token, so only an app user needs a record of its own: adding a property to a
 * request object is what the fast path must not pay twice (on Express's requests it costs ~1 µs).
 * A record left by an earlier run of the guard on the same object (a WebSocket handshake) is dropped.
 */
export function rememberAccess(request: object, { token, identity, user }: VerifiedAccess): void {
  const holder = request as Holder;
  if (user !== undefined) {
    const access: RequestAccess = { token, identity, user, fullIdentity: undefined };
    holder[ACCESS] = access;
  } else if (holder[ACCESS] !== undefined) {
    holder[ACCESS] = undefined;
  }
}

/** Remembers that the guard left `request` anonymous: nothing may load an identity for it later. */
export function rememberAnonymous(request: object): void {
  (request as Holder)[ACCESS] = null;
}

/**
 * What the guard admitted `request` with (a record made on first use from its identity, so a full
 * identity is loaded once per request); `null` when it left it anonymous; `undefined` when it did
 * not judge it, or when `request.cfAccessIdentity` is not an identity the service verified.
 */
function accessOf(request: object): RequestAccess | null | undefined {
  const holder = request as Holder;
  const held = holder[ACCESS];
  if (held !== undefined) {
    return held;
  }
  const identity = holder[CF_ACCESS_IDENTITY_KEY];
  const token = identity === undefined ? undefined : TOKENS.get(identity);
  if (token === undefined) {
    return undefined;
  }
  const access: RequestAccess = { token, identity: identity as CfAccessIdentity, user: undefined, fullIdentity: undefined };
  holder[ACCESS] = access;
  return access;
}

/**
 * The raw token the guard verified for `request`, whichever source it came from; `undefined` when
 * the guard verified none (anonymous, `@Public()`, no guard).
 */
export function verifiedTokenOf(request: object): string | undefined {
  return accessOf(request)?.token;
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
  const access = accessOf(request);
  return access && (access.fullIdentity ??= load(access.token, access.identity));
}
