import { type CryptoKey, importJWK, type JWK } from 'jose';
import { MAX_KEYS_PER_RESPONSE } from '../cf-access.constants.js';

/** A verification key and what identifies its material (`n` and `e`), so an unchanged key keeps its object across fetches. */
export interface ImportedKey {
  key: CryptoKey;
  material: string;
}

/** Verification keys by `kid`. */
export type KeySet = ReadonlyMap<string, ImportedKey>;

/** Keys shorter than this are refused, as jose refuses them for RS256. */
const MIN_MODULUS_BITS = 2048;

function describeKey(jwk: Record<string, unknown>): string {
  return typeof jwk.kid === 'string' ? `kid "${jwk.kid}"` : 'a key without kid';
}

/** Why `jwk` cannot verify RS256 tokens, or `undefined` when it can (its modulus is checked on import). */
function unusable(jwk: Record<string, unknown>): string | undefined {
  if (typeof jwk.kid !== 'string' || jwk.kid === '') {
    return 'it has no kid';
  }
  if (jwk.kty !== 'RSA' || (jwk.alg !== undefined && jwk.alg !== 'RS256') || (jwk.use !== undefined && jwk.use !== 'sig')) {
    return 'it is not an RS256 signing key';
  }
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) {
    return 'its key_ops do not include "verify"';
  }
  return undefined;
}

async function importOne(jwk: Record<string, unknown>, previous: KeySet): Promise<ImportedKey | string> {
  const why = unusable(jwk);
  if (why !== undefined) {
    return why;
  }
  const material = `${String(jwk.n)}.${String(jwk.e)}`;
  const known = previous.get(jwk.kid as string);
  if (known?.material === material) {
    return known;
  }
  try {
    const key = (await importJWK({ kty: 'RSA', n: jwk.n, e: jwk.e } as JWK, 'RS256')) as CryptoKey;
    const bits = (key.algorithm as { modulusLength?: number }).modulusLength ?? 0;
    return bits >= MIN_MODULUS_BITS ? { key, material } : `its modulus has only ${bits} bits`;
  } catch (error) {
    return `it cannot be imported (${(error as Error).message})`;
  }
}

/** The entries' `kid`s that appear more than once: which key signed a token naming one is ambiguous. */
function duplicateKids(entries: readonly unknown[]): Set<string> {
  const seen = new Set<string>();
  const duplicates = new Set<string>();
  for (const entry of entries) {
    const kid = (entry as { kid?: unknown } | null)?.kid;
    if (typeof kid === 'string') {
      (seen.has(kid) ? duplicates : seen).add(kid);
    }
  }
  return duplicates;
}

/**
 * Imports the RS256 keys of a Cloudflare certs response (`{ keys: [JWK, ...] }`) with jose.
 * Only the public parameters are read. Skipped, each with the reason in `skipped`: entries past the
 * first `MAX_KEYS_PER_RESPONSE`, keys without a `kid`, of another type or use, whose `key_ops` lack
 * `verify`, shorter than 2048 bits, and every key of a `kid` published more than once. A key whose
 * material is unchanged from `previous` keeps its `CryptoKey` object.
 * @throws Error when the body is not a JWK set.
 */
export async function importKeySet(body: unknown, previous: KeySet = new Map()): Promise<{ keys: KeySet; skipped: string[] }> {
  const list = (body as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) {
    throw new Error('the response is not a JWK set ({ "keys": [...] })');
  }
  const taken = list.slice(0, MAX_KEYS_PER_RESPONSE);
  const skipped: string[] = list.length > taken.length ? [`${list.length - taken.length} entries past the first ${MAX_KEYS_PER_RESPONSE}`] : [];
  const duplicates = duplicateKids(taken);
  duplicates.forEach((kid) => skipped.push(`kid "${kid}": it is published more than once`));
  const keys = new Map<string, ImportedKey>();
  for (const jwk of taken) {
    if (typeof jwk !== 'object' || jwk === null) {
      skipped.push('an entry is not an object');
      continue;
    }
    const record = jwk as Record<string, unknown>;
    if (duplicates.has(record.kid as string)) {
      continue;
    }
    const result = await importOne(record, previous);
    if (typeof result === 'string') {
      skipped.push(`${describeKey(record)}: ${result}`);
    } else {
      keys.set(record.kid as string, result);
    }
  }
  return { keys, skipped };
}
