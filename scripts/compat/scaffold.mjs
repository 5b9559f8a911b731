// Projects made by the real Nest CLI (`nest new`), cached with their node_modules outside the repo,
// one per exact CLI version and template. The cache is never changed after it is written.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { killGroup, mustRun, spawnGroup, userEnv } from './exec.mjs';

/**
 * The scaffolds and the cells run in them. `template: 'default'` is what `nest new` makes without a
 * terminal; CLI 12's CommonJS template is only offered by an interactive prompt, answered through a pty.
 */
export const SCAFFOLDS = [
  { name: 'cli11', cli: 11, template: 'default', format: 'CommonJS', runner: 'jest', nodes: [20, 22, 24] },
  { name: 'cli12', cli: 12, template: 'default', format: 'ESM', runner: 'vitest', nodes: [20, 22, 24] },
  // NestJS 12 is ESM only: Jest's CommonJS runtime can require() it from Node 24.9 on.
  { name: 'cli12-cjs', cli: 12, template: 'cjs', format: 'CommonJS', runner: 'jest', nodes: [24] },
];

/** The newest published @nestjs/cli of a major, e.g. 12 -> '12.0.8'. */
async function exactCliVersion(major, env) {
  const versions = JSON.parse(await mustRun('npm', ['view', `@nestjs/cli@${major}`, 'version', '--json'], { env }));
  return [versions].flat().at(-1);
}

/**
 * Runs `command` in a pseudo-terminal (util-linux `script`) and picks `choice` at the CLI 12 prompt
 * "Which module system would you like to use?" with the arrow keys, as a user would.
 */
function answerModuleSystemPrompt(command, choice, { cwd, env }) {
  return new Promise((resolve, reject) => {
    // A size for the pty: at 0 columns the CLI's spinner erases ever more lines, without end.
    const child = spawnGroup('script', ['-qfec', `stty cols 120 rows 40 && ${command}`, '/dev/null'], {
      cwd,
      // The schematics behind `nest new` prompt only on a terminal and never while CI is set (as it is
      // on CI) unless NG_FORCE_TTY says the terminal is real, as this pty is.
      env: { ...env, NG_FORCE_TTY: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let transcript = '';
    let state = 'waiting for the prompt';
    const plain = (text) => text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ''); // eslint-disable-line no-control-regex
    const onOutput = (chunk) => {
      transcript += chunk;
      if (state === 'answered') {
        return; // read on without scanning: a slow reader would block the CLI's synchronous TTY writes
      }
      const text = plain(transcript.slice(-4096));
      if (state === 'waiting for the prompt' && text.includes('Which module system would you like to use?')) {
        state = `moving to ${choice}`;
        setTimeout(() => child.stdin.write('\x1b[B'), 300); // arrow down, once the prompt reads keys
      } else if (state === `moving to ${choice}` && text.includes(`❯ ${choice}`)) {
        state = 'answered';
        child.stdin.write('\r');
      }
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    const timer = setTimeout(() => killGroup(child), 600_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0 && state === 'answered') {
        resolve(plain(transcript));
      } else {
        reject(new Error(`${command} exited ${code} while ${state}:\n${plain(transcript)}`));
      }
    });
  });
}

/** Fails unless `nest new` made the project asked for, installed (the CLI only logs a failed install). */
async function checkGenerated(dir, scaffold, output) {
  const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
  const problems = [];
  if ((pkg.type === 'module') !== (scaffold.format === 'ESM')) {
    problems.push(`package.json "type" is ${pkg.type ?? 'unset'}, expected ${scaffold.format}`);
  }
  if (!pkg.devDependencies?.[scaffold.runner]) {
    problems.push(`no ${scaffold.runner} in devDependencies`);
  }
  if (!existsSync(join(dir, 'node_modules', '.bin', scaffold.runner))) {
    problems.push('node_modules incomplete: the CLI\'s npm install failed');
  }
  if (problems.length > 0) {
    throw new Error(`nest new for ${scaffold.name}: ${problems.join('; ')}. CLI output:\n${output}`);
  }
}

/**
 * The cached project of `scaffold`, generated on first use with `node` first on PATH (CLI 12's
 * dependencies want Node >= 22). Resolves { dir, cliVersion }.
 */
export async function cachedScaffold(scaffold, cache, node) {
  const env = userEnv(node);
  const cliVersion = await exactCliVersion(scaffold.cli, env);
  const key = `nestjs-cli-${cliVersion}-${scaffold.template}`;
  const dir = join(cache, 'scaffolds', key);
  if (existsSync(dir)) {
    return { dir, cliVersion, cached: true };
  }
  await mkdir(join(cache, 'scaffolds'), { recursive: true });
  const tmp = await mkdtemp(join(cache, 'scaffolds', `.${key}-`));
  try {
    const args = ['--yes', `@nestjs/cli@${cliVersion}`, 'new', 'app', '--package-manager', 'npm', '--skip-git'];
    if (scaffold.cli >= 12) {
      args.push('--no-observe');
    }
    const output =
      scaffold.template === 'cjs'
        ? await answerModuleSystemPrompt(`npx ${args.join(' ')}`, 'CJS (CommonJS)', { cwd: tmp, env })
        : await mustRun('npx', args, { cwd: tmp, env, timeoutMs: 600_000 });
    await checkGenerated(join(tmp, 'app'), scaffold, output);
    await writeFile(join(cache, 'scaffolds', `${key}.log`), output);
    await rename(join(tmp, 'app'), dir); // atomic: a directory under its key is always complete
    return { dir, cliVersion, cached: false };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
