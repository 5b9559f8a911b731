/**
 * Bypass paths of the edge proxy, as a Cloudflare Access bypass policy on an application path:
 * a path covers itself and everything below it at a segment boundary (`/api/health` covers
 * `/api/health`, `/api/health/` and `/api/health/live`, not `/api/healthz`). Paths are compared
 * after normalization (dot segments resolved, `%2e` counted as a dot), case-sensitively; any other
 * spelling (`/API/health`, `/api/%68ealth`) is not covered and needs a session, so the edge fails closed.
 */

const BASE = 'http://bypass.invalid';

/**
 * The normalized bypass paths (no trailing slash, except `/` itself).
 * @throws Error naming the bad entry.
 */
export function resolveBypassPaths(paths: unknown): string[] {
  if (!Array.isArray(paths)) {
    throw new Error('CfAccessEmulator.proxy: "bypass" must be an array of paths such as "/api/health"');
  }
  return paths.map((path: unknown, index) => {
    // eslint-disable-next-line no-control-regex -- whitespace and control characters are refused
    if (typeof path !== 'string' || !path.startsWith('/') || path.startsWith('//') || /[\x00-\x20\x7f\\?#*]/.test(path)) {
      throw new Error(
        `CfAccessEmulator.proxy: "bypass[${index}]" must be a path such as "/api/health" ` +
          `(one leading /, no query, fragment or wildcard), got ${JSON.stringify(path)}`,
      );
    }
    return new URL(path, BASE).pathname.replace(/\/+$/, '') || '/';
  });
}

/** Whether the normalized `pathname` of a request is covered by one of the bypass `paths`. */
export function isBypassed(pathname: string, paths: readonly string[]): boolean {
  return paths.some((path) => path === '/' || pathname === path || pathname.startsWith(`${path}/`));
}
