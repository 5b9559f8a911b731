import { Module } from '@nestjs/common';
import { CF_ACCESS_OPTIONS } from './cf-access.constants.js';
import { CfAccessGuard } from './cf-access.guard.js';
import { CfAccessConfigurableModule, CF_ACCESS_MODULE_OPTIONS } from './cf-access.module-definition.js';
import { resolveCfAccessOptions } from './cf-access.options.js';
import { CfAccessService } from './cf-access.service.js';
import { CfAccessIdentityProvider } from './identity/cf-access-identity-provider.js';
import { CfAccessKeyStore } from './keys/cf-access-key-store.js';
import { CfAccessMetrics } from './metrics/cf-access-metrics.js';
import { CF_ACCESS_USERS_PROVIDER, CfAccessUsers } from './users/cf-access-users.js';

/**
 * Cloudflare Access for a Nest app: `CfAccessModule.forRoot({ teamDomain, audience })` or
 * `forRootAsync({ imports, inject, useFactory })`; add `globalGuard: true` to protect every route
 * (or `globalGuard: MyGuard`, a `CfAccessGuard` subclass, to protect it with that guard instead).
 * Options are validated once, at start-up; a `userResolver` class is instantiated here, by DI.
 */
@Module({
  providers: [
    { provide: CF_ACCESS_OPTIONS, inject: [CF_ACCESS_MODULE_OPTIONS], useFactory: resolveCfAccessOptions },
    CfAccessKeyStore,
    CfAccessIdentityProvider,
    CfAccessService,
    CfAccessMetrics,
    CfAccessGuard,
    CF_ACCESS_USERS_PROVIDER,
  ],
  exports: [CF_ACCESS_OPTIONS, CfAccessKeyStore, CfAccessService, CfAccessMetrics, CfAccessGuard, CfAccessUsers],
})
export class CfAccessModule extends CfAccessConfigurableModule {}
