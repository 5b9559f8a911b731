import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { ACCESS_PREFIX, serveAccessPath } from './access-endpoints.js';
import { isAppLoginPath, serveAppLogin } from './app-login.js';
import { type CfAccessEdgeProxy, startEdgeProxy } from './edge-proxy.js';
import { EmulatedTeam, type CfAccessServiceTokenClaims, type CfAccessTokenClaims } from './emulated-team.js';
import { EmulatorKeyRing } from './emulator-key-ring.js';
import { type CfAccessEmulatorOptions, randomAudience, resolveEmulatorOptions } from './emulator-options.js';
import { type EmulatorState, EmulatorStateError, readEmulatorState, writeEmulatorState } from './emulator-state.js';
import { closeServer, listen, requestTarget, sendJson } from './http.js';
import { isLoopbackHost } from './loopback-host.js';

/** Options of `CfAccessEmulator.proxy`. */
export interface CfAccessProxyOptions {
  /** Port of the edge; `0` picks a free one. Default `0`. */
  port?: number;
  /**
   * Paths the edge forwards without a session, as a Cloudflare Access bypass policy does: a path
   * matches itself and everything below it (`/api/health` covers `/api/health/live`, not
   * `/api/healthz`); such requests reach the app with no `Cf-Access-Jwt-Assertion`.
   */
  bypass?: string[];
}

function nonLoopbackWarning(host: string): string {
  const line = '!'.repeat(78);
  return (
    `${line}\n  CfAccessEmulator is listening on ${host}, not loopback (allowNonLoopback: true).\n` +
    '  Anyone who can reach it can log in as anyone and mint valid tokens for this team.\n' +
    `  Use it for development and tests only, on a network you trust.\n${line}`
  );
}

/** A state file and what it held (nothing yet for a new one). */
interface StateSource {
  path: string;
  state: EmulatorState | undefined;
}

/**
 * The keys a state file holds, or a fresh ring without them.
 * @throws EmulatorStateError naming the file when a stored key cannot be used.
 */
async function teamKeys(commonName: string, source: StateSource | undefined): Promise<EmulatorKeyRing> {
  if (!source?.state) {
    return EmulatorKeyRing.create(commonName);
  }
  try {
    return await EmulatorKeyRing.restore(commonName, source.state.keys);
  } catch (error) {
    throw new EmulatorStateError(source.path, `a key cannot be used: ${(error as Error).message}`);
  }
}

/**
 * A local Cloudflare Access team on loopback, for development and tests: serves the team's
 * `/cdn-cgi/access/*` endpoints from real RS256 keys, mints genuine tokens, and puts a login
 * page in front of an app with `proxy()`. Logout clears the cookie only; issued tokens stay valid.
 */
export class CfAccessEmulator {
  private readonly proxies = new Set<CfAccessEdgeProxy>();

  private constructor(
    private readonly server: Server,
    private readonly team: EmulatedTeam,
    private readonly host: string,
    private readonly statePath: string | undefined,
  ) {}

