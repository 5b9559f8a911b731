/** A group as some identity providers report it. */
export interface CfAccessGroup {
  id?: string;
  name?: string;
  email?: string;
}

/**
 * What Cloudflare's `/cdn-cgi/access/get-identity` returns: everything Access knows about the
 * user (or service token). Every field is optional; IdP-specific fields pass through.
 */
export interface CfAccessFullIdentity {
  email?: string;
  name?: string;
  id?: string;
  user_uuid?: string;
  /** Group names, or group objects, depending on the IdP. */
  groups?: (string | CfAccessGroup)[];
  idp?: { id?: string; type?: string };
  geo?: { country?: string };
  amr?: string[];
  account_id?: string;
  iat?: number;
  ip?: string;
  auth_status?: string;
  is_warp?: boolean;
  is_gateway?: boolean;
  version?: number;
  devicePosture?: Record<string, unknown>;
  device_sessions?: Record<string, unknown>;
  /** Service tokens only. */
  common_name?: string;
  service_token_id?: string;
  service_token_status?: boolean;
  /** Custom SAML/OIDC attributes, on some IdPs. */
  custom?: Record<string, unknown>;
  [field: string]: unknown;
}

/** Whether `identity` belongs to `group`, matched exactly against a group name, id or email. */
export function hasGroup(identity: CfAccessFullIdentity, group: string): boolean {
  return (identity.groups ?? []).some((entry) =>
    typeof entry === 'string' ? entry === group : entry.name === group || entry.id === group || entry.email === group,
  );
}
