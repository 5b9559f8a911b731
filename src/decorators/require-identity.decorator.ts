import { type ExecutionContext } from '@nestjs/common';
import { CF_ACCESS_REQUIREMENTS } from '../cf-access.constants.js';
import { type CfAccessFullIdentity } from '../identity/cf-access-full-identity.js';
import { type CfAccessIdentity } from '../identity/cf-access-identity.js';

/** Lookups a predicate may make beyond the token's claims; each is made at most once per request. */
export interface CfAccessPredicateTools {
  /** The full identity from get-identity (groups, IdP data), cached per identity. */
  fullIdentity(): Promise<CfAccessFullIdentity>;
  /**
   * The app user the `userResolver` resolved for this request (never `null`: a request without one
   * is refused or anonymous before predicates run); `undefined` without a `userResolver`.
   * `TUser` is the app's user type, as the resolver returns it.
   */
  user<TUser = unknown>(): TUser | undefined;
}

/** Decides whether a verified identity may use a route; anything but `true` refuses it with 403. */
export type CfAccessPredicate = (
  identity: CfAccessIdentity,
  context: ExecutionContext,
  tools: CfAccessPredicateTools,
) => boolean | Promise<boolean>;

/**
 * Requires a verified identity that `predicate` accepts. Stackable on classes and handlers: every
 * predicate must pass, base classes' first, then the class's, then the handler's, each target's in
 * source order. Anonymous requests get 401;
 * `false` gives 403 `identity_rejected`; a thrown `HttpException` is passed on; any other throw is
 * 403 `predicate_error`.
 */
/** The predicates declared on `target` itself (a class or a handler), in source order. */
function ownRequirements(target: object): CfAccessPredicate[] {
  return (Reflect.getOwnMetadata(CF_ACCESS_REQUIREMENTS, target) ?? []) as CfAccessPredicate[];
}

/**
 * Every predicate that guards `handler` of `controller`: those of the controller's base classes
 * (outermost first), then the controller's own, then the handler's.
 */
export function requirementsOf(controller: object, handler: object): CfAccessPredicate[] {
  const classes: object[] = [];
  for (let current = controller; current !== Function.prototype && current !== null; current = Object.getPrototypeOf(current) as object) {
    classes.unshift(current);
  }
  return [...classes.flatMap(ownRequirements), ...ownRequirements(handler)];
}

export function RequireIdentity(predicate: CfAccessPredicate): ClassDecorator & MethodDecorator {
  if (typeof predicate !== 'function') {
    throw new TypeError('@RequireIdentity() expects a function (identity, context, tools) => boolean | Promise<boolean>');
  }
  return (target: object, _key?: string | symbol, descriptor?: PropertyDescriptor) => {
    const holder = (descriptor?.value ?? target) as object;
    Reflect.defineMetadata(CF_ACCESS_REQUIREMENTS, [predicate, ...ownRequirements(holder)], holder);
  };
}
