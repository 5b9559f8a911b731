import { type CfAccessFullIdentity } from './cf-access-full-identity.js';

const LOADER = Symbol('cfAccessFullIdentity');

/** Loads a request's full identity once, however many times it is asked for. */
export type FullIdentityLoader = () => Promise<CfAccessFullIdentity>;

/**
 * Attaches a memoized loader of the full identity to `request` (a hidden property), so predicates,
 * `@CfFullIdentity()` and `CfAccessService.getIdentity` share one lookup per request.
 */
export function attachFullIdentity(request: object, load: FullIdentityLoader): FullIdentityLoader {
  let pending: Promise<CfAccessFullIdentity> | undefined;
  const loader: FullIdentityLoader = () => (pending ??= load());
  Object.defineProperty(request, LOADER, { value: loader, configurable: true, enumerable: false });
  return loader;
}

/** The loader the guard attached to `request`, if any. */
export function attachedFullIdentity(request: object): FullIdentityLoader | undefined {
  return (request as { [LOADER]?: FullIdentityLoader })[LOADER];
}