  /**
   * Starts an emulator; resolves once it listens. With `state`, the port, AUD tag and keys come
   * from that file when it exists (explicit `port` / `audience` options win) and are written back.
   * @throws Error naming the bad option, the state file that is not valid state, or the port in use.
   */
  static async start(options: CfAccessEmulatorOptions = {}): Promise<CfAccessEmulator> {
    const { host, port, audience, users, state: statePath } = resolveEmulatorOptions(options);
    const source = statePath === undefined ? undefined : { path: resolve(statePath), state: await readEmulatorState(statePath) };
    const state = source?.state;
    const keys = await teamKeys(host, source);
    if (!isLoopbackHost(host)) {
      console.warn(nonLoopbackWarning(host));
    }
    const server = createServer();
    const teamDomain = await listen(server, host, port ?? state?.port ?? 0).catch((error: NodeJS.ErrnoException) => {
      const kept = port === undefined && state ? ` (kept in the state file ${source?.path})` : '';
      throw error.code === 'EADDRINUSE'
        ? new Error(`CfAccessEmulator: cannot listen on ${host}:${port ?? state?.port}${kept}: the port is in use`)
        : error;
    });
    const team = new EmulatedTeam(teamDomain, audience ?? state?.audience ?? randomAudience(), users, keys);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const target = requestTarget(req);
      if (!target?.pathname.startsWith(ACCESS_PREFIX)) {
        sendJson(res, target ? 404 : 400, { err: target ? 'not found' : 'the request target must be a path' });
        return;
      }
      if (isAppLoginPath(target.pathname)) {
        return serveAppLogin(team, target, req, res);
      }
      serveAccessPath(team, target, req, res, false).catch(() => res.destroy());
    });
    const emulator = new CfAccessEmulator(server, team, host, statePath);
    try {
      await emulator.saveState();
    } catch (error) {
      await closeServer(server);
      throw error;
    }
    return emulator;
  }

  /** The team domain, `http://<host>:<port>`: what tokens carry as `iss`. */
  get teamDomain(): string {
    return this.team.teamDomain;
  }

  /** The application's AUD tag. */
  get audience(): string {
    return this.team.audience;
  }

  /** How many times `/cdn-cgi/access/certs` was requested, on the emulator and its proxies. */
  get certsRequests(): number {
    return this.team.certsRequests;
  }

  /** How many times `/cdn-cgi/access/get-identity` was requested, on the emulator and its proxies. */
  get identityRequests(): number {
    return this.team.identityRequests;
  }

  /** `{ teamDomain, audience }`, ready for `CfAccessModule.forRoot`. */
  moduleOptions(): { teamDomain: string; audience: string } {
    return { teamDomain: this.teamDomain, audience: this.audience };
  }

  /** A genuine RS256 application token; `claims` override Cloudflare's defaults and add custom ones. */
  signToken(claims: CfAccessTokenClaims = {}): Promise<string> {
    return this.team.signToken(claims);
  }

  /** A service token (`common_name`, `sub: ""`, no `email`). */
  signServiceToken(claims: CfAccessServiceTokenClaims): Promise<string> {
    return this.team.signServiceToken(claims);
  }

  /** Makes a new current key; the previous one stays published, as Cloudflare does (and in the state file). */
  async rotateKeys(): Promise<void> {
    await this.team.keys.rotate();
    await this.saveState();
  }

  /** While down, every `/cdn-cgi/access/*` path answers 503 (forwarding for valid sessions goes on). */
  setDown(down: boolean): void {
    this.team.down = down;
  }

  /**
   * Starts an edge proxy in front of `targetUrl` with a login page, on the emulator's host and
   * `options.port` (default 0, a free port); it forwards HTTP and WebSocket upgrades of requests
   * with a session, and `options.bypass` paths without one. Closed with the emulator.
   * @throws Error for a target that is not an http:// URL, a bad bypass path or a port in use.
   */
  async proxy(targetUrl: string, options: CfAccessProxyOptions = {}): Promise<CfAccessEdgeProxy> {
    const edge = await startEdgeProxy(this.team, targetUrl, this.host, options.port ?? 0, options.bypass ?? []);
    const proxy: CfAccessEdgeProxy = {
      url: edge.url,
      close: async () => {
        this.proxies.delete(proxy);
        await edge.close();
      },
    };
    this.proxies.add(proxy);
    return proxy;
  }

  /** Writes the team (port, AUD tag, keys) to the state file, when there is one. */
  private async saveState(): Promise<void> {
    if (this.statePath !== undefined) {
      const port = Number(new URL(this.team.teamDomain).port);
      await writeEmulatorState(this.statePath, { port, audience: this.team.audience, keys: await this.team.keys.stored() });
    }
  }

  /** Stops the emulator and every proxy it started; calling it again does nothing. */
  async close(): Promise<void> {
    await Promise.all([...this.proxies].map((proxy) => proxy.close()));
    await closeServer(this.server);
  }
}
