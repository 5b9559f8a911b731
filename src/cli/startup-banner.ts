import { type CfAccessEmulatorUser } from '../testing/index.js';

/** The first part of the start-up output: what the app must be given, once. */
export function environmentBanner(target: URL, teamDomain: string, audience: string): string {
  return [
    `nestjs-cf-access dev: a local Cloudflare Access in front of ${target.origin}`,
    '',
    "Set these in your app's environment (.env), and restart the app if they changed:",
    '',
    `CF_ACCESS_TEAM_DOMAIN=${teamDomain}`,
    `CF_ACCESS_AUD=${audience}`,
    '',
    '',
  ].join('\n');
}

/** The second part, once the edge listens: the URL to open and how the edge is set up. */
export function edgeBanner(edgeUrl: string, users: readonly CfAccessEmulatorUser[], bypass: readonly string[], statePath: string): string {
  const lines = [`Open ${edgeUrl}/ and log in on the emulator's page.`];
  if (users.length > 0) {
    lines.push(`One-click logins: ${users.map((user) => user.email).join(', ')}`);
  }
  lines.push(`Bypass (no session needed): ${bypass.length > 0 ? bypass.join(', ') : 'none'}`);
  lines.push(`State: ${statePath} (keys survive restarts; git-ignore it)`);
  lines.push('Ctrl-C stops it.', '');
  return lines.join('\n');
}
