import 'reflect-metadata';
import { Controller, Get } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeProtectedHeader } from 'jose';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CfIdentity } from '../../src/index.js';
import { CfAccessEmulator } from '../../src/testing/index.js';
import { jwt, type RunningApp, startGuardedApp } from '../support/start-app.js';

@Controller()
class MeController {
  @Get('me')
  me(@CfIdentity('email') email: string) {
    return { email };
  }
}

interface StateFile {
  about: string;
  version: number;
  port: number;
  audience: string;
  keys: { kid: string; privateJwk: Record<string, string>; cert: string }[];
}

const readState = async (path: string) => JSON.parse(await readFile(path, 'utf8')) as StateFile;
const portOf = (url: string) => Number(new URL(url).port);

describe('CfAccessEmulator.start({ state })', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cf-access-state-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('creates the state file (mode 0600, its folder 0700) with port, AUD tag and keys; a rotation is written too', async () => {
    const path = join(dir, 'created', 'state.json');
    const emulator = await CfAccessEmulator.start({ state: path });
    try {
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect((await stat(join(dir, 'created'))).mode & 0o777).toBe(0o700);
      const first = await readState(path);
      expect(first).toMatchObject({ version: 1, port: portOf(emulator.teamDomain), audience: emulator.audience });
      expect(first.about).toMatch(/Keep it out of git/);
      const firstKid = decodeProtectedHeader(await emulator.signToken()).kid;
      expect(first.keys.map((key) => key.kid)).toEqual([firstKid]);
      expect(Object.keys(first.keys[0]?.privateJwk ?? {})).toEqual(expect.arrayContaining(['d', 'p', 'q', 'n', 'e']));

      await emulator.rotateKeys();
      const rotated = await readState(path);
      const currentKid = decodeProtectedHeader(await emulator.signToken()).kid;
      expect(rotated.keys.map((key) => key.kid)).toEqual([firstKid, currentKid]);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
    } finally {
      await emulator.close();
    }
  });

  it('restarts as the same team: same team domain, AUD tag and keys, so a running app accepts old and new tokens at once', async () => {
    const path = join(dir, 'restart.json');
    const before = await CfAccessEmulator.start({ state: path });
    await before.rotateKeys(); // two keys: the previous one must come back too
    const oldToken = await before.signToken({ email: 'old@example.com' });
    const { teamDomain, audience } = before;
    const certsBefore = await (await fetch(`${teamDomain}/cdn-cgi/access/certs`)).text();
    // The app caches the keys now and will not refetch for jwks.cooldown (30 s by default).
    const app: RunningApp = await startGuardedApp('express', before.moduleOptions(), { controllers: [MeController] });
    try {
      expect((await app.get('/me', jwt(oldToken))).status).toBe(200);
      await before.close();

      const after = await CfAccessEmulator.start({ state: path });
      try {
        expect(after.moduleOptions()).toEqual({ teamDomain, audience });
        expect(await (await fetch(`${teamDomain}/cdn-cgi/access/certs`)).text()).toBe(certsBefore);
        const newToken = await after.signToken({ email: 'new@example.com' });
        expect(decodeProtectedHeader(newToken).kid).toBe(decodeProtectedHeader(oldToken).kid);
        expect(await app.get('/me', jwt(newToken))).toMatchObject({ status: 200, body: { email: 'new@example.com' } });
        expect(await app.get('/me', jwt(oldToken))).toMatchObject({ status: 200, body: { email: 'old@example.com' } });
      } finally {
        await after.close();
      }
    } finally {
      await app.close();
    }
  });

  it('lets explicit port and audience options win over the state file, and writes them back', async () => {
    const path = join(dir, 'explicit.json');
    const first = await CfAccessEmulator.start({ state: path });
    const kid = (await readState(path)).keys[0]?.kid;
    await first.close();
    const second = await CfAccessEmulator.start({ state: path, port: 0, audience: 'my-dev-app' });
    try {
      expect(second.audience).toBe('my-dev-app');
      expect(await readState(path)).toMatchObject({ port: portOf(second.teamDomain), audience: 'my-dev-app', keys: [{ kid }] });
    } finally {
      await second.close();
    }
  });

  it.each<[string, string, string]>([
    ['not JSON', '{"version": 1, "port":', 'not JSON'],
    ['a JSON array', '[]', 'not a JSON object'],
    ['another version', '{"version": 2}', '"version" must be 1'],
    ['a bad port', '{"version": 1, "port": "x", "audience": "a", "keys": []}', '"port" must be an integer from 1 to 65535'],
    ['no keys', '{"version": 1, "port": 9, "audience": "a", "keys": []}', '"keys" must hold one or two RSA private keys'],
    [
      'a key without its private part',
      '{"version": 1, "port": 9, "audience": "a", "keys": [{"kid": "k", "cert": "c", "privateJwk": {"kty": "RSA", "n": "x", "e": "AQAB"}}]}',
      '"keys" must hold one or two RSA private keys',
    ],
  ])('refuses a state file holding %s with an error naming the file, and leaves the file as it was', async (_name, text, why) => {
    const path = join(dir, `corrupt-${why.length}-${text.length}.json`);
    await writeFile(path, text, { mode: 0o600 });
    await expect(CfAccessEmulator.start({ state: path })).rejects.toThrow(
      `CfAccessEmulator: the state file ${path} is not valid emulator state (${why}`,
    );
    expect(await readFile(path, 'utf8')).toBe(text);
  });

  it('refuses a state file whose key cannot be imported, and leaves it as it was', async () => {
    const path = join(dir, 'bad-key.json');
    const parts = Object.fromEntries(['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'].map((name) => [name, 'AA']));
    const text = JSON.stringify({ version: 1, port: 9, audience: 'a', keys: [{ kid: 'k', cert: 'c', privateJwk: { kty: 'RSA', ...parts } }] });
    await writeFile(path, text);
    await expect(CfAccessEmulator.start({ state: path })).rejects.toThrow(
      `CfAccessEmulator: the state file ${path} is not valid emulator state (a key cannot be used: `,
    );
    expect(await readFile(path, 'utf8')).toBe(text);
  });

  it('says which port is in use when the one kept in the state file is taken', async () => {
    const path = join(dir, 'busy.json');
    const first = await CfAccessEmulator.start({ state: path });
    await first.close();
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen((portOf(first.teamDomain)), '127.0.0.1', resolve));
    try {
      const port = (squatter.address() as AddressInfo).port;
      await expect(CfAccessEmulator.start({ state: path })).rejects.toThrow(
        `CfAccessEmulator: cannot listen on 127.0.0.1:${port} (kept in the state file ${path}): the port is in use`,
      );
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it('refuses an empty state path', async () => {
    await expect(CfAccessEmulator.start({ state: '' })).rejects.toThrow('"state" must be the path of a state file');
  });
});
