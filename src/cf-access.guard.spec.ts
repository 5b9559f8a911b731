import 'reflect-metadata';
import { Controller, type ExecutionContext, Get } from '@nestjs/common';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { Test, type TestingModule } from '@nestjs/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { TestKeyServer } from '../test/support/key-server.js';
import { CfAccessGuard } from './cf-access.guard.js';
import { CfAccessModule } from './cf-access.module.js';
import { type CfAccessModuleOptions } from './cf-access.options.js';
import { CfAccessService } from './cf-access.service.js';
import { RequireIdentity } from './decorators/require-identity.decorator.js';

@Controller()
class RoutesController {
  @Get('plain')
  plain(): string {
    return 'ok';
  }

  @Get('checked')
  @RequireIdentity(() => true)
  checked(): string {
    return 'ok';
  }
}

/** An HTTP execution context for `handler` of `RoutesController`, carrying `token` the way Cloudflare forwards it. */
function httpContext(handler: 'plain' | 'checked', token: string): { context: ExecutionContext; request: Record<string, unknown> } {
  const request: Record<string, unknown> = { headers: { 'cf-access-jwt-assertion': token } };
  const method = Object.getOwnPropertyDescriptor(RoutesController.prototype, handler)?.value as () => string;
  const context = new ExecutionContextHost([request, {}], RoutesController, method);
  context.setType('http');
  return { context, request };
}

describe('CfAccessGuard: the synchronous cache-hit path', () => {
  let keys: TestKeyServer;
  const modules: TestingModule[] = [];

  beforeAll(async () => {
    keys = await TestKeyServer.start();
  });
  afterEach(async () => {
    await Promise.all(modules.splice(0).map((moduleRef) => moduleRef.close()));
  });
  afterAll(() => keys.close());

  async function guardAndService(options: Partial<CfAccessModuleOptions> = {}) {
    const moduleRef = await Test.createTestingModule({
      imports: [CfAccessModule.forRoot({ teamDomain: keys.teamDomain, audience: keys.audience, ...options })],
    }).compile();
    modules.push(moduleRef);
    return { guard: moduleRef.get(CfAccessGuard), cfAccess: moduleRef.get(CfAccessService) };
  }

  it('admits a cached token with a plain `true` (no promise) and stores the identity', async () => {
    const { guard, cfAccess } = await guardAndService();
    const token = await keys.sign({ email: 'fast@example.com' });
    const { context, request } = httpContext('plain', token);
    await expect(guard.canActivate(context)).resolves.toBe(true); // first sighting: verified
    await expect(guard.canActivate(context)).resolves.toBe(true); // second: verified and cached
    expect(guard.canActivate(context)).toBe(true);
    expect(request.cfAccessIdentity).toBe(cfAccess.cachedIdentity(token));
    expect(request.cfAccessIdentity).toMatchObject({ email: 'fast@example.com' });
  });

  it('takes the full path (a promise) where a predicate must run, or where allowServiceTokens refuses', async () => {
    const { guard } = await guardAndService({ allowServiceTokens: false });
    const user = await keys.sign();
    const service = await keys.sign({ email: undefined, sub: '', common_name: 'svc.access' });
    for (let i = 0; i < 2; i += 1) {
      await guard.canActivate(httpContext('checked', user).context);
      await expect(guard.canActivate(httpContext('plain', service).context)).rejects.toMatchObject({ reason: 'service_token_not_allowed' });
    }
    const checked = guard.canActivate(httpContext('checked', user).context);
    expect(checked).toBeInstanceOf(Promise);
    await expect(checked).resolves.toBe(true);
    const refused = guard.canActivate(httpContext('plain', service).context);
    expect(refused).toBeInstanceOf(Promise);
    await expect(refused).rejects.toMatchObject({ reason: 'service_token_not_allowed' });
  });
});
