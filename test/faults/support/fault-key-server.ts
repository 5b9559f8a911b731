import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, type Socket } from 'node:net';
import { type JWK, type JWTPayload, SignJWT } from 'jose';
import { createTestKey, type TestKey } from '../../support/key-server.js';

/**
 * What the certs endpoint does instead of serving the team's keys:
 * - `slow`: answers correctly, but only after `slowDelay` ms (set it beyond `jwks.timeout`);
 * - `slow-body`: sends status and headers at once, the body only after `slowDelay` ms;
 * - `http-500`: HTTP 500;
 * - `bad-json`: HTTP 200 with a truncated JSON body;
 * - `keys-without-kid`: the team's real keys, every one stripped of its `kid`;
 * - `no-usable-key`: entries that name the team's kids but hold no RS256 signing key
 *   (an EC key, a 1024-bit RSA key, an RSA key marked `RS512`, one marked `use: enc`);
 * - `reset`: the connection is destroyed without an answer;
 * - `down`: the server stops listening (connections refused) until `heal()`;
 * - `stall`: HTTP 200 and `{"keys":[` at once, then nothing, ever (the connection stays open);
 * - `drip`: HTTP 200 and `{"keys":[`, then one space every `DRIP_INTERVAL` ms, forever;
 * - `endless`: HTTP 200 and a body that never ends, sent as fast as the client reads it;
 * - `oversized`: a valid key set padded with whitespace to `OVERSIZED_BYTES`.
 */
export type CertsFault =
  | 'slow'
  | 'slow-body'
  | 'stall'
  | 'drip'
  | 'endless'
  | 'oversized'
  | 'http-500'
  | 'bad-json'
  | 'keys-without-kid'
  | 'no-usable-key'
  | 'reset'
  | 'down';

/** Every fault, for `describe.each`. */
export const CERTS_FAULTS: readonly CertsFault[] = [
  'slow',
  'slow-body',
  'stall',
  'drip',
  'endless',
  'oversized',
  'http-500',
  'bad-json',
  'keys-without-kid',
  'no-usable-key',
  'reset',
  'down',
];

/** What get-identity does instead of answering: the body faults of `CertsFault`, on that endpoint. */
export type IdentityFault = 'stall' | 'drip' | 'oversized';

/** How often `drip` sends a byte (ms). */
export const DRIP_INTERVAL = 150;

/** The body size of `oversized` (2 MiB: over the library's 1 MiB cap for certs and 64 KiB for get-identity). */
export const OVERSIZED_BYTES = 2 * 1024 * 1024;

/** The certs endpoint's path (the library's `CERTS_PATH`). */
export const CERTS_PATH = '/cdn-cgi/access/certs';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Public keys that no RS256 verifier may use: EC, 1024-bit RSA, RSA for RS512, RSA for encryption. */
function unusableJwks(): JWK[] {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }) as JWK;
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }) as JWK;
  const big = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }) as JWK;
  return [
    { ...ec, alg: 'ES256', use: 'sig' },
    { ...small, alg: 'RS256', use: 'sig' },
    { ...big, alg: 'RS512', use: 'sig' },
    { ...big, alg: 'RS256', use: 'enc' },
  ];
}

/**
 * A team domain on 127.0.0.1 whose certs endpoint can be switched into a fault and healed again,
 * on the same port, without touching the app under test. Records when each certs request arrived.
 */
export class FaultKeyServer {
  /** The keys published at the certs endpoint (current last; the previous one stays published). */
  published: TestKey[] = [];
  /** The fault in force, or `undefined` when the endpoint serves the keys. */
  fault: CertsFault | undefined;
  /** How long `slow` / `slow-body` wait before answering (ms). */
  slowDelay = 800;
  /** Kids of published keys that are served without their `kid` even when no fault is in force. */
  readonly servedWithoutKid = new Set<string>();
  /** Arrival times (`Date.now()`) of the certs requests the server received. */
  readonly certsTimes: number[] = [];
  /** How many times get-identity was requested. */
  identityRequests = 0;
  /** The fault of get-identity, or `undefined` when it answers. */
  identityFault: IdentityFault | undefined;
  /** Body bytes the `endless` fault managed to send before the client hung up, per request. */
  readonly endlessBytes: number[] = [];
  readonly audience = 'f'.repeat(32) + randomUUID().replaceAll('-', '');
  readonly teamDomain: string;

  private server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private unusable: JWK[] | undefined;

  private constructor(
    server: Server,
    private readonly port: number,
  ) {
    this.server = server;
    this.teamDomain = `http://127.0.0.1:${port}`;
  }

  /** Starts on a free loopback port, serving one key. */
  static async start(): Promise<FaultKeyServer> {
    const server = FaultKeyServer.listen(0);
    const port = ((await server).address() as AddressInfo).port;
    const self = new FaultKeyServer(await server, port);
    self.attach(self.server);
    await self.rotate();
    return self;
  }

