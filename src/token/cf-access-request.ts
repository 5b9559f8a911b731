import { type CF_ACCESS_IDENTITY_KEY } from '../cf-access.constants.js';
import { type CfAccessIdentity } from '../identity/cf-access-identity.js';

/** The part of an HTTP request (Express, Fastify or Node's own) that this library reads and writes. */
export interface CfAccessRequest {
  headers: Record<string, string | string[] | undefined>;
  /** Set by `CfAccessGuard`: the verified identity, or `undefined` when anonymous. */
  [CF_ACCESS_IDENTITY_KEY]?: CfAccessIdentity;
}
