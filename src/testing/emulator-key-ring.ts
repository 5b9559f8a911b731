import { randomBytes } from 'node:crypto';
import { type CryptoKey, exportJWK, exportSPKI, generateKeyPair, importJWK, type JWK, jwtVerify, SignJWT } from 'jose';
import { selfSignedCertificate } from './self-signed-cert.js';

/** One signing key of the emulated team. */
export interface EmulatorKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly jwk: JWK;
  readonly cert: string;
}

/** A signing key as a state file keeps it: its `kid`, private JWK and published certificate. */
export interface StoredEmulatorKey {
  kid: string;
  privateJwk: JWK;
  cert: string;
}

/** The published JWK of a key, in Cloudflare's shape. */
function publicJwk(kid: string, { e, n }: JWK): JWK {
  return { kid, kty: 'RSA', alg: 'RS256', use: 'sig', e, n };
}

async function createKey(commonName: string): Promise<EmulatorKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const kid = randomBytes(32).toString('hex');
  const jwk = publicJwk(kid, await exportJWK(publicKey));
  const cert = await selfSignedCertificate(commonName, await exportSPKI(publicKey), privateKey);
  return { kid, privateKey, publicKey, jwk, cert };
}

/** An imported key that must be an RSA one (`importJWK` gives bytes for a symmetric `oct` JWK). */
function asymmetric(key: CryptoKey | Uint8Array): CryptoKey {
  if (key instanceof Uint8Array) {
    throw new Error('not an RSA key');
  }
  return key;
}

/**
 * A key back from its stored form; the public key is derived from the private JWK, and one
 * signature made and verified proves the pair works.
 * @throws Error when the key cannot be imported or does not sign what its public half verifies.
 */
async function restoreKey({ kid, privateJwk, cert }: StoredEmulatorKey): Promise<EmulatorKey> {
  const privateKey = asymmetric(await importJWK(privateJwk, 'RS256', { extractable: true }));
  const jwk = publicJwk(kid, privateJwk);
  const publicKey = asymmetric(await importJWK({ kty: 'RSA', e: jwk.e, n: jwk.n }, 'RS256'));
  await jwtVerify(await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).sign(privateKey), publicKey);
  return { kid, privateKey, publicKey, jwk, cert };
}

/**
 * The emulated team's keys, as Cloudflare keeps them: a current key and the previous one, both
 * published; a key rotated out twice is gone.
 */
export class EmulatorKeyRing {
  private keys: EmulatorKey[] = [];

  private constructor(private readonly commonName: string) {}

  /** A ring holding one fresh key. */
  static async create(commonName: string): Promise<EmulatorKeyRing> {
    const ring = new EmulatorKeyRing(commonName);
    await ring.rotate();
    return ring;
  }

  /**
   * A ring holding stored keys, oldest first (the last one is current).
   * @throws Error when a key cannot be imported.
   */
  static async restore(commonName: string, stored: readonly StoredEmulatorKey[]): Promise<EmulatorKeyRing> {
    const ring = new EmulatorKeyRing(commonName);
    ring.keys = await Promise.all(stored.map(restoreKey));
    return ring;
  }

  /** The keys in their stored form, oldest first, private parts included. */
  async stored(): Promise<StoredEmulatorKey[]> {
    return Promise.all(
      this.keys.map(async (key) => ({ kid: key.kid, privateJwk: await exportJWK(key.privateKey), cert: key.cert })),
    );
  }

  /** The key new tokens are signed with. */
  get current(): EmulatorKey {
    const key = this.keys.at(-1);
    if (!key) {
      throw new Error('EmulatorKeyRing: no key');
    }
    return key;
  }

  /** Every published key: the current one and the previous one. */
  get published(): readonly EmulatorKey[] {
    return this.keys;
  }

  /** Makes a new current key; the previous one stays published. */
  async rotate(): Promise<void> {
    this.keys = [...this.keys.slice(-1), await createKey(this.commonName)];
  }

  /** The body of `/cdn-cgi/access/certs`, in Cloudflare's shape. */
  certsBody(): { keys: JWK[]; public_cert: { kid: string; cert: string }; public_certs: { kid: string; cert: string }[] } {
    return {
      keys: this.keys.map((key) => key.jwk),
      public_cert: { kid: this.current.kid, cert: this.current.cert },
      public_certs: this.keys.map((key) => ({ kid: key.kid, cert: key.cert })),
    };
  }
}
