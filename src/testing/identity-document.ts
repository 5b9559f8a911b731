import { createHash } from 'node:crypto';
import { type JWTPayload } from 'jose';

/** A stable UUID-shaped id derived from `seed` (Cloudflare's ids are UUIDs). */
export function stableUuid(seed: string): string {
  const hex = createHash('sha256').update(seed).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

const COMMON = { is_warp: false, is_gateway: false, version: 2, account_id: stableUuid('emulator-account') };

/**
 * The body of `/cdn-cgi/access/get-identity` for a verified token, in Cloudflare's shape:
 * a user's email, name, groups, idp and geo, or a service token's common name.
 */
export function identityDocument(claims: JWTPayload, ip: string): Record<string, unknown> {
  const commonName = claims.common_name;
  if (typeof commonName === 'string' && claims.email === undefined) {
    return {
      ...COMMON,
      common_name: commonName,
      service_token_id: stableUuid(`service:${commonName}`),
      service_token_status: true,
      iat: claims.iat,
      ip,
      auth_status: 'NONE',
    };
  }
  const email = String(claims.email);
  return {
    ...COMMON,
    id: claims.sub,
    user_uuid: claims.sub,
    name: typeof claims.name === 'string' ? claims.name : email.split('@')[0],
    email,
    groups: Array.isArray(claims.groups) ? claims.groups : [],
    amr: ['pwd'],
    idp: { id: stableUuid('emulator-idp'), type: 'onetimepin' },
    geo: { country: claims.country },
    iat: claims.iat,
    ip,
    auth_status: 'NONE',
    common_name: '',
    service_token_id: '',
    service_token_status: false,
    device_sessions: {},
    devicePosture: {},
  };
}
