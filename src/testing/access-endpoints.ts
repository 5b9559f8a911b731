import { type IncomingMessage, type ServerResponse } from 'node:http';
import { readCookie } from '../token/extract-token.js';
import { type EmulatedTeam } from './emulated-team.js';
import { BodyTooLargeError, readBody, sendHtml, sendJson } from './http.js';
import { identityDocument } from './identity-document.js';
import { loggedOutPage, loginPage } from './login-page.js';

/** The prefix Cloudflare reserves on every Access-protected host. */
export const ACCESS_PREFIX = '/cdn-cgi/access/';
/** The session cookie Cloudflare sets for browsers. */
export const SESSION_COOKIE = 'CF_Authorization';

const COOKIE_ATTRIBUTES = 'Path=/; HttpOnly; SameSite=Lax';
const EMAIL = /^[^\s@]+@[^\s@]+$/;

const SAME_SITE_BASE = 'http://same-site.invalid';

/**
 * A same-site path to return to after login; anything that could leave the site is `/`. The value
 * is normalized first, as a browser would (dot segments resolved, `%2e` counted as a dot), and the
 * result must start with exactly one `/`: absolute or protocol-relative URLs (`//host`, also when
 * reached through `/.//host` or `/a/..//host`), backslashes and control characters are refused.
 */
export function safeRedirect(value: string | null | undefined): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what must be refused
  if (!value || !value.startsWith('/') || /[\x00-\x20\x7f\\]/.test(value)) {
    return '/';
  }
  let url: URL;
  try {
    url = new URL(value, SAME_SITE_BASE);
  } catch {
    return '/';
  }
  const path = url.pathname + url.search + url.hash;
  return url.origin === SAME_SITE_BASE && !path.startsWith('//') && !path.startsWith('/\\') ? path : '/';
}

/** Whether a login POST comes from the emulator's own page (browsers send Origin / Sec-Fetch-Site). */
function isSameOrigin(req: IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  const origin = req.headers.origin;
  return (site === undefined || site === 'same-origin' || site === 'none') && (origin === undefined || origin === `http://${req.headers.host}`);
}

/** The session token a request carries in its `CF_Authorization` cookie. */
export function sessionToken(req: IncomingMessage): string | undefined {
  return readCookie(req.headers.cookie ?? '', SESSION_COOKIE) || undefined;
}

async function getIdentity(team: EmulatedTeam, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const token = sessionToken(req);
  const claims = token ? await team.verifySession(token) : null;
  if (!claims) {
    sendJson(res, 401, { err: 'no valid CF_Authorization cookie' });
    return;
  }
  sendJson(res, 200, identityDocument(claims, req.socket.remoteAddress ?? '127.0.0.1'));
}

async function login(team: EmulatedTeam, req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
  if (req.method !== 'POST') {
    sendHtml(res, 200, loginPage(safeRedirect(query.get('redirect_url')), team.users));
    return;
  }
  if (!isSameOrigin(req)) {
    sendHtml(res, 403, loginPage('/', team.users, 'Cross-site login refused.'));
    return;
  }
  let body: string;
  try {
    body = await readBody(req);
  } catch (error) {
    if (error instanceof BodyTooLargeError) {
      sendHtml(res, 413, loginPage('/', team.users, 'The login form was too large.'));
      return;
    }
    throw error;
  }
  const form = new URLSearchParams(body);
  const email = (form.get('email') ?? '').trim();
  const redirectUrl = safeRedirect(form.get('redirect_url'));
  if (!EMAIL.test(email)) {
    sendHtml(res, 400, loginPage(redirectUrl, team.users, 'Enter a valid email address.'));
    return;
  }
  const groups = (form.get('groups') ?? '')
    .split(',')
    .map((group) => group.trim())
    .filter(Boolean);
  const name = team.users.find((user) => user.email === email)?.name;
  const token = await team.signToken({ email, groups, ...(name ? { name } : {}) });
  res.writeHead(302, { location: redirectUrl, 'set-cookie': `${SESSION_COOKIE}=${token}; ${COOKIE_ATTRIBUTES}` }).end();
}

/**
 * Serves a `/cdn-cgi/access/*` request as Cloudflare would: certs, get-identity, logout, and (on
 * edge proxies, `withLogin`) the login form. While the team is down, every such path answers 503.
 */
export async function serveAccessPath(
  team: EmulatedTeam,
  target: URL,
  req: IncomingMessage,
  res: ServerResponse,
  withLogin: boolean,
): Promise<void> {
  const { pathname, searchParams } = target;
  if (pathname === `${ACCESS_PREFIX}certs`) {
    team.certsRequests += 1;
  }
  if (pathname === `${ACCESS_PREFIX}get-identity`) {
    team.identityRequests += 1;
  }
  if (team.down) {
    sendJson(res, 503, { err: 'Cloudflare Access is unavailable (emulated outage)' });
    return;
  }
  switch (pathname) {
    case `${ACCESS_PREFIX}certs`:
      return sendJson(res, 200, team.keys.certsBody());
    case `${ACCESS_PREFIX}get-identity`:
      return getIdentity(team, req, res);
    case `${ACCESS_PREFIX}logout`:
      return sendHtml(res, 200, loggedOutPage(withLogin), { 'set-cookie': `${SESSION_COOKIE}=; ${COOKIE_ATTRIBUTES}; Max-Age=0` });
    case `${ACCESS_PREFIX}login`:
      if (withLogin) {
        return login(team, req, res, searchParams);
      }
  }
  sendJson(res, 404, { err: `no such Access endpoint: ${pathname}` });
}
