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

type Holder = { [ACCESS]?: RequestAccess };

/** Remembers the token the guard verified for `request` and its identity. */
export function rememberAccess(request: object, token: string, identity: CfAccessIdentity): void {
  (request as Holder)[ACCESS] = { token, identity };
}

/**
 * The full identity of a request the guard admitted, loaded with `load` at most once per request
 * (predicates, `@CfFullIdentity()` and `CfAccessService.getIdentity` share it); `undefined` when the
 * guard verified nothing for this request.
 */
export function fullIdentityOf(
  request: object,
  load: (token: string, identity: CfAccessIdentity) => Promise<CfAccessFullIdentity>,
): Promise<CfAccessFullIdentity> | undefined {
  const access = (request as Holder)[ACCESS];
  return access && (access.fullIdentity ??= load(access.token, access.identity));
}