  private static listen(port: number): Promise<Server> {
    const server = createServer();
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve(server));
    });
  }

  /** How many certs requests arrived. */
  get certsRequests(): number {
    return this.certsTimes.length;
  }

  /** The key tokens are signed with by default. */
  get currentKey(): TestKey {
    const key = this.published.at(-1);
    if (!key) {
      throw new Error('no key published');
    }
    return key;
  }

  /** Publishes `key` (default: a new one) as the current key; the previous one stays published, as Cloudflare does. */
  async rotate(next?: TestKey): Promise<TestKey> {
    const key = next ?? (await createTestKey());
    this.published = [...this.published.slice(-1), key];
    return key;
  }

  /** Puts `fault` in force (`down` stops listening). */
  async fail(fault: CertsFault): Promise<void> {
    if (fault === 'no-usable-key') {
      this.unusable ??= unusableJwks(); // generated here, never while a request waits
    }
    if (fault === 'down' && this.fault !== 'down') {
      await this.stopListening();
    }
    this.fault = fault;
  }

  /** Ends the fault: the endpoint serves the keys again, on the same port. */
  async heal(): Promise<void> {
    if (this.fault === 'down') {
      this.server = await FaultKeyServer.listen(this.port);
      this.attach(this.server);
    }
    this.fault = undefined;
  }

  /** Cloudflare's claim set for a user token, overridable claim by claim. */
  claims(overrides: Record<string, unknown> = {}): JWTPayload {
    const now = Math.floor(Date.now() / 1000);
    return {
      aud: [this.audience],
      email: 'user@example.com',
      exp: now + 3600,
      iat: now,
      nbf: now,
      iss: this.teamDomain,
      type: 'app',
      identity_nonce: 'nonce-' + randomUUID(),
      sub: 'sub-user',
      ...overrides,
    };
  }

  /** A token with `claims(overrides)`, signed by `key` (default: the current key) and naming `kid` (default: the key's). */
  sign(overrides: Record<string, unknown> = {}, options: { key?: TestKey; kid?: string } = {}): Promise<string> {
    const key = options.key ?? this.currentKey;
    return new SignJWT(this.claims(overrides))
      .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? key.kid, typ: 'JWT' })
      .sign(key.privateKey);
  }

  /** Stops the server for good. */
  async close(): Promise<void> {
    this.timers.forEach((timer) => clearTimeout(timer));
    this.timers.clear();
    if (this.fault !== 'down') {
      await this.stopListening();
    }
  }

  private attach(server: Server): void {
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.handle(req, res));
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  private async stopListening(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.sockets.forEach((socket) => socket.destroy());
    await closed;
  }

  private later(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      action();
    }, ms);
    this.timers.add(timer);
  }

  private keySetBody(): string {
    const keys = this.published.map(({ publicJwk }) => {
      const { kid, ...rest } = publicJwk;
      return kid !== undefined && this.servedWithoutKid.has(kid) ? rest : publicJwk;
    });
    if (this.fault === 'keys-without-kid') {
      return JSON.stringify({ keys: keys.map((jwk) => ({ ...jwk, kid: undefined })) });
    }
    if (this.fault === 'no-usable-key') {
      // Each entry names one of the team's kids, but holds no key an RS256 verifier may use.
      const kids = this.published.map((key) => key.kid);
      return JSON.stringify({ keys: (this.unusable ?? []).map((jwk, index) => ({ ...jwk, kid: kids[index % kids.length] })) });
    }
    return JSON.stringify({ keys });
  }

  /** Answers with a body fault: `start` at once, then as `fault` says. */
  private bodyFault(res: ServerResponse, fault: IdentityFault | 'endless', start: string, full: () => string): void {
    const json = { 'content-type': 'application/json' };
    if (fault === 'oversized') {
      const body = full();
      res.writeHead(200, json).end(body + ' '.repeat(Math.max(0, OVERSIZED_BYTES - Buffer.byteLength(body))));
      return;
    }
    res.writeHead(200, json);
    res.write(start);
    if (fault === 'drip') {
      const drip = setInterval(() => res.write(' '), DRIP_INTERVAL);
      res.once('close', () => clearInterval(drip));
    } else if (fault === 'endless') {
      this.sendForever(res);
    }
  }

  /** Writes 64 KiB chunks whenever the socket drains, until the client hangs up; records the bytes sent. */
  private sendForever(res: ServerResponse): void {
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const pump = () => {
      while (!res.destroyed && res.write(chunk)) {
        sent += chunk.length;
      }
      sent += res.destroyed ? 0 : chunk.length;
    };
    res.on('drain', pump);
    res.once('close', () => this.endlessBytes.push(sent));
    pump();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.url === '/cdn-cgi/access/get-identity') {
      this.identityRequests += 1;
      const identity = () => JSON.stringify({ email: 'user@example.com', groups: [] });
      if (this.identityFault) {
        this.bodyFault(res, this.identityFault, '{"email":', identity);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(identity());
      return;
    }
    if (req.url !== CERTS_PATH) {
      res.writeHead(404).end();
      return;
    }
    this.certsTimes.push(Date.now());
    const json = { 'content-type': 'application/json' };
    const alive = () => !res.destroyed && !res.writableEnded;
    switch (this.fault) {
      case 'slow': {
        const body = this.keySetBody();
        this.later(this.slowDelay, () => alive() && res.writeHead(200, json).end(body));
        return;
      }
      case 'slow-body': {
        const body = this.keySetBody();
        res.writeHead(200, { ...json, 'content-length': String(Buffer.byteLength(body)) });
        res.write(body.slice(0, 10));
        this.later(this.slowDelay, () => alive() && res.end(body.slice(10)));
        return;
      }
      case 'http-500':
        res.writeHead(500).end('internal error');
        return;
      case 'bad-json':
        res.writeHead(200, json).end('{"keys": [{"kty": "RSA", ');
        return;
      case 'reset':
        req.socket.destroy();
        return;
      case 'stall':
      case 'drip':
      case 'endless':
      case 'oversized':
        this.bodyFault(res, this.fault, '{"keys":[', () => this.keySetBody());
        return;
      default:
        res.writeHead(200, json).end(this.keySetBody());
    }
  }
}

/** Runs `task` over `items` with at most `limit` at a time; resolves the results in order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await task(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export { sleep };
