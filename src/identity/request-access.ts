import { type CfAccessFullIdentity } from './cf-access-full-identity.js';
import { type CfAccessIdentity } from './cf-access-identity.js';

/** What the guard verified for one request. */
interface RequestAccess {
  token: string;
  identity: CfAccessIdentity;
  fullIdentity?: Promise<CfAccessFullIdentity>;
}

/** A symbol key: never serialized by JSON.stringify, never listed by Object.keys, so never logged by accident. */
const ACCESS = Symbol('cfAccess');

/** `null`: the guard judged the request and left it anonymous (`@OptionalIdentity()`). */
type Holder = { [ACCESS]?: RequestAccess | null };

/** Remembers the token the guard verified for `request` and its identity. */
export function rememberAccess(request: object, token: string, identity: CfAccessIdentity): void {
  (request as Holder)[ACCESS] = { token, identity };
}

/** Remembers that the guard left `request` anonymous: nothing may load an identity for it later. */
export function rememberAnonymous(request: object): void {
  (request as Holder)[ACCESS] = null;
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
