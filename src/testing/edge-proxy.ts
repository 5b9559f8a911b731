import { createServer, type IncomingHttpHeaders, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { ACCESS_PREFIX, serveAccessPath, sessionToken } from './access-endpoints.js';
import { type EmulatedTeam } from './emulated-team.js';
import { closeServer, listen, sendJson, sendHtml } from './http.js';
import { loginPage } from './login-page.js';

/** A running edge proxy: open `url` in a browser instead of the app. */
export interface CfAccessEdgeProxy {
  readonly url: string;
  close(): Promise<void>;
}

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer'];

function withoutHopByHop(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.includes(name)));
}

/** Whether a client wants a 401 JSON answer rather than the login page, as Cloudflare decides. */
function wantsJson(req: IncomingMessage): boolean {
  if (req.headers['x-requested-with'] === 'XMLHttpRequest') {
    return true;
  }
  const accepted = (req.headers.accept ?? '').split(',').map((type) => type.split(';')[0]?.trim());
  return accepted.length > 0 && accepted.every((type) => type === 'application/json');
}

/** Forwards an authenticated request to the app, with the token in `Cf-Access-Jwt-Assertion`. */
function forward(req: IncomingMessage, res: ServerResponse, target: URL, token: string): Promise<void> {
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
          'x-forwarded-host': req.headers.host,
          'x-forwarded-proto': 'http',
          'cf-access-jwt-assertion': token, // replaces any value the client sent
        },
      },
      (response) => {
        res.writeHead(response.statusCode ?? 502, withoutHopByHop(response.headers));
        response.pipe(res);
        response.on('end', resolve);
        response.on('error', reject);
      },
    );
    upstream.on('error', reject);
    req.pipe(upstream);
  });
}

async function handle(team: EmulatedTeam, target: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (new URL(req.url ?? '/', 'http://edge').pathname.startsWith(ACCESS_PREFIX)) {
    return serveAccessPath(team, req, res, true);
  }
  const token = sessionToken(req);
  if (token && (await team.verifySession(token))) {
    return forward(req, res, target, token);
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
  const server = createServer((req, res) => {
    handle(team, target, req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendJson(res, 502, { error: 'Bad Gateway', message: `edge proxy: ${(error as Error).message}` });
    });
  });
  const url = await listen(server, host, port);
  return { url, close: () => closeServer(server) };
}
