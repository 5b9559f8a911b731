// The CommonJS build (the `require` condition), as a CommonJS app installs it: built fresh from src/
// into a throwaway node_modules/nestjs-cf-access, then loaded by child processes running
// `node --no-experimental-require-module`, where require() of any ES module throws ERR_REQUIRE_ESM,
// as it does in Jest's CommonJS runtime. jose 6 is ESM only: the build must use its vendored copy.
import { execFile as execFileCallback } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

const execFile = promisify(execFileCallback);
const root = fileURLToPath(new URL('../..', import.meta.url));
const fixtures = join(root, 'test', 'package', 'fixtures');
const ENTRY_POINTS = ['nestjs-cf-access', 'nestjs-cf-access/testing', 'nestjs-cf-access/health'];
/** What the consumer has installed next to the package, linked from this repository's node_modules. */
const INSTALLED = ['@nestjs', 'rxjs', 'reflect-metadata', 'jose'];

let consumer: string;
let pkg: string;

/** Runs `code` with `node -e` in the consumer, where require() cannot load ES modules. */
async function requireOnly(code: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = ['--no-experimental-require-module', '--import', join(fixtures, 'provide-peers.mjs'), '-e', code];
  // Without Jest's NODE_OPTIONS (--experimental-vm-modules): the child is a plain CommonJS app.
  const env = { ...process.env, NODE_OPTIONS: '' };
  return execFile(process.execPath, args, { cwd: consumer, env }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );
}

async function filesUnder(dir: string, suffix: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).filter((file) => file.endsWith(suffix)).sort();
}

beforeAll(async () => {
  consumer = await mkdtemp(join(tmpdir(), 'nestjs-cf-access-cjs-'));
  pkg = join(consumer, 'node_modules', 'nestjs-cf-access');
  await mkdir(pkg, { recursive: true });
  await copyFile(join(root, 'package.json'), join(pkg, 'package.json'));
  await copyFile(join(fixtures, 'app.cjs'), join(consumer, 'app.cjs'));
  await Promise.all(INSTALLED.map((name) => symlink(join(root, 'node_modules', name), join(consumer, 'node_modules', name))));
  await execFile(process.execPath, [join(root, 'scripts', 'build', 'build.mjs'), join(pkg, 'dist')], { cwd: root });
}, 90_000);

afterAll(async () => {
  await rm(consumer, { recursive: true, force: true });
});

describe('the CommonJS build', () => {
  it.each(ENTRY_POINTS)('require(%p) resolves to dist/cjs and loads no ES module', async (entry) => {
    const result = await requireOnly(`console.log(require.resolve('${entry}')); require('${entry}');`);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(join(pkg, 'dist', 'cjs', entry.replace('nestjs-cf-access', ''), 'index.js'));
  });

  it('refuses ES modules in the same setup: jose and the ESM build throw ERR_REQUIRE_ESM', async () => {
    for (const target of ['jose', join(pkg, 'dist', 'index.js')]) {
      const result = await requireOnly(`require(${JSON.stringify(target)});`);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain('ERR_REQUIRE_ESM');
    }
  });

  it('boots a Nest app: DI from the decorator metadata, 200 with a token, 401 without, @Public() open', async () => {
    const result = await requireOnly("require('./app.cjs');");
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({
      requireModule: false,
      valid: [200, { email: 'ada@example.com', injected: true }],
      missing: [401, 'missing_token'],
      open: 200,
      healthInjectsMainKeyStore: true,
    });
  });

  it('exports the same names as the ESM build, for each entry point', async () => {
    const code = `(async () => {
      const names = (m) => Object.keys(m).sort();
      const entries = ${JSON.stringify(ENTRY_POINTS)};
      const pairs = await Promise.all(entries.map(async (e) => [names(require(e)), names(await import(e))]));
      console.log(JSON.stringify(pairs));
    })();`;
    const result = await requireOnly(code);
    expect(result.code).toBe(0);
    for (const [required, imported] of JSON.parse(result.stdout) as [string[], string[]][]) {
      expect(required.length).toBeGreaterThan(0);
      expect(required).toEqual(imported);
    }
  });

  it('ships the same declarations as the ESM build', async () => {
    const dist = join(pkg, 'dist');
    const esm = (await filesUnder(dist, '.d.ts')).filter((file) => !file.startsWith('cjs'));
    expect(await filesUnder(join(dist, 'cjs'), '.d.ts')).toEqual(esm);
    for (const file of esm) {
      expect(await readFile(join(dist, 'cjs', file), 'utf8')).toBe(await readFile(join(dist, file), 'utf8'));
    }
  });
});
