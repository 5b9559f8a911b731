export {
  CF_ACCESS_IDENTITY_KEY,
  CF_ACCESS_OPTIONS,
  MAX_CERTS_BODY_BYTES,
  MAX_IDENTITY_BODY_BYTES,
  MAX_KEYS_PER_RESPONSE,
} from './cf-access.constants.js';
export {
  CfAccessForbiddenException,
  CfAccessUnauthorizedException,
  CfAccessUnavailableException,
  type CfAccessForbiddenReason,
  type CfAccessReason,
  type CfAccessUnauthorizedReason,
  type CfAccessUnavailableReason,
} from './cf-access.errors.js';
export { CfAccessGuard } from './cf-access.guard.js';
export { type CfAccessModuleExtras } from './cf-access.module-definition.js';
export { CfAccessModule } from './cf-access.module.js';
export {
  type CfAccessIdentityOptions,
  type CfAccessJwksOptions,
  type CfAccessModuleOptions,
  type CfAccessOptionsFactory,
  type CfAccessTokenSource,
  type ResolvedCfAccessOptions,
} from './cf-access.options.js';
export { CfAccessService } from './cf-access.service.js';
export { CfAccessToken } from './decorators/cf-access-token.decorator.js';
export { CfFullIdentity, CfFullIdentityPipe } from './decorators/cf-full-identity.decorator.js';
export { CfIdentity } from './decorators/cf-identity.decorator.js';
export { CfUser } from './decorators/cf-user.decorator.js';
export { allOf, anyOf, emailDomain, emailIn, inGroup, isServiceToken, isUser } from './decorators/identity-predicates.js';
export { OptionalIdentity } from './decorators/optional-identity.decorator.js';
export { Public } from './decorators/public.decorator.js';
export {
  RequireIdentity,
  type CfAccessPredicate,
  type CfAccessPredicateTools,
} from './decorators/require-identity.decorator.js';
export { type CfAccessFullIdentity, type CfAccessGroup } from './identity/cf-access-full-identity.js';
export {
  type CfAccessIdentity,
  type CfAccessServiceIdentity,
  type CfAccessUserIdentity,
  isServiceTokenIdentity,
  isUserIdentity,
} from './identity/cf-access-identity.js';
export { type CfAccessIdentityStore, MemoryIdentityStore } from './identity/identity-store.js';
export { CfAccessKeyStore, type CfAccessKeyStatus } from './keys/cf-access-key-store.js';
export {
  CfAccessMetrics,
  type CfAccessRejection,
  type CfAccessRejectionListener,
} from './metrics/cf-access-metrics.js';
export { type CfAccessLoginUrlOptions } from './session/access-urls.js';
export { type CfAccessRequest } from './token/cf-access-request.js';
export { type CfAccessUserResolver } from './users/cf-access-user-resolver.js';
