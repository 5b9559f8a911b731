import { randomBytes } from 'node:crypto';
import { type CryptoKey, exportJWK, exportSPKI, generateKeyPair, type JWK } from 'jose';
import { selfSignedCertificate } from './self-signed-cert.js';

/** One signing key of the emulated team. */
export interface EmulatorKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly jwk: JWK;
  readonly cert: string;
}

async function createKey(commonName: string): Promise<EmulatorKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const kid = randomBytes(32).toString('hex');
  const { e, n } = await exportJWK(publicKey);
  const jwk: JWK = { kid, kty: 'RSA', alg: 'RS256', use: 'sig', e, n };
  const cert = await selfSignedCertificate(commonName, await exportSPKI(publicKey), privateKey);
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
