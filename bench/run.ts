/**
 * `npm run bench`: every scenario of bench/scenarios.ts on both adapters, in interleaved rounds,
 * each server a child process pinned to core 0 and loaded by wrk pinned to core 1, with the
 * generator's ceiling (bare `node:http`) measured in every round; then the token cache's
 * micro-benchmark and heap cost. Writes bench/RESULTS.md (see bench/report.ts).
 *
 * Environment: `BENCH_QUICK=1` (1 round of 1 s: checks the instrument, measures nothing),
 * `BENCH_ROUNDS` (5), `BENCH_DURATION` (5 s), `BENCH_WARMUP` (2 s), `BENCH_CONNECTIONS` (50),
 * `BENCH_UNIQUE_TOKENS` (160,000; 40,000 quick), and the filters `BENCH_ADAPTERS=express,fastify` /
 * `BENCH_SCENARIOS=hit,noop,…` (a filtered run prints its report and leaves RESULTS.md alone).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CfAccessEmulator } from '../src/testing/index.js';
import { type Measurement, report, type RunSettings } from './report.js';
import { type Adapter, ADAPTERS, CEILINGS, type Scenario, SCENARIOS, type Stack } from './scenarios.js';

const QUICK = process.env.BENCH_QUICK === '1';

/** A whole number from the environment, or `fallback`. */
function setting(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') {
    return fallback;
  }
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) {
    throw new Error(`${name} must be a positive whole number, not "${value}"`);
  }
  return number;
}

const SETTINGS: RunSettings = {
  quick: QUICK,
  rounds: setting('BENCH_ROUNDS', QUICK ? 1 : 5),
  duration: setting('BENCH_DURATION', QUICK ? 1 : 5),
  warmup: setting('BENCH_WARMUP', QUICK ? 1 : 2),
  connections: setting('BENCH_CONNECTIONS', 50),
  uniqueTokens: setting('BENCH_UNIQUE_TOKENS', QUICK ? 40_000 : 160_000),
  serverCpu: 0,
  loadCpu: 1,
};
/** Unique tokens set aside for warm-ups (reused there); the rest are the measured runs', each sent once per run. */
const WARMUP_TOKENS = Math.min(20_000, Math.floor(SETTINGS.uniqueTokens / 5));
/** How much faster than its warm-up a measured run may go before its tokens could run out. */
const RATE_MARGIN = 1.3;

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SERVER = fileURLToPath(new URL('server.js', import.meta.url));
const WRK_SCRIPT = join(ROOT, 'bench', 'wrk.lua');
const TOKEN_HEADER = 'cf-access-jwt-assertion';

const adapterFilter = process.env.BENCH_ADAPTERS?.split(',');
const scenarioFilter = process.env.BENCH_SCENARIOS?.split(',');
const adapters = ADAPTERS.filter((adapter) => !adapterFilter || adapterFilter.includes(adapter));
const scenarios = SCENARIOS.filter(({ key }) => !scenarioFilter || scenarioFilter.includes(key));
const partial = adapters.length < ADAPTERS.length || scenarios.length < SCENARIOS.length;

/** What one wrk run reports (bench/wrk.lua's `done`). */
interface WrkResult {
  requests: number;
  durationUs: number;
  errors: Record<'connect' | 'read' | 'write' | 'status' | 'timeout', number>;
  p50Us: number;
  p99Us: number;
  generatorCpuS: number;
  issued: number;
  exhausted: number;
}

/** The token files and the repeated token. */
interface Load {
  repeated: string;
  warmupFile: string;
  measureFile: string;
  measureTokens: number;
}

/** Stops with the command that installs what is missing. */
function requireTools(): void {
  if (spawnSync('wrk', ['--version']).error) {
    console.error('bench: wrk is not installed. On Debian/Ubuntu: apt-get update && apt-get install -y wrk');
    process.exit(1);
  }
  if (spawnSync('taskset', ['--version']).error) {
    console.error('bench: taskset is not installed. On Debian/Ubuntu: apt-get update && apt-get install -y util-linux');
    process.exit(1);
  }
  if (availableParallelism() < 2) {
    console.error('bench: needs 2 cores (the server on one, wrk on the other)');
    process.exit(1);
  }
}

