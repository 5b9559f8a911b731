import { ConfigurableModuleBuilder, type Provider, type Type } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { CfAccessGuard } from './cf-access.guard.js';
import { type CfAccessModuleOptions } from './cf-access.options.js';

/** Module-level switches of `forRoot` / `forRootAsync`, beside the options. */
export interface CfAccessModuleExtras {
  /**
   * Protect every route with an `APP_GUARD`: `true` registers `CfAccessGuard`, a subclass of it
   * (e.g. `globalGuard: BearerCfAccessGuard`) is registered instead of it, instantiated by DI in
   * `CfAccessModule`. Default false.
   */
  globalGuard?: boolean | Type<CfAccessGuard>;
  /** Make the module's providers visible to every module. Default true. */
  isGlobal?: boolean;
}

/**
 * The `APP_GUARD` provider for `globalGuard`, or none.
 * @throws Error naming `globalGuard` when it is neither a boolean nor `CfAccessGuard` or a subclass.
 */
function globalGuardProviders(globalGuard: unknown): Provider[] {
  if (globalGuard === undefined || globalGuard === false) {
    return [];
  }
  if (globalGuard === true) {
    return [{ provide: APP_GUARD, useExisting: CfAccessGuard }];
  }
  if (typeof globalGuard === 'function' && (globalGuard === CfAccessGuard || globalGuard.prototype instanceof CfAccessGuard)) {
    return [{ provide: APP_GUARD, useClass: globalGuard as Type<CfAccessGuard> }];
  }
  const got = typeof globalGuard === 'function' ? `class ${globalGuard.name || '(anonymous)'}` : typeof globalGuard;
  throw new Error(`CfAccessModule: "globalGuard" must be true, false or a class that extends CfAccessGuard (got ${got})`);
}

export const {
  ConfigurableModuleClass: CfAccessConfigurableModule,
  MODULE_OPTIONS_TOKEN: CF_ACCESS_MODULE_OPTIONS,
  OPTIONS_TYPE: CF_ACCESS_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: CF_ACCESS_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<CfAccessModuleOptions>({ moduleName: 'CfAccess' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createCfAccessOptions')
  .setExtras<CfAccessModuleExtras>({ globalGuard: false, isGlobal: true }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
    providers: [...(definition.providers ?? []), ...globalGuardProviders(extras.globalGuard)],
  }))
  .build();
