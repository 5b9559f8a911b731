import { isIPv6 } from 'node:net';
import { BadRequestException } from '@nestjs/common';

/** Arguments of `CfAccessService.loginUrl`. */
export interface CfAccessLoginUrlOptions {
  /**
   * The application's hostname as Access knows it, e.g. `app.example.com` (any case); a port is
   * allowed for local edges such as the emulator's proxy (`127.0.0.1:40123`).
   */
  hostname: string;
  /** Where to return after login: a path starting with exactly one `/`, after normalization. Default `/`. */
  redirectUrl?: string;
}

/** Cloudflare's login path on the team domain; the application's hostname follows it. */
export const LOGIN_PATH = '/cdn-cgi/access/login/';

/** Cloudflare's logout path: it ends the session for every Access application of the team. */
export const LOGOUT_PATH = '/cdn-cgi/access/logout';

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const DNS_NAME = new RegExp(`^(?:${LABEL}\\.)*${LABEL}$`);
const PORT = /^(?:0|[1-9]\d{0,4})$/;
const MAX_DNS_NAME = 253;
const SAME_SITE_BASE = 'http://same-site.invalid';

function refused(parameter: string, expected: string): BadRequestException {
  return new BadRequestException(`CfAccessService.loginUrl: "${parameter}" ${expected}`);
}

/** `name` when it is a DNS name, an IPv4 address or a bracketed IPv6 address. */
function isHost(name: string): boolean {
  if (name.startsWith('[') && name.endsWith(']')) {
    return isIPv6(name.slice(1, -1));
  }
  return name.length <= MAX_DNS_NAME && DNS_NAME.test(name);
}

/**
 * The application's hostname, lower-cased, with its port if it has one.
 * @throws BadRequestException naming `hostname` for anything else (a scheme, path, credentials, …).
 */
export function appHostname(hostname: unknown): string {
  const value = typeof hostname === 'string' ? hostname.toLowerCase() : '';
  const colon = value.lastIndexOf(':');
  const hasPort = colon > value.lastIndexOf(']');
  const name = hasPort ? value.slice(0, colon) : value;
  const port = hasPort ? value.slice(colon + 1) : undefined;
  const validPort = port === undefined || (PORT.test(port) && Number(port) <= 65_535);
  if (!isHost(name) || !validPort) {
    throw refused('hostname', 'must be the application\'s hostname, e.g. "app.example.com" (optionally with ":port"), without scheme or path');
  }
  return value;
}

/**
 * `redirectUrl` normalized as a browser would (dot segments resolved, `%2e` counted as a dot): a
 * path on the application's own host.
 * @throws BadRequestException naming `redirectUrl` for anything that is not a path starting with
 * exactly one `/` after normalization (absolute or protocol-relative URLs, backslashes, controls).
 */
export function redirectPath(redirectUrl: unknown): string {
  const expected = 'must be a path on the application starting with exactly one "/", e.g. "/reports?page=2"';
  // eslint-disable-next-line no-control-regex -- control characters are exactly what must be refused
  if (typeof redirectUrl !== 'string' || !redirectUrl.startsWith('/') || /[\x00-\x20\x7f\\]/.test(redirectUrl)) {
    throw refused('redirectUrl', expected);
  }
  const url = new URL(redirectUrl, SAME_SITE_BASE);
  const path = url.pathname + url.search + url.hash;
  if (url.origin !== SAME_SITE_BASE || path.startsWith('//')) {
    throw refused('redirectUrl', expected);
  }
  return path;
}

/**
 * Cloudflare's login URL for an application:
 * `<teamDomain>/cdn-cgi/access/login/<hostname>?kid=<aud>&redirect_url=<path>`, URL-encoded.
 * @throws BadRequestException naming `hostname` or `redirectUrl` when either is not acceptable.
 */
export function loginUrl(teamDomain: string, aud: string, options: CfAccessLoginUrlOptions): string {
  const hostname = appHostname(options?.hostname);
  const query = new URLSearchParams({ kid: aud, redirect_url: redirectPath(options.redirectUrl ?? '/') });
  return `${teamDomain}${LOGIN_PATH}${hostname}?${query.toString()}`;
}

/** Cloudflare's logout URL on the team domain: `<teamDomain>/cdn-cgi/access/logout`. */
export function logoutUrl(teamDomain: string): string {
  return teamDomain + LOGOUT_PATH;
}
