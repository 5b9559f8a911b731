// The README's "Testing your app" example, verbatim: if this file changes, update the README.
import 'reflect-metadata';
import { Controller, Get, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CfAccessModule, CfIdentity } from 'nestjs-cf-access';
import { CfAccessEmulator } from 'nestjs-cf-access/testing';

@Controller('me')
class MeController {
  @Get()
  me(@CfIdentity('email') email: string) {
    return { email };
  }
}

describe('GET /me', () => {
  let emulator: CfAccessEmulator;
  let app: INestApplication;

  beforeAll(async () => {
    emulator = await CfAccessEmulator.start();
    const moduleRef = await Test.createTestingModule({
      imports: [CfAccessModule.forRoot({ ...emulator.moduleOptions(), globalGuard: true })],
      controllers: [MeController],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
  });

  afterAll(async () => {
    await app.close();
    await emulator.close();
  });

  it('answers with the verified email', async () => {
    const token = await emulator.signToken({ email: 'ada@example.com', groups: ['admins'] });
    const res = await fetch(`${await app.getUrl()}/me`, { headers: { 'Cf-Access-Jwt-Assertion': token } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ email: 'ada@example.com' });
  });

  it('refuses an expired token with 401', async () => {
    const token = await emulator.signToken({ expiresIn: -60 });
    const res = await fetch(`${await app.getUrl()}/me`, { headers: { 'Cf-Access-Jwt-Assertion': token } });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ reason: 'expired' });
  });
});
