import { type CfAccessFullIdentity } from './cf-access-full-identity.js';

/** Each request's loader; a WeakMap keeps request objects' shapes untouched and frees with them. */
const loaders = new WeakMap<object, FullIdentityLoader>();

/** Loads a request's full identity once, however many times it is asked for. */
export type FullIdentityLoader = () => Promise<CfAccessFullIdentity>;

/**
 * Attaches a memoized loader of the full identity to `request`, so predicates,
 * `@CfFullIdentity()` and `CfAccessService.getIdentity` share one lookup per request.
 */
export function attachFullIdentity(request: object, load: FullIdentityLoader): FullIdentityLoader {
  let pending: Promise<CfAccessFullIdentity> | undefined;
  const loader: FullIdentityLoader = () => (pending ??= load());
  loaders.set(request, loader);
  return loader;
}

/** The loader the guard attached to `request`, if any. */
export function attachedFullIdentity(request: object): FullIdentityLoader | undefined {
  return loaders.get(request);
}
