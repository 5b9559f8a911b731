// The README's feature examples, verbatim: each `<!-- example: name -->` block is written to
// test-artifacts/readme-examples/<name>.ts, type-checked with the project's tsconfig, imported and run.
import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Type } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CfAccessEmulator } from '../../src/testing/index.js';
import { ADAPTERS, jwt, type RunningApp, startApp } from '../support/start-app.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLES_DIR = join(ROOT, 'test-artifacts', 'readme-examples');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const EXAMPLE = /<!-- example: ([\w-]+) -->\n```ts\n([\s\S]*?)```/g;

/** Every marked example of the README, by name. */
function readmeExamples(): Map<string, string> {
  const examples = new Map<string, string>();
  for (const [, name, source] of README.matchAll(EXAMPLE)) {
    if (examples.has(name!)) {
      throw new Error(`README.md: two examples are named "${name}"`);
    }
    examples.set(name!, source!);
  }
  return examples;
}

/** Writes the README example `name` to its own file and imports it. */
async function importExample(name: string): Promise<Record<string, unknown>> {
  const source = readmeExamples().get(name);
  if (source === undefined) {
    throw new Error(`README.md has no <!-- example: ${name} --> block`);
  }
  mkdirSync(EXAMPLES_DIR, { recursive: true });
  const file = join(EXAMPLES_DIR, `${name}.ts`);
  writeFileSync(file, source);
  return (await import(file)) as Record<string, unknown>;
}

/** A throwaway API that reports the path and the Access header of every request it gets. */
async function startEchoServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ path: request.url, assertion: request.headers['cf-access-jwt-assertion'] ?? null }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

let emulator: CfAccessEmulator;
let echo: Awaited<ReturnType<typeof startEchoServer>>;
beforeAll(async () => {
  emulator = await CfAccessEmulator.start();
  echo = await startEchoServer();
  process.env.CF_ACCESS_TEAM_DOMAIN = emulator.teamDomain;
  process.env.CF_ACCESS_AUD = emulator.audience;
});
afterAll(async () => {
  await echo.close();
  await emulator.close();
});

describe('README examples', () => {
  it('are named uniquely and type-check with the project tsconfig', async () => {
    const examples = readmeExamples();
    expect([...examples.keys()]).toEqual(expect.arrayContaining(['user-resolver', 'forward-token', 'session-urls']));
    mkdirSync(EXAMPLES_DIR, { recursive: true });
    for (const [name, source] of examples) {
      writeFileSync(join(EXAMPLES_DIR, `${name}.ts`), source);
    }
    writeFileSync(join(EXAMPLES_DIR, 'tsconfig.json'), JSON.stringify({ extends: '../../tsconfig.json', include: ['./*.ts'] }));
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    await expect(promisify(execFile)(process.execPath, [tsc, '-p', join(EXAMPLES_DIR, 'tsconfig.json')])).resolves.toBeDefined();
  }, 60_000);
});

describe.each(ADAPTERS)('README "App users (userResolver)" (%s)', (adapter) => {
  let app: RunningApp;
  beforeAll(async () => {
    const { AppModule } = await importExample('user-resolver');
    app = await startApp(adapter, { imports: [AppModule as Type] });
  });
  afterAll(() => app.close());

  it("injects the app's user, found by the UsersService the resolver injects", async () => {
    const headers = jwt(await emulator.signToken({ email: 'ada@example.com' }));
    expect(await app.get('/me', headers)).toMatchObject({
      status: 200,
      body: { id: 1, email: 'ada@example.com', roles: ['admin'] },
    });
    expect(await app.get('/me/id', headers)).toMatchObject({ status: 200, body: { id: 1 } });
    expect(await app.get('/me/admin', headers)).toMatchObject({ status: 200, body: { welcome: true } });
  });

  it('refuses an identity without a user (403 user_not_found), service tokens included', async () => {
    expect(await app.get('/me', jwt(await emulator.signToken({ email: 'bob@example.com' })))).toMatchObject({
      status: 403,
      body: { reason: 'user_not_found' },
    });
    expect(await app.get('/me', jwt(await emulator.signServiceToken({ commonName: 'ci.access' })))).toMatchObject({
      status: 403,
      body: { reason: 'user_not_found' },
    });
  });
});

describe.each(ADAPTERS)('README "Forwarding the verified token" (%s)', (adapter) => {
  let app: RunningApp;
  beforeAll(async () => {
    process.env.ORDERS_API_URL = echo.url;
    process.env.BILLING_API_URL = echo.url;
    const { AppModule } = await importExample('forward-token');
    app = await startApp(adapter, { imports: [AppModule as Type] });
  });
  afterAll(() => app.close());

  it('forwards a cookie token to the orders API as the Cf-Access-Jwt-Assertion header', async () => {
    const token = await emulator.signToken({ email: 'ada@example.com' });
    expect(await app.get('/orders', { cookie: `CF_Authorization=${token}` })).toMatchObject({
      status: 200,
      body: { path: '/orders', assertion: token },
    });
  });

  it('hands the header token to the billing client through @CfAccessToken()', async () => {
    const token = await emulator.signToken({ email: 'ada@example.com' });
    expect(await app.get('/invoices', jwt(token))).toMatchObject({ status: 200, body: { path: '/invoices', assertion: token } });
  });

  it('refuses a request without a token before calling anything (401 missing_token)', async () => {
    expect(await app.get('/orders')).toMatchObject({ status: 401, body: { reason: 'missing_token' } });
  });
});

describe.each(ADAPTERS)('README "Login and logout URLs" (%s)', (adapter) => {
  let app: RunningApp;
  beforeAll(async () => {
    process.env.APP_HOSTNAME = '127.0.0.1:40123';
    const { AppModule } = await importExample('session-urls');
    app = await startApp(adapter, { imports: [AppModule as Type] });
  });
  afterAll(() => app.close());

  it("answers Cloudflare's login and logout URLs for the emulated team, exactly", async () => {
    expect(await app.get('/session/links')).toMatchObject({
      status: 200,
      body: {
        login: `${emulator.teamDomain}/cdn-cgi/access/login/127.0.0.1:40123?kid=${emulator.audience}&redirect_url=%2Fdashboard%3Ftab%3Drecent`,
        logout: `${emulator.teamDomain}/cdn-cgi/access/logout`,
      },
    });
  });
});
