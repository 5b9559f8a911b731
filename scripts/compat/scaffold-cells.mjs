// The scaffold cells of npm run test:compat: each `nest new` project (scaffold.mjs) is copied out of
// the cache, gets the packed tarball and the README's install line and files, and its own
// `npm test` and `npm run test:e2e` run, config untouched, under each Node version of the cell.
import { copyFile, readFile, rm, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { capture, mustRun, userEnv } from './exec.mjs';
import { readmeExamples } from './readme.mjs';
import { SCAFFOLDS, cachedScaffold } from './scaffold.mjs';

/** Files npm rewrites in place: a hard-linked copy of them would write through into the cache. */
const REWRITTEN = ['package.json', 'package-lock.json', join('node_modules', '.package-lock.json')];

/** Copies the cached project: node_modules as hard links (seconds, not minutes, for ~30k files). */
async function copyProject(from, to) {
  try {
    await mustRun('cp', ['-al', from, to]);
  } catch {
    await mustRun('cp', ['-a', from, to]); // the cache is on another file system
  }
  for (const file of REWRITTEN) {
    await rm(join(to, file));
    await copyFile(join(from, file), join(to, file));
  }
}

const versionOf = async (dir, name) =>
  JSON.parse(await readFile(join(dir, 'node_modules', name, 'package.json'), 'utf8')).version;

/** Copies, installs into and fills one scaffold; resolves what its cells need. */
async function prepareProject(scaffold, { work, tarball, cache, examples, newestNode }) {
  const { dir: cached, cliVersion } = await cachedScaffold(scaffold, cache, newestNode);
  const dir = join(work, `scaffold-${scaffold.name}`);
  await copyProject(cached, dir);
  const install = examples.install.map((arg) => (arg === 'nestjs-cf-access' ? tarball : arg));
  await mustRun('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...install], {
    cwd: dir,
    env: userEnv(process.execPath),
  });
  const files = examples.files(scaffold.runner);
  for (const { path, code } of files) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await rm(join(dir, path), { force: true }); // never write through a hard link into the cache
    await writeFile(join(dir, path), code);
  }
  const runnerVersion = await versionOf(dir, scaffold.runner);
  return {
    scaffold,
    dir,
    cliVersion,
    nestVersion: await versionOf(dir, '@nestjs/core'),
    runner: scaffold.runner === 'jest' ? `Jest ${runnerVersion} + ts-jest ${await versionOf(dir, 'ts-jest')}` : `Vitest ${runnerVersion}`,
    readmeSpecs: files.map(({ path }) => path).filter((path) => /spec\.ts$/.test(path)),
  };
}

/** Makes every scaffold's project ready (in parallel); `newestNode` runs the Nest CLI. */
export function prepareProjects(options) {
  return readmeExamples(options.readme).then((examples) =>
    Promise.all(SCAFFOLDS.map((scaffold) => prepareProject(scaffold, { ...options, examples }))),
  );
}

// eslint-disable-next-line no-control-regex
const plain = (text) => text.replace(/\x1b\[[0-9;]*m/g, '');

/**
 * Counts from a runner's own summary: Jest's "Test Suites: 1 failed, 1 passed, 2 total" / "Tests: …",
 * Vitest's "Test Files  2 passed (2)" / "Tests  1 failed | 2 passed (3)". Null when absent.
 */
function summary(output, runner) {
  const line = (label) => {
    const pattern = runner === 'jest' ? new RegExp(`^${label}:\\s+(.*?)(\\d+) total$`, 'm') : new RegExp(`^\\s*${label}\\s+(.*)\\((\\d+)\\)`, 'm');
    const match = pattern.exec(output);
    return match && { passed: Number(/(\d+) passed/.exec(match[1])?.[1] ?? 0), total: Number(match[2]) };
  };
  const files = line(runner === 'jest' ? 'Test Suites' : 'Test Files');
  const tests = line('Tests');
  return files && tests ? { files, tests } : null;
}

/** Test files the runner reports as passed: Jest's "PASS test/x.e2e-spec.ts", Vitest's "✓ test/x.e2e-spec.ts (3 tests)". */
function passedFiles(output, runner) {
  const pattern = runner === 'jest' ? /^PASS\s+(\S+)/gm : /^\s*✓\s+(\S+\.ts)\s+\(/gm;
  return [...output.matchAll(pattern)].map(([, file]) => file);
}

/** Why a run failed, in a few words, when the output says so. */
function diagnose(output) {
  const esm = /Must use import to load ES Module: \S*?node_modules\/(\S+)/.exec(output);
  if (esm) {
    return `Jest's CommonJS runtime cannot require() the ES module ${esm[1]}`;
  }
  return /Cannot find (module|package) '[^']+'/.exec(output)?.[0] ?? '';
}

async function runScript(project, script, env) {
  const { code, output: raw } = await capture('npm', script === 'test' ? ['test'] : ['run', script], { cwd: project.dir, env });
  const output = plain(raw);
  const counts = summary(output, project.scaffold.runner);
  const ok = code === 0 && counts !== null && counts.tests.total > 0 && counts.tests.passed === counts.tests.total && counts.files.passed === counts.files.total;
  return { ok, output, counts, passed: passedFiles(output, project.scaffold.runner) };
}

async function runCell(project, node) {
  const env = userEnv(node);
  const nodeVersion = (await mustRun(node, ['--version'])).trim();
  const unit = await runScript(project, 'test', env);
  const e2e = await runScript(project, 'test:e2e', env);
  const missing = project.readmeSpecs.filter((spec) => !unit.passed.includes(spec) && !e2e.passed.includes(spec));
  const ok = unit.ok && e2e.ok && missing.length === 0;
  const count = ({ counts }) => {
    if (!counts) {
      return 'no summary';
    }
    const { files, tests } = counts;
    return `${tests.passed}/${tests.total}${files.passed === files.total ? '' : ` (files ${files.passed}/${files.total})`}`;
  };
  const failedRun = [unit, e2e].find((run) => !run.ok);
  const note = ok
    ? ''
    : [missing.length > 0 ? `README files not reported passed: ${missing.join(', ')}` : '', failedRun ? diagnose(failedRun.output) : '']
        .filter(Boolean)
        .join('; ');
  const { scaffold } = project;
  return {
    ok,
    row: `| ${scaffold.name} (@nestjs/cli ${project.cliVersion}, ${scaffold.format}) | ${project.nestVersion} | ${project.runner} | ${nodeVersion} | ${count(unit)} | ${count(e2e)} | ${ok ? 'pass' : `FAIL${note ? `: ${note}` : ''}`} |`,
    failure: ok ? '' : [unit, e2e].map(({ output }, index) => `--- ${scaffold.name} on ${nodeVersion}: npm ${index === 0 ? 'test' : 'run test:e2e'}\n${output}`).join('\n'),
  };
}

/** Runs every cell, `concurrency` at a time; resolves { table, failures, ok }. */
export async function runProjectCells(projects, nodeOf, concurrency = 2) {
  const cells = projects.flatMap((project) => project.scaffold.nodes.map((major) => () => runCell(project, nodeOf(major))));
  const results = [];
  let next = 0;
  const worker = async () => {
    while (next < cells.length) {
      const index = next++;
      results[index] = await cells[index]();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const table = ['| scaffold | NestJS | runner | node | unit (npm test) | e2e (npm run test:e2e) | result |', '|---|---|---|---|---|---|---|', ...results.map(({ row }) => row)].join('\n');
  const failures = results.map(({ failure }) => failure).filter(Boolean).join('\n');
  return { table, failures, ok: results.every(({ ok }) => ok), cells: results.length };
}
