import { type CryptoKey, importJWK, type JWK } from 'jose';

/** Verification keys by `kid`. */
export type KeySet = ReadonlyMap<string, CryptoKey>;

/** Keys shorter than this are refused, as jose refuses them for RS256. */
const MIN_MODULUS_BITS = 2048;

function describeKey(jwk: Record<string, unknown>): string {
  return typeof jwk.kid === 'string' ? `kid "${jwk.kid}"` : 'a key without kid';
}

async function importOne(jwk: Record<string, unknown>): Promise<CryptoKey | string> {
  if (typeof jwk.kid !== 'string' || jwk.kid === '') {
    return 'it has no kid';
  }
  if (jwk.kty !== 'RSA' || (jwk.alg !== undefined && jwk.alg !== 'RS256') || (jwk.use !== undefined && jwk.use !== 'sig')) {
    return 'it is not an RS256 signing key';
  }
  try {
    const key = (await importJWK({ kty: 'RSA', n: jwk.n, e: jwk.e } as JWK, 'RS256')) as CryptoKey;
    const bits = (key.algorithm as { modulusLength?: number }).modulusLength ?? 0;
    return bits >= MIN_MODULUS_BITS ? key : `its modulus has only ${bits} bits`;
  } catch (error) {
    return `it cannot be imported (${(error as Error).message})`;
  }
}

/**
 * Imports the RS256 keys of a Cloudflare certs response (`{ keys: [JWK, ...] }`) with jose.
 * Only the public parameters are read; keys without a `kid` or of another type are skipped.
 * @throws Error when the body is not a JWK set.
 */
export async function importKeySet(body: unknown): Promise<{ keys: KeySet; skipped: string[] }> {
  const list = (body as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) {
    throw new Error('the response is not a JWK set ({ "keys": [...] })');
  }
  const keys = new Map<string, CryptoKey>();
  const skipped: string[] = [];
  for (const jwk of list) {
    if (typeof jwk !== 'object' || jwk === null) {
      skipped.push('an entry is not an object');
      continue;
    }
    const record = jwk as Record<string, unknown>;
    const result = await importOne(record);
    if (typeof result === 'string') {
      skipped.push(`${describeKey(record)}: ${result}`);
    } else {
      keys.set(record.kid as string, result);
    }
  }
  return { keys, skipped };
}