/** The process's CPU time so far (user + system, all threads), in seconds, from /proc/<pid>/stat. */
function cpuSeconds(pid: number, ticksPerSecond: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** Starts bench/server.ts on the server core; resolves with the child and its port. */
async function startServer(stack: Stack, scenario: Scenario, team: { teamDomain: string; audience: string }) {
  const child = spawn('taskset', ['-c', String(SETTINGS.serverCpu), process.execPath, SERVER, stack, scenario.guard], {
    env: { ...process.env, BENCH_TEAM_DOMAIN: team.teamDomain, BENCH_AUDIENCE: team.audience },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`${stack} ${scenario.key}: the server exited (${code})`))),
  );
  const firstLine = new Promise<string>((resolve) => createInterface({ input: child.stdout }).once('line', resolve));
  const { port } = JSON.parse(await Promise.race([firstLine, exited])) as { port: number };
  exited.catch(() => undefined);
  const allowed = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
  if (allowed !== String(SETTINGS.serverCpu)) {
    throw new Error(`server ${child.pid} is not pinned to core ${SETTINGS.serverCpu} (${allowed})`);
  }
  return { child, port };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await gone;
  }
}

/** One wrk run on the load core; rejects on any error, non-2xx answer or reused token. */
function wrk(url: string, seconds: number, tokens: { file: string; wrap: boolean } | { header: string }): Promise<WrkResult> {
  const args = ['-c', String(SETTINGS.loadCpu), 'wrk', '-t1', `-c${SETTINGS.connections}`, `-d${seconds}s`, '-s', WRK_SCRIPT];
  const env: NodeJS.ProcessEnv = { ...process.env, BENCH_WRK_THREADS: '1' };
  if ('header' in tokens) {
    args.push('-H', `${TOKEN_HEADER}: ${tokens.header}`);
  } else {
    env.BENCH_TOKENS = tokens.file;
    env.BENCH_TOKENS_WRAP = tokens.wrap ? '1' : '0';
  }
  args.push(url);
  return new Promise((resolve, reject) => {
    const child = spawn('taskset', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = output.split('\n').find((text) => text.startsWith('BENCH_RESULT '));
      if (code !== 0 || !line) {
        reject(new Error(`wrk ${url} failed (${code}):\n${output}`));
        return;
      }
      const result = JSON.parse(line.slice('BENCH_RESULT '.length)) as WrkResult;
      const errors = Object.entries(result.errors).filter(([, count]) => count > 0);
      if (errors.length > 0 || result.exhausted > 0 || result.requests === 0) {
        const what = errors.map(([kind, count]) => `${count} ${kind}`).join(', ');
        const reused = result.exhausted > 0 ? ` (${result.exhausted} would have reused a token: raise BENCH_UNIQUE_TOKENS)` : '';
        reject(new Error(`wrk ${url}: ${result.requests} requests, errors: ${what || 'none'}${reused}`));
        return;
      }
      resolve(result);
    });
  });
}

/** One server, warmed up, then measured; its CPU time is read around the measured run only. */
async function measure(
  stack: Stack,
  scenario: Scenario,
  round: number,
  team: { teamDomain: string; audience: string },
  load: Load,
  ticksPerSecond: number,
): Promise<Measurement> {
  const { child, port } = await startServer(stack, scenario, team);
  try {
    const url = `http://127.0.0.1:${port}${scenario.route}`;
    const unique = scenario.tokens === 'unique';
    const warm = await wrk(url, SETTINGS.warmup, unique ? { file: load.warmupFile, wrap: true } : { header: load.repeated });
    let seconds = SETTINGS.duration;
    // The ceiling may reuse tokens (raw node:http reads none); a measured unique run must not run out.
    const wrap = scenario.key === 'ceiling-unique';
    if (unique && !wrap) {
      const warmRate = warm.requests / (warm.durationUs / 1e6);
      seconds = Math.max(1, Math.min(SETTINGS.duration, Math.floor(load.measureTokens / (warmRate * RATE_MARGIN))));
    }
    const cpuBefore = cpuSeconds(child.pid!, ticksPerSecond);
    const result = await wrk(url, seconds, unique ? { file: load.measureFile, wrap } : { header: load.repeated });
    const serverCpu = cpuSeconds(child.pid!, ticksPerSecond) - cpuBefore;
    const duration = result.durationUs / 1e6;
    const measurement: Measurement = {
      stack,
      scenario: scenario.key,
      round,
      rps: result.requests / duration,
      requests: result.requests,
      seconds: duration,
      p50Ms: result.p50Us / 1000,
      p99Ms: result.p99Us / 1000,
      serverCpuUsPerRequest: (serverCpu / result.requests) * 1e6,
      serverBusy: serverCpu / duration,
      generatorBusy: result.generatorCpuS / duration,
    };
    console.log(
      `round ${round}: ${stack} ${scenario.key}: ${Math.round(measurement.rps)} req/s, p99 ${measurement.p99Ms.toFixed(2)} ms, ` +
        `server ${measurement.serverCpuUsPerRequest.toFixed(1)} µs/req (core ${Math.round(measurement.serverBusy * 100)}% busy), ` +
        `wrk core ${Math.round(measurement.generatorBusy * 100)}% busy, ${result.requests} requests in ${duration.toFixed(2)} s`,
    );
    return measurement;
  } finally {
    await stopServer(child);
  }
}

