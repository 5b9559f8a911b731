import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { webcrypto } from 'node:crypto';
import { base64url, exportSPKI, importJWK, type CryptoKey } from 'jose';
import { selfSignedCertificate } from '../../../src/testing/self-signed-cert.js';
import { createTestKey, type TestKey } from '../../support/key-server.js';

/** One compact-JWS segment: objects and arrays JSON-encoded, strings taken as raw text, bytes as is. */
export function segment(value: unknown): string {
  if (value instanceof Uint8Array) {
    return base64url.encode(value);
  }
  return base64url.encode(typeof value === 'string' ? value : JSON.stringify(value));
}

/**
 * A token whose header and payload are exactly the given segments and whose RS256 signature is
 * genuine (made by `key`): the only faults are the ones the caller put in the segments.
 */
export async function signSegments(header: unknown, payload: unknown, key: TestKey): Promise<string> {
  const input = `${segment(header)}.${segment(payload)}`;
  const signature = await webcrypto.subtle.sign(
    'RSASSA-PKCS1-v1_5',
    key.privateKey,
    new TextEncoder().encode(input),
  );
  return `${input}.${base64url.encode(new Uint8Array(signature))}`;
}

/** The decoded JSON of segment `index` (0 header, 1 payload) of a compact token. */
export function decodeSegment(token: string, index: 0 | 1): Record<string, unknown> {
  const part = token.split('.')[index] ?? '';
  return JSON.parse(new TextDecoder().decode(base64url.decode(part))) as Record<string, unknown>;
}

/** An HTTP answer read off a raw socket. */
export interface RawResponse {
  status: number;
  /** The response head (status line and headers), as text. */
  head: string;
  text: string;
  body: unknown;
}

function decodeChunked(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = raw.indexOf('\r\n', offset);
    if (lineEnd === -1) {
      break;
    }
    const size = Number.parseInt(raw.subarray(offset, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) {
      break;
    }
    parts.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

function parseResponse(raw: Buffer): RawResponse {
  const headEnd = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, headEnd === -1 ? raw.length : headEnd).toString('latin1');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(head);
  if (!match) {
    throw new Error(`no HTTP status line in the answer: ${JSON.stringify(head.slice(0, 80))}`);
  }
  let bodyBytes = headEnd === -1 ? Buffer.alloc(0) : raw.subarray(headEnd + 4);
  if (/^transfer-encoding:\s*chunked/im.test(head)) {
    bodyBytes = decodeChunked(bodyBytes);
  }
  const text = bodyBytes.toString('utf8');
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: Number(match[1]), head, text, body };
}

/**
 * Sends `GET path` over a fresh TCP connection with the given header lines written as raw bytes
 * (UTF-8 by default, so characters fetch and node:http refuse reach the server's parser as is),
 * and reads the answer until the server closes the connection. The server may close while the
 * request is still being written (e.g. 431 for oversized headers): what it answered still counts.
 */
export function rawGet(
  url: string,
  headerLines: readonly string[],
  options: { path?: string; encoding?: 'utf8' | 'latin1' } = {},
): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  const request = Buffer.concat([
    Buffer.from(`GET ${options.path ?? '/me'} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n`, 'latin1'),
    ...headerLines.map((line) => Buffer.from(`${line}\r\n`, options.encoding ?? 'utf8')),
    Buffer.from('\r\n', 'latin1'),
  ]);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let failure: Error | undefined;
    const socket = connect(Number(port), hostname, () => socket.end(request));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error) => {
      failure = error; // EPIPE / ECONNRESET once the server has answered and hung up
    });
    socket.on('close', () => {
      const raw = Buffer.concat(chunks);
      if (raw.length === 0) {
        reject(failure ?? new Error('the server closed the connection without answering'));
        return;
      }
      try {
        resolve(parseResponse(raw));
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  });
}

/** A key and certificate an attacker controls, served from a server that counts every request. */
export interface AttackerServer {
  key: TestKey;
  /** A self-signed X.509 certificate of the attacker's key (PEM). */
  certificatePem: string;
  /** The certificate as an `x5c` entry (standard base64 DER). */
  x5c: string;
  /** URL of a JWK set holding the attacker's key, published under `kid`s of the caller's choosing. */
  jwksUrl: string;
  /** URL of the attacker's PEM certificate. */
  certUrl: string;
  /** How many requests reached the server, on any path. */
  requests: number;
  /** Publish the attacker's key under these extra `kid`s too (e.g. the team's). */
  alsoPublishAs: string[];
  close(): Promise<void>;
}

/** Starts an attacker's key server on 127.0.0.1 (a free port). */
export async function startAttackerServer(): Promise<AttackerServer> {
  const key = await createTestKey();
  const publicKey = (await importJWK(key.publicJwk, 'RS256', { extractable: true })) as CryptoKey;
  const certificatePem = await selfSignedCertificate(
    'attacker.example',
    await exportSPKI(publicKey),
    key.privateKey,
  );
  const state = { requests: 0 };
  const alsoPublishAs: string[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    state.requests += 1;
    if (req.url === '/cert.pem') {
      res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(certificatePem);
      return;
    }
    const keys = [key.kid, ...alsoPublishAs].map((kid) => ({ ...key.publicJwk, kid }));
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    key,
    certificatePem,
    x5c: certificatePem.replace(/-----[^-]+-----|\s/g, ''),
    jwksUrl: `${origin}/.well-known/jwks.json`,
    certUrl: `${origin}/cert.pem`,
    get requests() {
      return state.requests;
    },
    alsoPublishAs,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** mulberry32: a tiny seeded PRNG, so every fuzz run draws the same mutants. Returns [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
