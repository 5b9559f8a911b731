import { type FactoryProvider, type Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { CF_ACCESS_OPTIONS } from '../cf-access.constants.js';
import { type ResolvedCfAccessOptions } from '../cf-access.options.js';
import { type CfAccessUserResolver } from './cf-access-user-resolver.js';

/** The app's `userResolver`, instantiated by DI inside `CfAccessModule`; `resolver` is `undefined` without the option. */
export class CfAccessUsers {
  constructor(readonly resolver: CfAccessUserResolver | undefined) {}
}

/**
 * Instantiates `resolver` with `CfAccessModule`'s injector, so its dependencies come from the
 * module's imports (`forRootAsync({ imports })`) and global modules, at start-up.
 */
async function createUsers(options: ResolvedCfAccessOptions, moduleRef: ModuleRef): Promise<CfAccessUsers> {
  const type: Type<CfAccessUserResolver> | undefined = options.userResolver;
  return new CfAccessUsers(type === undefined ? undefined : await moduleRef.create(type));
}

/** The `CfAccessUsers` provider of `CfAccessModule`. */
export const CF_ACCESS_USERS_PROVIDER: FactoryProvider<CfAccessUsers> = {
  provide: CfAccessUsers,
  inject: [CF_ACCESS_OPTIONS, ModuleRef],
  useFactory: createUsers,
};
