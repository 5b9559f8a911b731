import 'reflect-metadata';
import { Controller, Get } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CfIdentity } from '../../src/index.js';
import { type RunningApp, startGuardedApp } from '../support/start-app.js';
import { buildCli, type CliProcess, freePort, removeCliBuild, runCli, startCli } from './support/cli-process.js';

@Controller()
class MeController {
  @Get('me')
  me(@CfIdentity('email') email: string) {
    return { email };
  }
}

const packageJson = JSON.parse(await readFile('package.json', 'utf8')) as { bin: Record<string, string> };

/** The two variables the CLI prints for the app's environment. */
function printedEnv(stdout: string): { teamDomain: string; audience: string } {
  const teamDomain = /^CF_ACCESS_TEAM_DOMAIN=(\S+)$/m.exec(stdout)?.[1];
  const audience = /^CF_ACCESS_AUD=(\S+)$/m.exec(stdout)?.[1];
  if (!teamDomain || !audience) {
    throw new Error(`the CLI did not print both variables:\n${stdout}`);
  }
  return { teamDomain, audience };
}

describe('npx nestjs-cf-access dev', () => {
  let bin: string;
  let dir: string;

  beforeAll(async () => {
    bin = await buildCli(packageJson.bin['nestjs-cf-access'] ?? '');
    dir = await mkdtemp(join(tmpdir(), 'cf-access-cli-'));
  }, 120_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await removeCliBuild();
  });

  it('is the package bin: dist/cli/main.js, an ESM file starting with a node shebang', async () => {
    expect(packageJson.bin).toEqual({ 'nestjs-cf-access': './dist/cli/main.js' });
    expect((await readFile(bin, 'utf8')).split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it('documents every flag with --help and exits 0', async () => {
    const { code, stdout, stderr } = await runCli(bin, ['dev', '--help'], dir);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^Usage: npx nestjs-cf-access dev --target <url> \[options\]/);
    for (const flag of ['--target <url>', '--port <n>', '--audience <tag>', '--user <email[:g1,g2]>', '--bypass <path>', '--state <path>', '-h, --help']) {
      expect(stdout).toContain(flag);
    }
    expect((await runCli(bin, ['--help'], dir)).stdout).toBe(stdout);
  });

  it.each<[string, string[], string]>([
    ['an unknown flag', ['dev', '--target', 'http://127.0.0.1:1', '--nope'], 'unknown option --nope (see --help)'],
    ['a flag without its value', ['dev', '--target'], "Option '--target <value>' argument missing (see --help)"],
    ['no --target', ['dev'], '--target is required, e.g. --target http://127.0.0.1:3000 (see --help)'],
    ['a target that is not http://', ['dev', '--target', 'https://127.0.0.1:3000'], '--target must be an http:// URL (the app behind the edge), got "https://127.0.0.1:3000"'],
    ['a bad port', ['dev', '--target', 'http://127.0.0.1:1', '--port', '80a'], '--port must be an integer from 1 to 65535, got "80a"'],
    ['a bad --user', ['dev', '--target', 'http://127.0.0.1:1', '--user', 'ada:admins'], '--user must be email[:group,group], e.g. --user ada@example.com:admins, got "ada:admins"'],
    [
      'a bad --bypass',
      ['dev', '--target', 'http://127.0.0.1:1', '--bypass', 'api/health'],
      '--bypass must be a path such as /api/health (one leading /, no query, fragment or wildcard), got "api/health"',
    ],
    ['no command', [], 'missing command: use "nestjs-cf-access dev --target <url>" (see --help)'],
    ['an unknown command', ['serve'], 'unknown command "serve" (the only command is "dev"; see --help)'],
  ])('refuses %s with one line on stderr and exit code 2', async (_name, args, message) => {
    const run = await runCli(bin, args, dir);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`nestjs-cf-access: ${message}\n`);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses an unreachable target with one line on stderr and exit code 2, after printing the variables', async () => {
    const port = await freePort();
    const state = join(dir, 'unreachable.json');
    const run = await runCli(bin, ['dev', '--target', `http://127.0.0.1:${port}`, '--port', String(await freePort()), '--state', state], dir);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      `nestjs-cf-access: cannot reach --target http://127.0.0.1:${port} (ECONNREFUSED): start your app first, or fix --target\n`,
    );
    expect(printedEnv(run.stdout).teamDomain).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(run.stdout).not.toContain('Open ');
  });

  it('refuses an edge --port already in use with one line on stderr and exit code 2, and exits (the emulator closed)', async () => {
    const target = createServer((_request, response) => response.end('ok'));
    const taken = createNetServer();
    await Promise.all([
      new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve)),
      new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve)),
    ]);
    try {
      const targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
      const port = (taken.address() as AddressInfo).port;
      const run = await runCli(bin, ['dev', '--target', targetUrl, '--port', String(port), '--state', join(dir, 'taken.json')], dir);
      expect(run.code).toBe(2);
      expect(run.stderr).toBe(`nestjs-cf-access: cannot listen on 127.0.0.1:${port}: the port is in use; pick another --port\n`);
      expect(printedEnv(run.stdout).teamDomain).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(run.stdout).not.toContain('Open ');
    } finally {
      await Promise.all([
        new Promise((resolve) => target.close(resolve)),
        new Promise((resolve) => taken.close(resolve)),
      ]);
    }
  });

  it('refuses a corrupt state file naming it, and leaves it as it was', async () => {
    const state = join(dir, 'corrupt.json');
    await writeFile(state, 'not json');
    const run = await runCli(bin, ['dev', '--target', 'http://127.0.0.1:1', '--state', state], dir);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      `nestjs-cf-access: CfAccessEmulator: the state file ${state} is not valid emulator state (not JSON); fix it or delete it to start a new team\n`,
    );
    expect(await readFile(state, 'utf8')).toBe('not json');
  });

  it('survives a restart: the same session and a fresh login both get 200 at once (same team, same keys)', async () => {
    const state = join(dir, 'restart', 'state.json');
    const edgePort = await freePort();
    const args = (target: string) => ['dev', '--target', target, '--port', String(edgePort), '--state', state, '--user', 'ada@example.com:admins'];

    // First run, before the app exists: the CLI prints the two variables, then stops (exit 2).
    const first = await runCli(bin, args(`http://127.0.0.1:${await freePort()}`), dir);
    expect(first.code).toBe(2);
    const env = printedEnv(first.stdout);
    expect((await stat(state)).mode & 0o777).toBe(0o600);

    const app: RunningApp = await startGuardedApp('express', env, { controllers: [MeController] });
    let cli: CliProcess | undefined;
    try {
      const edge = `http://127.0.0.1:${edgePort}`;
      const login = async (email: string) => {
        const res = await fetch(`${edge}/cdn-cgi/access/login`, { method: 'POST', body: new URLSearchParams({ email, redirect_url: '/me' }), redirect: 'manual' });
        expect(res.headers.get('location')).toBe('/me');
        return (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      };
      const me = async (cookie: string) => {
        const res = await fetch(`${edge}/me`, { headers: { cookie } });
        return { status: res.status, body: await res.json() };
      };

      cli = startCli(bin, args(app.url), dir);
      await cli.waitFor('Ctrl-C stops it.');
      expect(printedEnv(cli.stdout())).toEqual(env);
      expect(cli.stdout()).toContain(`Open ${edge}/ and log in on the emulator's page.`);
      const session = await login('ada@example.com');
      expect(await me(session)).toEqual({ status: 200, body: { email: 'ada@example.com' } });

      cli.child.kill('SIGINT');
      expect(await cli.exited).toEqual({ code: 0, signal: null });
      expect(cli.stdout()).toContain('nestjs-cf-access dev: stopped (SIGINT)');
      expect(cli.stderr()).toBe('');

      cli = startCli(bin, args(app.url), dir);
      await cli.waitFor('Ctrl-C stops it.');
      expect(printedEnv(cli.stdout())).toEqual(env);
      const [again, fresh] = await Promise.all([me(session), login('bob@example.com').then(me)]);
      expect(again).toEqual({ status: 200, body: { email: 'ada@example.com' } });
      expect(fresh).toEqual({ status: 200, body: { email: 'bob@example.com' } });

      cli.child.kill('SIGTERM');
      expect(await cli.exited).toEqual({ code: 0, signal: null });
      expect(cli.stdout()).toContain('nestjs-cf-access dev: stopped (SIGTERM)');
    } finally {
      if (cli?.child.exitCode === null) {
        cli.child.kill('SIGKILL');
      }
      await app.close();
    }
  }, 60_000);
});
