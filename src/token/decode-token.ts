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

const NUMERIC_CLAIMS = ['exp', 'nbf', 'iat'] as const;
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** A segment of base64url characters (the signature may be empty: `alg: none`, refused later by its own rule). */
const SEGMENT = /^[\w-]*$/;

/**
 * Whether `segment` is base64url (non-empty unless `mayBeEmpty`) and the one
 * canonical encoding of its bytes: a valid length, and the unused low bits of its last character
 * zero. Otherwise several strings would decode to the same token (a signature "changed" in its
 * padding bits would still verify).
 */
function isCanonicalBase64url(segment: string, mayBeEmpty: boolean): boolean {
  if ((segment === '' && !mayBeEmpty) || !SEGMENT.test(segment)) {
    return false;
  }
  const rest = segment.length % 4;
  if (rest === 0) {
    return true;
  }
  const last = BASE64URL.indexOf(segment.charAt(segment.length - 1));
  return rest !== 1 && (last & (rest === 2 ? 0x0f : 0x03)) === 0;
}

/**
 * Where a segment's bytes are decoded: a token is at most `MAX_TOKEN_LENGTH` characters, so its
 * bytes fit, and no buffer is allocated per token (a `Buffer.from` per segment drains Node's
 * buffer pool, whose refills showed up in the miss path's profile).
 */
const SCRATCH = Buffer.allocUnsafe(MAX_TOKEN_LENGTH);

/** A plain JSON object (what jose accepts as a header or claims set), or `undefined`. */
function parseObject(segment: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(SCRATCH.toString('utf8', 0, SCRATCH.write(segment, 'base64url')));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return undefined;
  }
  return value as Record<string, unknown>;
}

/**
 * The header and claims of a compact JWS, each segment checked and decoded once (the signature is
 * only checked, for jose to decode).
 */
function decode(token: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const firstDot = token.indexOf('.');
  const secondDot = firstDot === -1 ? -1 : token.indexOf('.', firstDot + 1);
  if (secondDot === -1 || token.indexOf('.', secondDot + 1) !== -1) {
    throw new CfAccessUnauthorizedException('malformed');
  }
  const encodedHeader = token.slice(0, firstDot);
  const encodedClaims = token.slice(firstDot + 1, secondDot);
  if (
    !isCanonicalBase64url(encodedHeader, false) ||
    !isCanonicalBase64url(encodedClaims, false) ||
    !isCanonicalBase64url(token.slice(secondDot + 1), true)
  ) {
    throw new CfAccessUnauthorizedException('malformed');
  }
  const header = parseObject(encodedHeader);
  const claims = header && parseObject(encodedClaims);
  if (header === undefined || claims === undefined) {
    throw new CfAccessUnauthorizedException('malformed');
  }
  return { header, claims };
}

/**
 * Decodes a compact JWS and applies the structural rules, in DESIGN §3 order: presence, size,
 * shape, claim types, `crit`, `alg` (RS256 only) and `kid`. Each part is checked and decoded once
 * here; jose decodes the header again when it verifies the signature.
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
