import 'reflect-metadata';
import { Controller, Get, Injectable, Module, UseGuards } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  CfAccessGuard,
  CfAccessModule,
  type CfAccessModuleOptions,
  type CfAccessOptionsFactory,
  CfAccessService,
  CfIdentity,
} from '../../src/index.js';
import { TestKeyServer } from '../support/key-server.js';
import { type AdapterName, ADAPTERS, jwt, startApp } from '../support/start-app.js';
import { BearerCfAccessGuard } from '../support/bearer-guard.js';

let keys: TestKeyServer;
beforeAll(async () => {
  keys = await TestKeyServer.start();
});
afterAll(() => keys.close());


@Controller('guarded')
@UseGuards(CfAccessGuard)
class GuardedController {
  @Get()
  email(@CfIdentity('email') email: string) {
    return { email };
  }
}

@Controller('unguarded')
class UnguardedController {
  @Get()
  open() {
    return { open: true };
  }
}

@Controller('bearer')
@UseGuards(BearerCfAccessGuard)
class BearerController {
  @Get()
  email(@CfIdentity('email') email: string) {
    return { email };
  }
}

/** A feature module that uses the guard without importing CfAccessModule itself. */
@Module({ controllers: [GuardedController, UnguardedController] })
class ReportsModule {}

@Injectable()
class TeamConfig implements CfAccessOptionsFactory {
  createCfAccessOptions(): CfAccessModuleOptions {
    return { teamDomain: keys.teamDomain, audience: keys.audience };
  }
}

@Module({ providers: [TeamConfig], exports: [TeamConfig] })
class TeamConfigModule {}

/** Asserts the app protects /guarded with the team's keys and leaves /unguarded open. */
async function expectProtects(adapter: AdapterName, imports: unknown[]) {
  const app = await startApp(adapter, { imports: [...(imports as []), ReportsModule] });
  try {
    expect(await app.get('/guarded', jwt(await keys.sign({ email: 'mod@example.com' })))).toMatchObject({
      status: 200,
      body: { email: 'mod@example.com' },
    });
    expect(await app.get('/guarded')).toMatchObject({ status: 401, body: { reason: 'missing_token' } });
    expect(await app.get('/unguarded')).toMatchObject({ status: 200, body: { open: true } });
  } finally {
    await app.close();
  }
}

