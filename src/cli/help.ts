import { DEFAULT_EDGE_PORT, DEFAULT_STATE_FILE } from './dev-args.js';

/** The text `nestjs-cf-access --help` prints. */
export const HELP = `Usage: npx nestjs-cf-access dev --target <url> [options]

Runs a local Cloudflare Access in front of your app, for development only: the emulator (your
team domain) and its edge proxy. Open the edge's URL instead of your app's and log in on the
emulator's page; your app then receives a genuine Cf-Access-Jwt-Assertion on every request,
WebSocket upgrades included. It prints the two variables your app needs, once.

Options:
  --target <url>           your app, e.g. http://127.0.0.1:3000 (required; must be reachable)
  --port <n>               port of the edge, the URL to open (default ${DEFAULT_EDGE_PORT})
  --audience <tag>         the AUD tag (default: the one in the state file, else a random one)
  --user <email[:g1,g2]>   a one-click login on the login page, with optional groups (repeatable)
  --bypass <path>          forwarded without a session or token, like an Access bypass policy:
                           the path and everything below it, e.g. /api/health (repeatable)
  --state <path>           keeps the team's port, AUD tag and signing keys across restarts, so
                           sessions and your running app survive them (default
                           ${DEFAULT_STATE_FILE}, mode 0600; git-ignore it)
  -h, --help               this help

Exit codes: 0 after Ctrl-C (SIGINT) or SIGTERM; 2 when it cannot start (a bad flag, an
unreachable target, an invalid state file, a port in use), with one line on stderr.
`;
