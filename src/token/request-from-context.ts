import { type ExecutionContext } from '@nestjs/common';
import { type CfAccessRequest } from './cf-access-request.js';

function hasHeaders(value: unknown): value is CfAccessRequest {
  const headers = (value as { headers?: unknown } | null | undefined)?.headers;
  return typeof headers === 'object' && headers !== null;
}

/** GraphQL: the HTTP request both Nest drivers (Apollo, Mercurius) put in the context as `req`. */
function graphqlRequest(context: ExecutionContext): unknown {
  return context.getArgByIndex<{ req?: unknown } | undefined>(2)?.req;
}

/** WebSocket: socket.io's handshake (its headers and cookies), or a `request` a gateway kept on the client. */
function websocketRequest(context: ExecutionContext): unknown {
  const client = context.switchToWs().getClient<{ handshake?: unknown; request?: unknown }>();
  return hasHeaders(client?.handshake) ? client.handshake : client?.request;
}

/** By `getType()`. HTTP reads the request argument directly: `switchToHttp()` allocates three closures per call. */
const EXTRACTORS: Record<string, (context: ExecutionContext) => unknown> = {
  http: (context) => context.getArgByIndex(0),
  graphql: graphqlRequest,
  ws: websocketRequest,
};

/**
 * The request whose headers carry the token: the HTTP request (Express, Fastify), a GraphQL
 * operation's `req`, or a WebSocket client's handshake.
 * @throws Error for context types (e.g. `rpc`) or shapes it cannot read, so they are never let through.
 */
export function requestFromContext(context: ExecutionContext): CfAccessRequest {
  const type = context.getType<string>();
  const request = EXTRACTORS[type]?.(context);
  if (!hasHeaders(request)) {
    throw new Error(
      `nestjs-cf-access: cannot find the request headers in the "${type}" execution context; ` +
        'supported: http, graphql (context.req), ws (socket.io handshake or client.request). ' +
        'Extend CfAccessGuard and override getRequest() for others.',
    );
  }
  return request;
}
