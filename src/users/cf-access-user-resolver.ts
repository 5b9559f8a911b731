import { type ExecutionContext } from '@nestjs/common';
import { type CfAccessIdentity } from '../identity/cf-access-identity.js';

/**
 * Turns a verified identity into the application's own user, as passport's `validate(payload)`
 * does: give the class as the `userResolver` option and Nest's DI instantiates it inside
 * `CfAccessModule`, so it can inject the app's services. `CfAccessGuard` calls `resolve` once per
 * request, after the token is verified and before any `@RequireIdentity` predicate; the result is
 * `request.user` and `@CfUser()`.
 *
 * Return `null` (or `undefined`) for an identity that has no user here: 403 `user_not_found` on
 * protected routes, anonymous on `@OptionalIdentity()` routes. A thrown `HttpException` reaches the
 * client as is; anything else thrown is 403 `user_resolver_error`, logged at warn.
 */
export interface CfAccessUserResolver<TUser = unknown> {
  /** The app user behind `identity`, or `null` when there is none; `context` is the request's execution context. */
  resolve(identity: CfAccessIdentity, context: ExecutionContext): TUser | null | Promise<TUser | null>;
}
