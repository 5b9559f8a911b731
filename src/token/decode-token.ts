import { decodeJwt, decodeProtectedHeader } from 'jose';
import { MAX_TOKEN_LENGTH } from '../cf-access.constants.js';
import { CfAccessUnauthorizedException } from '../cf-access.errors.js';

/**
 * A token's `kid` and claims, decoded but NOT yet verified. The claims may be trusted only after
 * the signature over these same bytes has been verified (as `CfAccessService.verify` does).
 */
export interface DecodedToken {
  kid: string;
  claims: Record<string, unknown>;
}

const COMPACT_JWS = /^[\w-]+\.[\w-]+\.[\w-]*$/;
const NUMERIC_CLAIMS = ['exp', 'nbf', 'iat'] as const;
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Whether a base64url segment is the one canonical encoding of its bytes: a valid length, and the
 * unused low bits of its last character zero. Otherwise several strings would decode to the same
 * token (a signature "changed" in its padding bits would still verify).
 */
function isCanonicalBase64url(segment: string): boolean {
  const rest = segment.length % 4;
  if (rest === 0) {
    return true;
  }
  const last = BASE64URL.indexOf(segment.charAt(segment.length - 1));
  return rest !== 1 && (last & (rest === 2 ? 0x0f : 0x03)) === 0;
}

function decode(token: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  if (!COMPACT_JWS.test(token) || !token.split('.').every(isCanonicalBase64url)) {
    throw new CfAccessUnauthorizedException('malformed');
  }
  try {
    return { header: decodeProtectedHeader(token), claims: decodeJwt(token) };
  } catch {
    throw new CfAccessUnauthorizedException('malformed');
  }
}

/**
 * Decodes a compact JWS with jose and applies the structural rules, in DESIGN §3 order:
 * presence, size, shape, claim types, `crit`, `alg` (RS256 only) and `kid`.
 * @throws CfAccessUnauthorizedException `missing_token`, `token_too_large`, `malformed`, `unsupported_alg` or `missing_kid`.
 */
export function decodeToken(token: string): DecodedToken {
  if (typeof token !== 'string' || token.trim() === '') {
    throw new CfAccessUnauthorizedException('missing_token');
  }
  if (token.length > MAX_TOKEN_LENGTH) {
    throw new CfAccessUnauthorizedException('token_too_large');
  }
  const { header, claims } = decode(token);
  const badTypes =
    NUMERIC_CLAIMS.some((name) => claims[name] !== undefined && !Number.isFinite(claims[name])) ||
    (claims.iss !== undefined && typeof claims.iss !== 'string') ||
    header.crit !== undefined;
  if (badTypes) {
    throw new CfAccessUnauthorizedException('malformed');
  }
  if (header.alg !== 'RS256') {
    throw new CfAccessUnauthorizedException('unsupported_alg');
  }
  if (typeof header.kid !== 'string' || header.kid === '') {
    throw new CfAccessUnauthorizedException('missing_kid');
  }
  return { kid: header.kid, claims };
}
