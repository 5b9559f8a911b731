import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ACCESS_PREFIX, serveAccessPath } from './access-endpoints.js';
import { type CfAccessEdgeProxy, startEdgeProxy } from './edge-proxy.js';
import { EmulatedTeam, type CfAccessServiceTokenClaims, type CfAccessTokenClaims } from './emulated-team.js';
import { EmulatorKeyRing } from './emulator-key-ring.js';
import { type CfAccessEmulatorOptions, resolveEmulatorOptions } from './emulator-options.js';
import { closeServer, listen, requestTarget, sendJson } from './http.js';

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
  ) {}

  /** Starts an emulator; resolves once it listens. */
  static async start(options: CfAccessEmulatorOptions = {}): Promise<CfAccessEmulator> {
    const { host, port, audience, users } = resolveEmulatorOptions(options);
    const server = createServer();
    const teamDomain = await listen(server, host, port);
    let keys: EmulatorKeyRing;
    try {
      keys = await EmulatorKeyRing.create(new URL(teamDomain).hostname);
    } catch (error) {
      await closeServer(server);
      throw error;
    }
    const team = new EmulatedTeam(teamDomain, audience, users, keys);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const target = requestTarget(req);
      if (!target?.pathname.startsWith(ACCESS_PREFIX)) {
        sendJson(res, target ? 404 : 400, { err: target ? 'not found' : 'the request target must be a path' });
        return;
      }
      serveAccessPath(team, target, req, res, false).catch(() => res.destroy());
    });
    return new CfAccessEmulator(server, team, host);
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

  /** Makes a new current key; the previous one stays published, as Cloudflare does. */
  rotateKeys(): Promise<void> {
    return this.team.keys.rotate();
  }

  /** While down, every `/cdn-cgi/access/*` path answers 503 (forwarding for valid sessions goes on). */
  setDown(down: boolean): void {
    this.team.down = down;
  }

  /**
   * Starts an edge proxy in front of `targetUrl` with a login page, on the emulator's host and
   * `options.port` (default 0, a free port); closed with the emulator.
   */
  async proxy(targetUrl: string, options: { port?: number } = {}): Promise<CfAccessEdgeProxy> {
    const edge = await startEdgeProxy(this.team, targetUrl, this.host, options.port ?? 0);
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

  /** Stops the emulator and every proxy it started; calling it again does nothing. */
  async close(): Promise<void> {
    await Promise.all([...this.proxies].map((proxy) => proxy.close()));
    await closeServer(this.server);
  }
}
