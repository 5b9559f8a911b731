import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { CfAccessModule } from 'nestjs-cf-access';
import { ApiController } from './api.controller.js';
import { HtmlErrorFilter } from './html-error.filter.js';
import { PagesController } from './pages.controller.js';

/** The sample app: configuration from the environment, every route behind `CfAccessGuard`. */
@Module({})
export class AppModule {
  /** `fallback` holds configuration used where the environment sets none (the local emulator's). */
  static register(fallback: Record<string, string> = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot({ isGlobal: true, load: [() => fallback] }),
        CfAccessModule.forRootAsync({
          inject: [ConfigService],
          useFactory: (config: ConfigService) => ({
            teamDomain: config.getOrThrow<string>('CF_ACCESS_TEAM_DOMAIN'),
            audience: config.getOrThrow<string>('CF_ACCESS_AUD').split(','),
          }),
          globalGuard: true,
        }),
      ],
      controllers: [PagesController, ApiController],
      providers: [{ provide: APP_FILTER, useClass: HtmlErrorFilter }],
    };
  }
}
