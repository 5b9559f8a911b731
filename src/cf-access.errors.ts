import { ForbiddenException, ServiceUnavailableException, UnauthorizedException } from '@nestjs/common';

/** Why a token was refused with 401. */
export type CfAccessUnauthorizedReason =
  | 'missing_token'
  | 'token_too_large'
  | 'malformed'
  | 'unsupported_alg'
  | 'missing_kid'
  | 'wrong_issuer'
  | 'unknown_kid'
  | 'bad_signature'
  | 'wrong_audience'
  | 'expired'
  | 'not_yet_valid'
  | 'wrong_token_type'
  | 'session_revoked';

/** Why a valid identity was refused with 403. */
export type CfAccessForbiddenReason =
  | 'identity_rejected'
  | 'predicate_error'
  | 'service_token_not_allowed'
  | 'user_not_found'
  | 'user_resolver_error';

/** Why the request could not be judged at all (503). */
export type CfAccessUnavailableReason = 'keys_unavailable' | 'identity_unavailable';

/** Every machine-readable reason this library reports. */
export type CfAccessReason = CfAccessUnauthorizedReason | CfAccessForbiddenReason | CfAccessUnavailableReason;

const MESSAGES: Record<CfAccessReason, string> = {
  missing_token: 'No Cloudflare Access token was sent',
  token_too_large: 'The Cloudflare Access token is too large',
  malformed: 'The Cloudflare Access token is malformed',
  unsupported_alg: 'The Cloudflare Access token is not signed with RS256',
  missing_kid: 'The Cloudflare Access token names no signing key',
  wrong_issuer: 'The Cloudflare Access token was issued by another team',
  unknown_kid: 'The Cloudflare Access token was signed by an unknown key',
  bad_signature: 'The Cloudflare Access token signature is invalid',
  wrong_audience: 'The Cloudflare Access token is for another application',
  expired: 'The Cloudflare Access token has expired',
  not_yet_valid: 'The Cloudflare Access token is not valid yet',
  wrong_token_type: 'The Cloudflare Access token is not an application token',
  session_revoked: 'Cloudflare Access no longer knows this session',
  identity_rejected: 'This identity is not allowed here',
  predicate_error: 'The identity check failed',
  service_token_not_allowed: 'Service tokens are not allowed here',
  user_not_found: 'This identity has no user in this application',
  user_resolver_error: 'The user lookup failed',
  keys_unavailable: 'Cloudflare Access signing keys are unavailable',
  identity_unavailable: 'The Cloudflare Access identity service is unavailable',
};

/** The response body: Nest's error shape plus the reason code. */
function body(statusCode: number, error: string, reason: CfAccessReason) {
  return { statusCode, error, message: MESSAGES[reason], reason };
}

/** 401: the request carries no acceptable Cloudflare Access token. */
export class CfAccessUnauthorizedException extends UnauthorizedException {
  constructor(readonly reason: CfAccessUnauthorizedReason) {
    super(body(401, 'Unauthorized', reason));
  }
}

/** 403: the token is valid but the identity is not allowed on this route. */
export class CfAccessForbiddenException extends ForbiddenException {
  constructor(readonly reason: CfAccessForbiddenReason) {
    super(body(403, 'Forbidden', reason));
  }
}

/** 503: no signing key is known and the key endpoint cannot be reached, or get-identity cannot be. */
export class CfAccessUnavailableException extends ServiceUnavailableException {
  constructor(readonly reason: CfAccessUnavailableReason = 'keys_unavailable') {
    super(body(503, 'Service Unavailable', reason));
  }
}

/** The reason code of this library's exceptions; `undefined` for any other error. */
export function reasonOf(error: unknown): CfAccessReason | undefined {
  const ours =
    error instanceof CfAccessUnauthorizedException ||
    error instanceof CfAccessForbiddenException ||
    error instanceof CfAccessUnavailableException;
  return ours ? error.reason : undefined;
}

/** A caught error as one log-safe line: `Name: message` (key and identity fetches only; never a token). */
export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
