import { type IncomingMessage, type ServerResponse } from 'node:http';
import { appHostname, LOGIN_PATH } from '../session/access-urls.js';
import { ACCESS_PREFIX, safeRedirect } from './access-endpoints.js';
import { type EmulatedTeam } from './emulated-team.js';
import { sendJson } from './http.js';
import { isLoopbackHost } from './loopback-host.js';

/** Whether `pathname` is Cloudflare's login URL for an application: `/cdn-cgi/access/login/<hostname>`. */
export function isAppLoginPath(pathname: string): boolean {
  return pathname.startsWith(LOGIN_PATH) && pathname.length > LOGIN_PATH.length;
}

/** `hostname` (`host[:port]`) when it is a valid hostname on this machine, else `undefined`. */
function loopbackApp(hostname: string): string | undefined {
  try {
    const host = appHostname(hostname);
    return isLoopbackHost(new URL(`http://${host}`).hostname) ? host : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Serves `GET <teamDomain>/cdn-cgi/access/login/<hostname>?kid=<aud>&redirect_url=<path>` (what
 * `CfAccessService.loginUrl` builds) as Cloudflare does: it sends the browser to the login of the
 * application at `hostname` (an edge proxy on this machine), which shows the login page, sets the
 * session cookie on the application's host and then returns to `redirect_url` (a same-site path;
 * anything else is `/`). `kid` must be the team's AUD tag; `hostname` must be on this machine,
 * so the emulator never sends anyone elsewhere. While the team is down, it answers 503.
 */
export function serveAppLogin(team: EmulatedTeam, target: URL, req: IncomingMessage, res: ServerResponse): void {
  if (team.down) {
    return sendJson(res, 503, { err: 'Cloudflare Access is unavailable (emulated outage)' });
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return sendJson(res, 405, { err: 'the login URL only answers GET' }, { allow: 'GET, HEAD' });
  }
  const app = loopbackApp(target.pathname.slice(LOGIN_PATH.length));
  if (app === undefined) {
    return sendJson(res, 400, { err: 'the application hostname must be a host on this machine, e.g. 127.0.0.1:8787' });
  }
  if (target.searchParams.get('kid') !== team.audience) {
    return sendJson(res, 400, { err: "kid is not this team's AUD tag" });
  }
  const redirectUrl = safeRedirect(target.searchParams.get('redirect_url'));
  const location = `http://${app}${ACCESS_PREFIX}login?${new URLSearchParams({ redirect_url: redirectUrl }).toString()}`;
  res.writeHead(302, { location, 'cache-control': 'no-store' }).end();
}
