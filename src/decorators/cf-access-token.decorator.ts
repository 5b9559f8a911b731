import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { verifiedTokenOf } from '../identity/request-access.js';
import { requestFromContext } from '../token/request-from-context.js';

/**
 * Injects the raw token `CfAccessGuard` verified for this request (`string`), from whichever source
 * it came: header, cookie, a custom `tokenSources` entry or a guard subclass's `extractToken`.
 * `undefined` when the guard verified none (`@Public()`, anonymous on `@OptionalIdentity()`), so
 * an unverified token is never handed on. Treat it as a secret: forward it, never log it.
 */
export const CfAccessToken: () => ParameterDecorator = createParamDecorator(
  (_data: unknown, context: ExecutionContext): string | undefined => verifiedTokenOf(requestFromContext(context)),
);
