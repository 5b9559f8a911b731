import { type CfAccessIdentity } from 'nestjs-cf-access';

/**
 * The sample's admin policy: members of the "admins" group. `groups` is a custom claim: the local
 * emulator's login form sets it; with real Cloudflare, add your IdP's groups as an OIDC claim.
 */
export function isAdmin(identity: CfAccessIdentity): boolean {
  return Array.isArray(identity.groups) && identity.groups.includes('admins');
}
