import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { resolvedUserOf } from '../identity/request-access.js';
import { requestFromContext } from '../token/request-from-context.js';

/** The user, or its property `property` (never one `Object.prototype` provides, such as `constructor`). */
function userOrProperty(property: string | undefined, context: ExecutionContext): unknown {
  const user = resolvedUserOf(requestFromContext(context));
  if (property === undefined) {
    return user;
  }
  if (typeof user !== 'object' || user === null || (property in Object.prototype && !Object.hasOwn(user, property))) {
    return undefined;
  }
  return (user as Record<string, unknown>)[property];
}

const CfUserParam = createParamDecorator(userOrProperty);

/**
 * Injects the app user the `userResolver` resolved for this request (also on `request.user`), or
 * one of its properties with `@CfUser('id')`. `TUser`, the app's user type, checks the property's
 * name: `@CfUser<AppUser>('id')`. `undefined` on anonymous requests (`@OptionalIdentity()`,
 * `@Public()`) and without a `userResolver`.
 */
export function CfUser<TUser extends object = Record<string, unknown>>(property?: keyof TUser & string): ParameterDecorator {
  return CfUserParam(property);
}
