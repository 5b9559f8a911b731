import 'reflect-metadata';
import { Controller, Get } from '@nestjs/common';
import { CACHE_MANAGER, CacheModule } from '@nestjs/cache-manager';
import { createKeyv } from '@keyv/redis';
import { type Cache } from 'cache-manager';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { type CfAccessFullIdentity, CfAccessModule, CfFullIdentity } from '../../src/index.js';
import { CfAccessEmulator } from '../../src/testing/index.js';
import { type RunningApp, startApp } from '../support/start-app.js';

const REDIS = '/usr/bin/redis-server';
const haveRedis = existsSync(REDIS);
if (!haveRedis && process.env.CI) {
  throw new Error(`${REDIS} is missing: .ci/run must install Debian's redis-server package`);
}
if (!haveRedis) {
  const why = `skipped: ${REDIS} not found (as root: apt-get update && apt-get install -y redis-server)`;
  console.warn(`The Redis test is ${why}`);
  // Jest's reporter prints nothing, not even this warning, for a file whose tests are all skipped:
  // this entry keeps the file, the warning and the reason in the output.
  it.todo(`Redis test ${why}`);
}

@Controller()
class ProfileController {
  @Get('full')
  full(@CfFullIdentity() identity: CfAccessFullIdentity) {
    return identity;
  }
}

/** A free TCP port on 127.0.0.1. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A real redis-server on loopback, without persistence; resolves once it accepts connections. */
async function startRedis(port: number): Promise<ChildProcess> {
  const redis = spawn(REDIS, ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no']);
  await new Promise<void>((resolve, reject) => {
    let output = '';
    redis.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        resolve();
      }
    });
    redis.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)));
  });
  return redis;
}

(haveRedis ? describe : describe.skip)('full identities shared through Redis (@nestjs/cache-manager)', () => {
  let redis: ChildProcess;
  let emulator: CfAccessEmulator;
  let replicas: RunningApp[];

  beforeAll(async () => {
    const port = await freePort();
    redis = await startRedis(port);
    emulator = await CfAccessEmulator.start();
    const replica = () =>
      startApp('express', {
        imports: [
          CacheModule.register({ isGlobal: true, stores: [createKeyv(`redis://127.0.0.1:${port}`)] }),
          CfAccessModule.forRootAsync({
            inject: [CACHE_MANAGER],
            useFactory: (cache: Cache) => ({ ...emulator.moduleOptions(), identity: { store: cache } }),
            globalGuard: true,
          }),
        ],
        controllers: [ProfileController],
      });
    replicas = [await replica(), await replica()];
  }, 30_000);

  afterAll(async () => {
    await Promise.all((replicas ?? []).map((app) => app.close()));
    await emulator?.close();
    redis?.kill();
  });

  it('two app instances share one get-identity fetch', async () => {
    const [first, second] = replicas as [RunningApp, RunningApp];
    const token = await emulator.signToken({ email: 'shared@example.com', name: 'Shared', groups: ['eng'] });
    const before = emulator.identityRequests;
    const fromFirst = await first.get('/full', { 'cf-access-jwt-assertion': token });
    const fromSecond = await second.get('/full', { 'cf-access-jwt-assertion': token });
    expect(fromFirst).toMatchObject({ status: 200, body: { email: 'shared@example.com', groups: ['eng'] } });
    expect(fromSecond.body).toEqual(fromFirst.body);
    expect(emulator.identityRequests - before).toBe(1);
  });

  it('keeps identities of different sessions apart in Redis', async () => {
    const [first, second] = replicas as [RunningApp, RunningApp];
    const before = emulator.identityRequests;
    const a = await first.get('/full', { 'cf-access-jwt-assertion': await emulator.signToken({ email: 'a@example.com' }) });
    const b = await second.get('/full', { 'cf-access-jwt-assertion': await emulator.signToken({ email: 'b@example.com' }) });
    expect(a.body).toMatchObject({ email: 'a@example.com' });
    expect(b.body).toMatchObject({ email: 'b@example.com' });
    expect(emulator.identityRequests - before).toBe(2);
  });
});
