import { type ExecutionContext, HttpException } from '@nestjs/common';
import { reasonOf } from '../cf-access.errors.js';

/** GraphQL error codes of the statuses this library answers with (Apollo's conventions). */
const GRAPHQL_CODES: Record<number, string> = { 401: 'UNAUTHENTICATED', 403: 'FORBIDDEN', 503: 'SERVICE_UNAVAILABLE' };

/**
 * The error to throw in `context`, so every transport reports the status and reason:
 * - WebSocket: an `HttpException` becomes a `WsException` carrying the same body (Nest would
 *   otherwise report "Internal server error" to the client);
 * - GraphQL: this library's exceptions become a `GraphQLError` with `extensions`
 *   `{ code, statusCode, reason }` (Apollo and Mercurius both pass extensions on);
 * - elsewhere the error is returned as is.
 */
export async function errorForContext(context: ExecutionContext, error: unknown): Promise<unknown> {
  if (!(error instanceof HttpException)) {
    return error;
  }
  const type = context.getType<string>();
  if (type === 'ws') {
    const { WsException } = await import('@nestjs/websockets');
    return new WsException(error.getResponse());
  }
  const reason = reasonOf(error);
  if (type === 'graphql' && reason !== undefined) {
    const { GraphQLError } = await import('graphql');
    const statusCode = error.getStatus();
    return new GraphQLError(error.message, { extensions: { code: GRAPHQL_CODES[statusCode], statusCode, reason } });
  }
  return error;
}
