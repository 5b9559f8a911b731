import 'reflect-metadata';
import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { describe, expect, it } from '@jest/globals';
import {
  CfAccessMetrics,
  type CfAccessModuleOptions,
  type CfAccessRejection,
  CfIdentity,
  emailIn,
  Public,
  RequireIdentity,
} from '../../src/index.js';
import { CfAccessHealthIndicator } from '../../src/health/index.js';
import { unreachableTeamDomain } from '../support/key-server.js';
import { useKeyServerApps } from '../support/key-server-apps.js';
import { capturedLogs, jwt, sleep } from '../support/start-app.js';

@Controller()
class AppController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly cfAccess: CfAccessHealthIndicator,
  ) {}

  @Public()
  @Get('health')
  @HealthCheck()
  check() {
    return this.health.check([() => this.cfAccess.isHealthy()]);
  }

  @Get('me')
  me(@CfIdentity('email') email: string) {
    return { email };
  }

  @Get('admin')
  @RequireIdentity(emailIn('admin@example.com'))
  admin() {
    return { ok: true };
  }
}


describe('operability', () => {
  const team = useKeyServerApps('express', {
    imports: [TerminusModule],
    controllers: [AppController],
    providers: [CfAccessHealthIndicator],
  });
  const start = (options?: Partial<CfAccessModuleOptions>) => team.start(options);

  describe('CfAccessHealthIndicator', () => {
    it('is up once the keys are loaded (a cold check fetches them)', async () => {
      const app = await start();
      const res = await app.get('/health');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        status: 'ok',
        details: { cfAccess: { status: 'up', keys: 1, fresh: true, fetchedAt: expect.any(String) } },
      });
    });

    it('is degraded (HTTP 200) while cached keys serve and the endpoint fails', async () => {
      const app = await start({ jwks: { cacheMaxAge: 1, cooldown: 0 } });
      expect((await app.get('/me', jwt(await team.keys.sign()))).status).toBe(200);
      team.keys.mode = 'http-500';
      await sleep(5);
      const res = await app.get('/health');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        details: { cfAccess: { status: 'degraded', keys: 1, fresh: false, lastError: 'Error: HTTP 500' } },
      });
    });

    it('is down (HTTP 503) when no key can be had', async () => {
      const app = await start({ teamDomain: await unreachableTeamDomain() });
      const res = await app.get('/health');
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ status: 'error', error: { cfAccess: { status: 'down', keys: 0 } } });
    });
  });

  describe('prefetchKeys', () => {
    it('fetches the keys at start-up and says so in the log', async () => {
      const before = team.keys.certsRequests;
      capturedLogs.lines.length = 0;
      await start({ prefetchKeys: true });
      expect(team.keys.certsRequests - before).toBe(1);
      expect(capturedLogs.text()).toContain(`log Prefetched 1 signing keys from ${team.keys.teamDomain}/cdn-cgi/access/certs`);
    });

    it('does not fetch before the first request without it', async () => {
      const before = team.keys.certsRequests;
      await start();
      expect(team.keys.certsRequests).toBe(before);
    });

    it('starts anyway when the prefetch fails, with a warning', async () => {
      team.keys.mode = 'http-500';
      capturedLogs.lines.length = 0;
      const app = await start({ prefetchKeys: true });
      expect(capturedLogs.text()).toMatch(/warn Key prefetch from .* failed \(Error: HTTP 500\); requests will retry/);
      team.keys.mode = 'ok';
      await sleep(1_050);
      expect((await app.get('/me', jwt(await team.keys.sign()))).status).toBe(200);
    });
  });

  describe('CfAccessMetrics', () => {
    it('counts refusals by reason and tells subscribers, without the token', async () => {
      const app = await start();
      const metrics = app.app.get(CfAccessMetrics);
      const seen: CfAccessRejection[] = [];
      const unsubscribe = metrics.onRejection((rejection) => seen.push(rejection));
      const expired = await team.keys.sign({ exp: Math.floor(Date.now() / 1000) - 3600 });
      await app.get('/me');
      await app.get('/me', jwt(expired));
      await app.get('/me', jwt(expired));
      await app.get('/admin', jwt(await team.keys.sign()));
      await app.get('/me', jwt(await team.keys.sign()));
      expect(metrics.rejections()).toEqual({ missing_token: 1, expired: 2, identity_rejected: 1 });
      expect(seen[3]).toEqual({ reason: 'identity_rejected', status: 403, route: 'AppController.admin', contextType: 'http' });
      expect(JSON.stringify(seen)).not.toContain(expired);
      unsubscribe();
      await app.get('/me');
      expect(seen).toHaveLength(4);
      expect(metrics.rejections().missing_token).toBe(2);
    });

    it('logs a listener that throws and still refuses the request normally', async () => {
      const app = await start();
      app.app.get(CfAccessMetrics).onRejection(() => {
        throw new Error('statsd is down');
      });
      capturedLogs.lines.length = 0;
      expect((await app.get('/me')).status).toBe(401);
      expect(capturedLogs.text()).toMatch(/warn A rejection listener threw: Error: statsd is down/);
    });
  });
});
