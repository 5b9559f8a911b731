import { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';

const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer'];

/** `headers` less hop-by-hop ones: the standard set, `proxy-*`, and those the Connection header names. */
export function withoutHopByHop(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const named = String(headers.connection ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase());
  const dropped = (name: string) => HOP_BY_HOP.includes(name) || named.includes(name) || name.startsWith('proxy-');
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !dropped(name)));
}

/**
 * The headers the edge sends upstream for `req`: the client's, less hop-by-hop ones, with the
 * target's `Host`, `X-Forwarded-Host` / `-Proto`, and `Cf-Access-Jwt-Assertion` set to `token`.
 * A value the client sent itself is never passed through: without a `token` (a bypassed path)
 * the header is absent. An upgrade keeps its `Upgrade` / `Connection: upgrade` pair.
 */
export function forwardedHeaders(req: IncomingMessage, targetHost: string, token: string | undefined): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {
    ...withoutHopByHop(req.headers),
    host: targetHost,
    ...(req.headers.host ? { 'x-forwarded-host': req.headers.host } : {}),
    'x-forwarded-proto': 'http',
  };
  delete headers['cf-access-jwt-assertion'];
  if (token !== undefined) {
    headers['cf-access-jwt-assertion'] = token;
  }
  if (req.headers.upgrade !== undefined) {
    headers.connection = 'upgrade';
    headers.upgrade = req.headers.upgrade;
  }
  return headers;
}
