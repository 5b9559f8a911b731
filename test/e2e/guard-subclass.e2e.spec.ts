import 'reflect-metadata';
import { Controller, Get } from '@nestjs/common';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { CfAccessGuard, CfAccessModule, CfIdentity } from '../../src/index.js';
import { TestKeyServer } from '../support/key-server.js';
import { ADAPTERS, jwt, startApp } from '../support/start-app.js';
import { BearerCfAccessGuard } from '../support/bearer-guard.js';

let keys: TestKeyServer;
beforeAll(async () => {
  keys = await TestKeyServer.start();
});
afterAll(() => keys.close());

/** No `@UseGuards`: only a global guard protects it. */
@Controller('reports')
class ReportsController {
  @Get()
  list(@CfIdentity('email') email: string) {
    return { viewer: email };
  }
}

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
const options = () => ({ teamDomain: keys.teamDomain, audience: keys.audience });

describe.each(ADAPTERS)('globalGuard: a CfAccessGuard subclass (%s)', (adapter) => {
  let canActivate: jest.Spied<CfAccessGuard['canActivate']>;
  beforeEach(() => {
    canActivate = jest.spyOn(CfAccessGuard.prototype, 'canActivate');
  });
  afterEach(() => canActivate.mockRestore());

  /** The guard instances that ran, one entry per canActivate call. */
  const guardsThatRan = () => canActivate.mock.contexts.map((guard) => (guard as object).constructor);

  it.each([
    ['forRoot', () => CfAccessModule.forRoot({ ...options(), globalGuard: BearerCfAccessGuard })],
    ['forRootAsync', () => CfAccessModule.forRootAsync({ useFactory: options, globalGuard: BearerCfAccessGuard })],
  ])('%s registers the subclass, not CfAccessGuard, as the APP_GUARD', async (_name, cfAccessModule) => {
    const app = await startApp(adapter, { imports: [cfAccessModule()], controllers: [ReportsController] });
    try {
      expect(await app.get('/reports', bearer(await keys.sign({ email: 'api@example.com' })))).toMatchObject({
        status: 200,
        body: { viewer: 'api@example.com' },
      });
      expect(guardsThatRan()).toEqual([BearerCfAccessGuard]);

      canActivate.mockClear();
      expect(await app.get('/reports')).toMatchObject({ status: 401, body: { reason: 'missing_token' } });
      expect(guardsThatRan()).toEqual([BearerCfAccessGuard]);

      expect(await app.get('/reports', bearer(await keys.sign({ aud: ['another-app'] })))).toMatchObject({
        status: 401,
        body: { reason: 'wrong_audience' },
      });
      expect((await app.get('/reports', jwt(await keys.sign()))).status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('globalGuard: true still registers CfAccessGuard itself, which ignores Bearer tokens', async () => {
    const app = await startApp(adapter, {
      imports: [CfAccessModule.forRoot({ ...options(), globalGuard: true })],
      controllers: [ReportsController],
    });
    try {
      expect(await app.get('/reports', bearer(await keys.sign()))).toMatchObject({
        status: 401,
        body: { reason: 'missing_token' },
      });
      expect(guardsThatRan()).toEqual([CfAccessGuard]);
    } finally {
      await app.close();
    }
  });
});

describe('globalGuard validation', () => {
  /** Has a canActivate, but is no CfAccessGuard. */
  class LookAlikeGuard {
    canActivate(): boolean {
      return true;
    }
  }

  it('refuses a class that does not extend CfAccessGuard, naming globalGuard', () => {
    expect(() =>
      // @ts-expect-error only CfAccessGuard and its subclasses are accepted
      CfAccessModule.forRoot({ ...options(), globalGuard: LookAlikeGuard }),
    ).toThrow('CfAccessModule: "globalGuard" must be true, false or a class that extends CfAccessGuard (got class LookAlikeGuard)');
  });

  it('refuses a value that is neither a boolean nor a class, in forRootAsync too', () => {
    expect(() =>
      // @ts-expect-error a string is not a switch
      CfAccessModule.forRootAsync({ useFactory: options, globalGuard: 'yes' }),
    ).toThrow('CfAccessModule: "globalGuard" must be true, false or a class that extends CfAccessGuard (got string)');
  });
});
