import {
  type ClientRequest,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type ServerResponse,
} from 'node:http';
import { ACCESS_PREFIX, serveAccessPath, sessionToken } from './access-endpoints.js';
import { type EmulatedTeam } from './emulated-team.js';
import { closeServer, listen, requestTarget, sendHtml, sendJson } from './http.js';
import { loginPage } from './login-page.js';

/** A running edge proxy: open `url` in a browser instead of the app. */
export interface CfAccessEdgeProxy {
  readonly url: string;
  close(): Promise<void>;
}

const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer'];

/** `headers` less hop-by-hop ones: the standard set, `proxy-*`, and those the Connection header names. */
function withoutHopByHop(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const named = String(headers.connection ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase());
  const dropped = (name: string) => HOP_BY_HOP.includes(name) || named.includes(name) || name.startsWith('proxy-');
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !dropped(name)));
}

/** Whether a client wants a 401 JSON answer rather than the login page, as Cloudflare decides. */
function wantsJson(req: IncomingMessage): boolean {
  if (req.headers['x-requested-with'] === 'XMLHttpRequest') {
    return true;
  }
  const accepted = (req.headers.accept ?? '').split(',').map((type) => type.split(';')[0]?.trim());
  return accepted.length > 0 && accepted.every((type) => type === 'application/json');
}

/**
 * Forwards an authenticated request to the app, with the token in `Cf-Access-Jwt-Assertion`;
 * the upstream request is torn down if the client goes away first.
 */
function forward(
  req: IncomingMessage,
  res: ServerResponse,
  target: URL,
  token: string,
  upstreams: Set<ClientRequest>,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const upstream = request(
      {
        hostname: target.hostname,
        port: target.port,
        method: req.method,
        path: target.pathname.replace(/\/$/, '') + (req.url ?? '/'),
        headers: {
          ...withoutHopByHop(req.headers),
          host: target.host,
          ...(req.headers.host ? { 'x-forwarded-host': req.headers.host } : {}),
          'x-forwarded-proto': 'http',
          'cf-access-jwt-assertion': token, // replaces any value the client sent
        },
      },
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

async function handle(
  team: EmulatedTeam,
  target: URL,
  upstreams: Set<ClientRequest>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const requested = requestTarget(req);
  if (!requested) {
    return sendJson(res, 400, { error: 'Bad Request', message: 'the request target must be a path' });
  }
  if (requested.pathname.startsWith(ACCESS_PREFIX)) {
    return serveAccessPath(team, requested, req, res, true);
  }
  const token = sessionToken(req);
  if (token && (await team.verifySession(token))) {
    return forward(req, res, target, token, upstreams);
  }
  if (wantsJson(req)) {
    return sendJson(res, 401, { error: 'Unauthorized', message: 'A Cloudflare Access session is required' });
  }
  sendHtml(res, 401, loginPage(req.url ?? '/', team.users));
}

/**
 * Starts an edge in front of `targetUrl`, as Cloudflare sits in front of an app: requests without a
 * valid `CF_Authorization` cookie get the login page (or 401 JSON), `/cdn-cgi/access/*` is served
 * by the emulator, and every other request is forwarded with `Cf-Access-Jwt-Assertion` set.
 */
export async function startEdgeProxy(
  team: EmulatedTeam,
  targetUrl: string,
  host: string,
  port: number,
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
  const upstreams = new Set<ClientRequest>();
  const server = createServer((req, res) => {
    handle(team, target, upstreams, req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendJson(res, 502, { error: 'Bad Gateway', message: `edge proxy: ${(error as Error).message}` });
    });
  });
  const url = await listen(server, host, port);
  return {
    url,
    close: () => {
      upstreams.forEach((upstream) => upstream.destroy());
      return closeServer(server);
    },
  };
}
