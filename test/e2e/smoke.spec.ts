import 'reflect-metadata';
import { Controller, Get } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CfAccessModule, CfIdentity } from '../../src/index.js';
import { TestKeyServer } from '../support/key-server.js';
import { ADAPTERS, startApp, type RunningApp } from '../support/start-app.js';

@Controller()
class C {
  @Get('me') me(@CfIdentity('email') email: string) { return { email }; }
}

describe.each(ADAPTERS)('smoke (%s)', (adapter) => {
  let keys: TestKeyServer; let app: RunningApp;
  beforeAll(async () => {
    keys = await TestKeyServer.start();
    app = await startApp(adapter, { imports: [CfAccessModule.forRoot({ teamDomain: keys.teamDomain, audience: keys.audience, globalGuard: true })], controllers: [C] });
  });
  afterAll(async () => { await app.close(); await keys.close(); });
  it('works', async () => {
    const res = await app.get('/me', { 'cf-access-jwt-assertion': await keys.sign() });
    expect(res).toMatchObject({ status: 200, body: { email: 'user@example.com' } });
    const res2 = await app.get('/me');
    expect(res2.body).toEqual({ statusCode: 401, error: 'Unauthorized', message: expect.any(String), reason: 'missing_token' });
  });
});