async function signPool(emulator: CfAccessEmulator, count: number): Promise<string[]> {
  const pool: string[] = [];
  for (let i = 0; i < count; i += 64) {
    const batch = Array.from({ length: Math.min(64, count - i) }, (_, j) => emulator.signToken({ email: `user${i + j}@example.com` }));
    pool.push(...(await Promise.all(batch)));
    if (pool.length % 20_480 === 0) {
      console.log(`  ${pool.length} / ${count}`);
    }
  }
  return pool;
}

/** Runs a bench/ script on the server core and returns what it printed (a Markdown section). */
function section(script: string, nodeFlags: string[] = []): string {
  const run = spawnSync('taskset', ['-c', String(SETTINGS.serverCpu), process.execPath, ...nodeFlags, fileURLToPath(new URL(script, import.meta.url))], {
    encoding: 'utf8',
    env: process.env,
    maxBuffer: 16 * 2 ** 20,
  });
  if (run.status !== 0) {
    throw new Error(`${script} failed (${run.status}):\n${run.stdout}${run.stderr}`);
  }
  return run.stdout.trim();
}

async function main(): Promise<void> {
  requireTools();
  const loadAtStart = loadavg()[0] as number;
  const ticksPerSecond = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  const emulator = await CfAccessEmulator.start();
  const team = emulator.moduleOptions();
  const directory = await mkdtemp(join(tmpdir(), 'nestjs-cf-access-bench-'));
  const measurements: Measurement[] = [];
  try {
    console.log(`Signing ${SETTINGS.uniqueTokens} unique tokens…`);
    const pool = await signPool(emulator, SETTINGS.uniqueTokens);
    const load: Load = {
      repeated: await emulator.signToken({ email: 'repeat@example.com' }),
      warmupFile: join(directory, 'warmup-tokens.txt'),
      measureFile: join(directory, 'measure-tokens.txt'),
      measureTokens: pool.length - WARMUP_TOKENS,
    };
    writeFileSync(load.warmupFile, `${pool.slice(0, WARMUP_TOKENS).join('\n')}\n`);
    writeFileSync(load.measureFile, `${pool.slice(WARMUP_TOKENS).join('\n')}\n`);
    // From here on this process (the emulator, serving the key set) shares the load core with wrk.
    spawnSync('taskset', ['-a', '-p', '-c', String(SETTINGS.loadCpu), String(process.pid)], { stdio: 'ignore' });
    const runs: [Stack, Scenario][] = [
      ...CEILINGS.map((scenario): [Stack, Scenario] => ['raw', scenario]),
      ...adapters.flatMap((adapter: Adapter) => scenarios.map((scenario): [Stack, Scenario] => [adapter, scenario])),
    ];
    for (let round = 1; round <= SETTINGS.rounds; round += 1) {
      // Each round starts elsewhere in the list, so no row always follows the same one.
      const shift = ((round - 1) * 3) % runs.length;
      for (const [stack, scenario] of [...runs.slice(shift), ...runs.slice(0, shift)]) {
        measurements.push(await measure(stack, scenario, round, team, load, ticksPerSecond));
      }
    }
  } finally {
    await emulator.close();
    await rm(directory, { recursive: true, force: true });
  }
  console.log('Token cache micro-benchmark and heap…');
  const lru = section('lru.js');
  const heap = section('lru-heap.js', ['--expose-gc']);
  const markdown = report({
    settings: SETTINGS,
    measurements,
    adapters,
    scenarios,
    lruSections: [lru, heap],
    loadAverage: [loadAtStart, loadavg()[0] as number],
    wrkVersion: spawnSync('wrk', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]?.trim() ?? 'unknown',
    root: ROOT,
  });
  if (partial) {
    console.log(markdown);
    console.log('A filtered run (BENCH_ADAPTERS / BENCH_SCENARIOS): bench/RESULTS.md left as it was');
    return;
  }
  writeFileSync(join(ROOT, 'bench', 'RESULTS.md'), markdown);
  console.log('Wrote bench/RESULTS.md');
}

await main();
