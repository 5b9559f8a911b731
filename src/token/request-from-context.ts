import { type ExecutionContext } from '@nestjs/common';
import { type CfAccessRequest } from './cf-access-request.js';

/**
 * The HTTP request behind an execution context (Express or Fastify).
 * @throws Error for context types this library does not handle, rather than letting them pass.
 */
export function requestFromContext(context: ExecutionContext): CfAccessRequest {
  const type = context.getType<string>();
  if (type !== 'http') {
    throw new Error(
      `nestjs-cf-access: the "${type}" execution context is not supported; extend CfAccessGuard and override getRequest()`,
    );
  }
  return context.switchToHttp().getRequest<CfAccessRequest>();
}
