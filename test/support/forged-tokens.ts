import { base64url, type CryptoKey, exportSPKI, generateKeyPair, importJWK, SignJWT, UnsecuredJWT } from 'jose';
import { type TestKeyServer } from './key-server.js';

const encode = (value: unknown): string => base64url.encode(JSON.stringify(value));

/** A compact token with arbitrary header and payload segments and a dummy signature. */
export function rawToken(header: unknown, payload: unknown, signature = 'c2ln'): string {
  const part = (value: unknown) => (typeof value === 'string' ? base64url.encode(value) : encode(value));
  return `${part(header)}.${part(payload)}.${signature}`;
}

/** `valid` with its payload replaced by `claims`, keeping the original signature. */
export function withPayload(valid: string, claims: unknown): string {
  const [header, , signature] = valid.split('.');
  return `${header}.${encode(claims)}.${signature}`;
}

/** An unsigned token (`alg: none`) naming the team's current kid. */
export function algNoneToken(keys: TestKeyServer): string {
  return new UnsecuredJWT(keys.claims()).encode().replace(/^[^.]+/, encode({ alg: 'none', kid: keys.currentKey.kid }));
}

/** HS256 signed with the team's public key as the HMAC secret, in PEM or JWK form (alg confusion). */
export async function hs256WithPublicKey(keys: TestKeyServer, form: 'pem' | 'jwk'): Promise<string> {
  const jwk = keys.currentKey.publicJwk;
  const secret = form === 'pem' ? await exportSPKI((await importJWK(jwk, 'RS256', { extractable: true })) as CryptoKey) : JSON.stringify(jwk);
  return new SignJWT(keys.claims())
    .setProtectedHeader({ alg: 'HS256', kid: keys.currentKey.kid })
    .sign(new TextEncoder().encode(secret));
}

/** A genuine PS256 signature by a fresh RSA key, naming the team's kid. */
export async function ps256Token(keys: TestKeyServer): Promise<string> {
  const { privateKey } = await generateKeyPair('PS256');
  return new SignJWT(keys.claims()).setProtectedHeader({ alg: 'PS256', kid: keys.currentKey.kid }).sign(privateKey);
}