describe.each(ADAPTERS)('CfAccessModule (%s)', (adapter) => {
  it('forRoot with @UseGuards(CfAccessGuard) in a feature module (global by default)', async () => {
    await expectProtects(adapter, [CfAccessModule.forRoot({ teamDomain: keys.teamDomain, audience: keys.audience })]);
  });

  it('forRootAsync with ConfigService (useFactory + inject)', async () => {
    await expectProtects(adapter, [
      ConfigModule.forRoot({
        ignoreEnvFile: true,
        load: [() => ({ CF_ACCESS_TEAM_DOMAIN: keys.teamDomain, CF_ACCESS_AUD: keys.audience })],
      }),
      CfAccessModule.forRootAsync({
        imports: [ConfigModule],
        inject: [ConfigService],
        useFactory: (config: ConfigService) => ({
          teamDomain: config.getOrThrow<string>('CF_ACCESS_TEAM_DOMAIN'),
          audience: config.getOrThrow<string>('CF_ACCESS_AUD'),
        }),
      }),
    ]);
  });

  it('forRootAsync with useClass', async () => {
    await expectProtects(adapter, [CfAccessModule.forRootAsync({ useClass: TeamConfig })]);
  });

  it('forRootAsync with useExisting', async () => {
    await expectProtects(adapter, [CfAccessModule.forRootAsync({ imports: [TeamConfigModule], useExisting: TeamConfig })]);
  });

  it('globalGuard: true protects routes that have no @UseGuards', async () => {
    const app = await startApp(adapter, {
      imports: [CfAccessModule.forRoot({ teamDomain: keys.teamDomain, audience: keys.audience, globalGuard: true }), ReportsModule],
    });
    try {
      expect(await app.get('/unguarded')).toMatchObject({ status: 401, body: { reason: 'missing_token' } });
      expect((await app.get('/unguarded', jwt(await keys.sign()))).status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('forRootAsync honours globalGuard', async () => {
    const app = await startApp(adapter, {
      imports: [CfAccessModule.forRootAsync({ useClass: TeamConfig, globalGuard: true }), ReportsModule],
    });
    try {
      expect((await app.get('/unguarded')).status).toBe(401);
    } finally {
      await app.close();
    }
  });
});

describe.each(ADAPTERS)('CfAccessGuard subclass (%s)', (adapter) => {
  it('uses an overridden extractToken and keeps every check', async () => {
    const app = await startApp(adapter, {
      imports: [CfAccessModule.forRoot({ teamDomain: keys.teamDomain, audience: keys.audience })],
      controllers: [BearerController],
    });
    try {
      const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
      expect(await app.get('/bearer', bearer(await keys.sign({ email: 'api@example.com' })))).toMatchObject({
        status: 200,
        body: { email: 'api@example.com' },
      });
      expect(await app.get('/bearer', bearer(await keys.sign({ aud: ['other'] })))).toMatchObject({
        status: 401,
        body: { reason: 'wrong_audience' },
      });
      expect((await app.get('/bearer', jwt(await keys.sign()))).status).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe('CfAccessModule start-up', () => {
  async function compile(imports: unknown[]) {
    return Test.createTestingModule({ imports: imports as [] }).compile();
  }
  const base = () => ({ teamDomain: keys.teamDomain, audience: keys.audience });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['an empty audience', { audience: '' }, /CfAccessModule: "audience" must be a non-empty string or array of non-empty strings/],
    ['an empty audience list', { audience: [] }, /"audience" must be a non-empty/],
    ['an http:// team domain that is not loopback', { teamDomain: 'http://acme.cloudflareaccess.com' }, /"teamDomain" must be an origin/],
    ['a team domain with a path', { teamDomain: 'https://acme.cloudflareaccess.com/cdn-cgi' }, /"teamDomain".*without credentials, path/],
    ['a team with a dot', { teamDomain: undefined, team: 'acme.com' }, /"team" must be a team name/],
    ['a team with a slash', { teamDomain: undefined, team: 'acme/x' }, /"team" must be a team name/],
    ['both team and teamDomain', { team: 'acme' }, /"team" cannot be given together with "teamDomain"/],
    ['an unknown option', { audeince: 'x' }, /"audeince" is not an option/],
    ['an unknown jwks option', { jwks: { cooldwn: 5 } }, /"jwks\.cooldwn" is not an option/],
    ['a negative clockTolerance', { clockTolerance: -1 }, /"clockTolerance" must be a finite number >= 0/],
  ])('fails with a clear error for %s', async (_name, override, message) => {
    await expect(compile([CfAccessModule.forRoot({ ...base(), ...override })])).rejects.toThrow(
      message,
    );
  });

  it('fails with a clear error when an async factory returns bad options', async () => {
    const module = CfAccessModule.forRootAsync({ useFactory: () => ({ ...base(), teamDomain: 'ftp://acme.example' }) });
    await expect(compile([module])).rejects.toThrow(/"teamDomain" must be an origin/);
  });

  it('says where globalGuard belongs when a factory returns it', async () => {
    const module = CfAccessModule.forRootAsync({ useFactory: () => ({ ...base(), globalGuard: true }) });
    await expect(compile([module])).rejects.toThrow(
      /"globalGuard" is a module switch: give it to forRoot\(\) \/ forRootAsync\(\) itself/,
    );
  });

  it('normalizes the team shorthand to the cloudflareaccess.com origin', async () => {
    const moduleRef = await compile([CfAccessModule.forRoot({ team: 'Acme', audience: 'aud' })]);
    const service = moduleRef.get(CfAccessService);
    const token = await keys.sign({ iss: keys.teamDomain });
    await expect(service.verify(token)).rejects.toMatchObject({ reason: 'wrong_issuer' });
    await moduleRef.close();
  });
});

describe('CfAccessService', () => {
  it('verify() resolves the claims of a valid token and authenticate() reads requests', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [CfAccessModule.forRoot({ teamDomain: keys.teamDomain, audience: keys.audience })],
    }).compile();
    const service = moduleRef.get(CfAccessService);
    const token = await keys.sign({ email: 'svc@example.com' });
    await expect(service.verify(token)).resolves.toMatchObject({ email: 'svc@example.com' });
    await expect(service.verify('nope')).rejects.toMatchObject({ reason: 'malformed' });
    await expect(service.authenticate({ headers: { cookie: `CF_Authorization=${token}` } })).resolves.toMatchObject({
      email: 'svc@example.com',
    });
    await expect(service.authenticate({ headers: {} })).resolves.toBeNull();
    await expect(service.authenticate({ headers: { 'cf-access-jwt-assertion': 'bad' } })).resolves.toBeNull();
    await moduleRef.close();
  });
});
