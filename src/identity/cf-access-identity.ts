/**
 * The verified claims of a Cloudflare Access application token.
 * Only what the guard or `CfAccessService.verify` checked is guaranteed; every other field is
 * as Cloudflare sent it (custom IdP claims included).
 */
export interface CfAccessIdentity {
  /** The user's email; absent on service tokens. */
  email?: string;
  /** Unique per email per account; `""` on service tokens. */
  sub?: string;
  /** The team domain, e.g. `https://acme.cloudflareaccess.com`. */
  iss: string;
  /** The AUD tags the token is valid for. */
  aud: string | string[];
  /** Expiry, seconds since the epoch. */
  exp: number;
  iat?: number;
  nbf?: number;
  /** `app` for application tokens. */
  type?: string;
  identity_nonce?: string;
  /** Two-letter country code of the login. */
  country?: string;
  /** The service token's client id (`<hex>.access`); present only on service tokens. */
  common_name?: string;
  /** Custom OIDC/SAML claims and anything else Cloudflare adds. */
  [claim: string]: unknown;
}

/** The identity of a machine client: a service token's `common_name`, no `email`. */
export type CfAccessServiceIdentity = CfAccessIdentity & { common_name: string; email?: undefined };

/** The identity of a person: a token with an `email`. */
export type CfAccessUserIdentity = CfAccessIdentity & { email: string };

/** Whether the identity comes from a service token (`common_name` and no `email`). */
export function isServiceTokenIdentity(identity: CfAccessIdentity): identity is CfAccessServiceIdentity {
  return typeof identity.common_name === 'string' && identity.email === undefined;
}

/** Whether the identity is a person's (it has an `email`). */
export function isUserIdentity(identity: CfAccessIdentity): identity is CfAccessUserIdentity {
  return typeof identity.email === 'string';
}
