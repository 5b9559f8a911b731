import { type ClientRequest, createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { type Duplex } from 'node:stream';
import { CfAccessUnauthorizedException } from '../cf-access.errors.js';
import { ACCESS_PREFIX, serveAccessPath, sessionToken } from './access-endpoints.js';
import { isBypassed, resolveBypassPaths } from './edge-bypass.js';
import { forwardUpgrade, refuseUpgrade } from './edge-upgrade.js';
import { type EmulatedTeam } from './emulated-team.js';
import { forwardedHeaders, withoutHopByHop } from './forwarded-headers.js';
import { closeServer, listen, requestTarget, sendHtml, sendJson } from './http.js';
import { loginPage } from './login-page.js';

/** A running edge proxy: open `url` in a browser instead of the app. */
export interface CfAccessEdgeProxy {
  readonly url: string;
  close(): Promise<void>;
}

/** The library's own 401 body for a request without a session (`reason: "missing_token"`). */
const NO_SESSION = new CfAccessUnauthorizedException('missing_token').getResponse();
const NOT_A_PATH = { statusCode: 400, error: 'Bad Request', message: 'the request target must be a path' };

/** What the edge does with a request that is not for `/cdn-cgi/access/*`. */
type Admission = { forward: true; token: string | undefined } | { forward: false };

/** Forwarded with the session's token, forwarded without one (a bypass path), or refused. */
async function admit(team: EmulatedTeam, bypass: readonly string[], req: IncomingMessage, requested: URL): Promise<Admission> {
  if (isBypassed(requested.pathname, bypass)) {
    return { forward: true, token: undefined };
  }
  const token = sessionToken(req);
  return token && (await team.verifySession(token)) ? { forward: true, token } : { forward: false };
}

/** Whether a client wants a 401 JSON answer rather than the login page, as Cloudflare decides. */
function wantsJson(req: IncomingMessage): boolean {
  if (req.headers['x-requested-with'] === 'XMLHttpRequest') {
    return true;
  }
  const accepted = (req.headers.accept ?? '').split(',').map((type) => type.split(';')[0]?.trim());
  return accepted.length > 0 && accepted.every((type) => type === 'application/json');
}

/** The upstream path for a request: the target's base path and the normalized path the edge judged. */
function upstreamPath(target: URL, requested: URL): string {
  return target.pathname.replace(/\/$/, '') + requested.pathname + requested.search;
}

/**
 * Forwards a request to the app, with the session's token in `Cf-Access-Jwt-Assertion` (none for
 * a bypass path); the upstream request is torn down if the client goes away first.
 */
function forward(
  req: IncomingMessage,
  res: ServerResponse,
  target: URL,
  path: string,
  token: string | undefined,
  upstreams: Set<ClientRequest>,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const upstream = request(
      { hostname: target.hostname, port: target.port, method: req.method, path, headers: forwardedHeaders(req, target.host, token) },
      (response) => {
        res.writeHead(response.statusCode ?? 502, withoutHopByHop(response.headers));
        response.pipe(res);
        response.on('error', reject);
      },
    );
    upstreams.add(upstream);
    res.on('close', () => {
      upstreams.delete(upstream);
      if (!res.writableFinished) {
        upstream.destroy();
      }
      resolve();
    });
    upstream.on('error', reject);
    req.pipe(upstream);
  });
}

/** The edge in front of one app: its team, target and bypass paths, and what it has open. */
interface Edge {
  team: EmulatedTeam;
  target: URL;
  bypass: readonly string[];
  upstreams: Set<ClientRequest>;
  tunnels: Set<Duplex>;
}

async function handle(edge: Edge, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const requested = requestTarget(req);
  if (!requested) {
    return sendJson(res, 400, NOT_A_PATH);
  }
  if (requested.pathname.startsWith(ACCESS_PREFIX)) {
    return serveAccessPath(edge.team, requested, req, res, true);
  }
  const admission = await admit(edge.team, edge.bypass, req, requested);
  if (admission.forward) {
    return forward(req, res, edge.target, upstreamPath(edge.target, requested), admission.token, edge.upstreams);
  }
  if (wantsJson(req)) {
    return sendJson(res, 401, NO_SESSION);
  }
  sendHtml(res, 401, loginPage(req.url ?? '/', edge.team.users));
}

/** An upgrade (WebSocket) request: forwarded like any other with a session or on a bypass path, else 401 JSON. */
async function handleUpgrade(edge: Edge, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const requested = requestTarget(req);
  if (!requested) {
    return refuseUpgrade(socket, 400, NOT_A_PATH);
  }
  if (requested.pathname.startsWith(ACCESS_PREFIX)) {
    return refuseUpgrade(socket, 404, { statusCode: 404, error: 'Not Found', message: `${ACCESS_PREFIX}* does not upgrade` });
  }
  const admission = await admit(edge.team, edge.bypass, req, requested);
  if (!admission.forward) {
    return refuseUpgrade(socket, 401, NO_SESSION);
  }
  const { hostname, port, host } = edge.target;
  const path = upstreamPath(edge.target, requested);
  forwardUpgrade(req, socket, head, { hostname, port, path, headers: forwardedHeaders(req, host, admission.token) }, edge.tunnels);
}

/**
 * Starts an edge in front of `targetUrl`, as Cloudflare sits in front of an app: requests without a
 * valid `CF_Authorization` cookie get the login page (or 401 JSON, and upgrades 401), `/cdn-cgi/access/*`
 * is served by the emulator, `bypass` paths are forwarded without a session or token, and every
 * other request (WebSocket upgrades included) is forwarded with `Cf-Access-Jwt-Assertion` set.
 * @throws Error for a target that is not an http:// URL or a bad bypass path.
 */
export async function startEdgeProxy(
  team: EmulatedTeam,
  targetUrl: string,
  host: string,
  port: number,
  bypassPaths: readonly string[],
): Promise<CfAccessEdgeProxy> {
  let target: URL;
  try {
    target = new URL(targetUrl);
  } catch {
    throw new Error(`CfAccessEmulator.proxy: "${targetUrl}" is not a URL (expected e.g. http://127.0.0.1:3000)`);
  }
  if (target.protocol !== 'http:') {
    throw new Error(`CfAccessEmulator.proxy: the target must be an http:// URL, got ${target.protocol}`);
  }
  const edge: Edge = { team, target, bypass: resolveBypassPaths(bypassPaths), upstreams: new Set(), tunnels: new Set() };
  const server = createServer((req, res) => {
    handle(edge, req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendJson(res, 502, { statusCode: 502, error: 'Bad Gateway', message: `edge proxy: ${(error as Error).message}` });
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    handleUpgrade(edge, req, socket, head).catch(() => socket.destroy());
  });
  const url = await listen(server, host, port);
  return {
    url,
    close: () => {
      edge.upstreams.forEach((upstream) => upstream.destroy());
      edge.tunnels.forEach((socket) => socket.destroy());
      return closeServer(server);
    },
  };
}
