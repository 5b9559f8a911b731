import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { CF_ACCESS_IDENTITY_KEY } from '../cf-access.constants.js';
import { requestFromContext } from '../token/request-from-context.js';

/**
 * Injects the verified identity (`CfAccessIdentity`), or one claim of it with `@CfIdentity('email')`.
 * `undefined` on anonymous requests (`@OptionalIdentity()`, `@Public()`), and for a claim the token
 * does not carry (own claims only: `@CfIdentity('constructor')` is never `Object.prototype`'s).
 */
export const CfIdentity: (claim?: string) => ParameterDecorator = createParamDecorator(
  (claim: string | undefined, context: ExecutionContext): unknown => {
    const identity = requestFromContext(context)[CF_ACCESS_IDENTITY_KEY];
    if (claim === undefined || identity === undefined) {
      return identity;
    }
    return Object.hasOwn(identity, claim) ? identity[claim] : undefined;
  },
);
