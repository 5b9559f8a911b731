import { CfAccessUnauthorizedException } from '../cf-access.errors.js';
import { type ResolvedCfAccessOptions } from '../cf-access.options.js';
import { type CfAccessIdentity } from '../identity/cf-access-identity.js';

/**
 * Checks the claims of a token whose signature is verified, in DESIGN §3 order:
 * `aud` (exact match of any configured tag), `exp` (required), `nbf` / `iat`, then `type`.
 * @param now seconds since the epoch.
 * @throws CfAccessUnauthorizedException `wrong_audience`, `expired`, `not_yet_valid` or `wrong_token_type`.
 */
export function checkClaims(
  claims: Record<string, unknown>,
  options: Pick<ResolvedCfAccessOptions, 'audience' | 'clockTolerance'>,
  now: number,
): asserts claims is CfAccessIdentity {
  const aud = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? (claims.aud as unknown[]) : [];
  if (!aud.some((tag) => typeof tag === 'string' && options.audience.includes(tag))) {
    throw new CfAccessUnauthorizedException('wrong_audience');
  }
  const { exp, nbf, iat } = claims as { exp?: number; nbf?: number; iat?: number };
  if (exp === undefined || exp <= now - options.clockTolerance) {
    throw new CfAccessUnauthorizedException('expired');
  }
  if ((nbf !== undefined && nbf > now + options.clockTolerance) || (iat !== undefined && iat > now + options.clockTolerance)) {
    throw new CfAccessUnauthorizedException('not_yet_valid');
  }
  if (claims.type !== undefined && claims.type !== 'app') {
    throw new CfAccessUnauthorizedException('wrong_token_type');
  }
}
