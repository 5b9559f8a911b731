import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';

/** How the certs endpoint behaves: serve keys, or one of the failures tests inject. */
export type CertsMode = 'ok' | 'http-500' | 'bad-json' | 'hang' | 'redirect';

/** How the get-identity endpoint behaves. */
export type IdentityMode = 'ok' | 'http-401' | 'err-body' | 'http-500' | 'bad-json' | 'hang';

/** A signing key of the test team. */
export interface TestKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/** A fresh RS256 key pair with a random kid. */
export async function createTestKey(): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

/**
 * A real team domain on 127.0.0.1: serves `/cdn-cgi/access/certs` in Cloudflare's shape from
 * real keys, counts fetches, and can be switched into failure modes.
 */
export class TestKeyServer {
  /** The keys published at the certs endpoint (current last). */
  published: TestKey[] = [];
  mode: CertsMode = 'ok';
  /** How many times the certs endpoint was requested. */
  certsRequests = 0;
  /** How many times the redirect target (which also serves the keys) was requested. */
  redirectedRequests = 0;
  identityMode: IdentityMode = 'ok';
  /** How many times get-identity was requested. */
  identityRequests = 0;
  /** The body get-identity answers in mode 'ok'. */
  identity: Record<string, unknown> = { email: 'user@example.com', name: 'User', groups: [{ id: 'g1', name: 'admins' }] };
  /** The CF_Authorization cookie of the last get-identity request. */
  lastIdentityCookie: string | undefined;
  readonly audience = 'a'.repeat(32) + randomUUID().replaceAll('-', '');

  private constructor(
    private readonly server: Server,
    readonly teamDomain: string,
  ) {}

  /** Starts a server on a free loopback port with one published key. */
  static async start(): Promise<TestKeyServer> {
    const server = createServer((req, res) => self.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const self = new TestKeyServer(server, `http://127.0.0.1:${port}`);
    await self.rotate();
    return self;
  }

  /** The key tokens are signed with by default. */
  get currentKey(): TestKey {
    const key = this.published.at(-1);
    if (!key) {
      throw new Error('no key published');
    }
    return key;
  }

  /** Publishes a new current key; the previous one stays published, as Cloudflare does. */
  async rotate(): Promise<TestKey> {
    const key = await createTestKey();
    this.published = [...this.published.slice(-1), key];
    return key;
  }

  /** Cloudflare's claim set for a user token, overridable claim by claim (`undefined` removes one). */
  claims(overrides: Record<string, unknown> = {}): JWTPayload {
    const now = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = {
      aud: [this.audience],
      email: 'user@example.com',
      exp: now + 3600,
      iat: now,
      nbf: now,
      iss: this.teamDomain,
      type: 'app',
      identity_nonce: 'nonce-' + randomUUID(),
      sub: 'sub-user',
      country: 'NL',
      ...overrides,
    };
    return Object.fromEntries(Object.entries(claims).filter(([, value]) => value !== undefined));
  }

  /** A genuine RS256 token with `claims(overrides)`, signed by `key` (default: the current key). */
  async sign(
    overrides: Record<string, unknown> = {},
    options: { key?: TestKey; header?: Record<string, unknown> } = {},
  ): Promise<string> {
    const key = options.key ?? this.currentKey;
    return new SignJWT(this.claims(overrides))
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT', ...options.header })
      .sign(key.privateKey);
  }

  /** Stops the server; its port then refuses connections. */
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private serveIdentity(req: IncomingMessage, res: ServerResponse): void {
    this.identityRequests += 1;
    this.lastIdentityCookie = req.headers.cookie;
    const answers: Record<IdentityMode, () => void> = {
      ok: () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.identity)),
      'http-401': () => res.writeHead(401).end(),
      'err-body': () => res.writeHead(200).end('{"err":"not logged in"}'),
      'http-500': () => res.writeHead(500).end('oops'),
      'bad-json': () => res.writeHead(200).end('{"email":'),
      hang: () => undefined,
    };
    answers[this.identityMode]();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.url === '/elsewhere/certs') {
      this.redirectedRequests += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.published.map((key) => key.publicJwk) }));
      return;
    }
    if (req.url === '/cdn-cgi/access/get-identity') {
      this.serveIdentity(req, res);
      return;
    }
    if (req.url !== '/cdn-cgi/access/certs') {
      res.writeHead(404).end();
      return;
    }
    this.certsRequests += 1;
    if (this.mode === 'redirect') {
      res.writeHead(302, { location: '/elsewhere/certs' }).end();
      return;
    }
    if (this.mode === 'hang') {
      return; // never answers: the client's timeout must end the fetch
    }
    if (this.mode === 'http-500') {
      res.writeHead(500).end('internal error');
      return;
    }
    const body =
      this.mode === 'bad-json'
        ? '{"keys": ['
        : JSON.stringify({
            keys: this.published.map((key) => key.publicJwk),
            public_cert: { kid: this.currentKey.kid, cert: '-----BEGIN CERTIFICATE-----\n…' },
            public_certs: this.published.map((key) => ({ kid: key.kid, cert: '-----BEGIN CERTIFICATE-----\n…' })),
          });
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  }
}

/** A loopback URL on which nothing listens (connections are refused). */
export async function unreachableTeamDomain(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
