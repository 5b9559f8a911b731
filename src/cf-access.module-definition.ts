import { ConfigurableModuleBuilder, type Provider } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { CfAccessGuard } from './cf-access.guard.js';
import { type CfAccessModuleOptions } from './cf-access.options.js';

/** Module-level switches of `forRoot` / `forRootAsync`, beside the options. */
export interface CfAccessModuleExtras {
  /** Register `CfAccessGuard` as an `APP_GUARD`, so every route is protected. Default false. */
  globalGuard?: boolean;
  /** Make the module's providers visible to every module. Default true. */
  isGlobal?: boolean;
}

const APP_GUARD_PROVIDER: Provider = { provide: APP_GUARD, useExisting: CfAccessGuard };

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
    providers: extras.globalGuard ? [...(definition.providers ?? []), APP_GUARD_PROVIDER] : definition.providers,
  }))
  .build();
