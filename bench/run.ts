/**
 * `npm run bench`: every scenario of bench/scenarios.ts on both adapters, then the token cache's
 * micro-benchmark and heap cost; writes bench/RESULTS.md (see bench/report.ts).
 *
 * A round starts one server per row (and the two bare `node:http` ceilings), each a child process
 * pinned to core 0 and idle until its turn, and warms each up. Then it runs cycles: in each cycle
 * wrk (pinned to core 1) loads every server of the round once, for one short slice, one after the
 * other, each cycle in an order of its own. A ratio is taken within a cycle, between slices
 * seconds apart; fresh processes each round average out what differs between processes. Then it
 * measures each target's two rows (and two no-op processes, the A/A pair) as simultaneous pairs:
 * both fresh, warmed up alone, then loaded at once on the server core, so the machine's drift (this
 * VM's speed wanders by ±10% within seconds) falls on both alike; their CPU time per request over
 * the same seconds is what is compared, and decides the targets.
 *
 * Environment: `BENCH_QUICK=1` (1 round of 2 cycles of 1 s, 1 trial per pair: checks the
 * instrument, measures nothing), `BENCH_ROUNDS` (4), `BENCH_CYCLES` (4 per round), `BENCH_SLICE` (2 s),
 * `BENCH_PAIR_TRIALS` (6), `BENCH_PAIR_SECONDS` (5),
 * `BENCH_WARMUP` (3 s; unique rows twice that), `BENCH_CONNECTIONS` (50), `BENCH_UNIQUE_TOKENS` (480,000; 100,000 quick),
 * and the filters `BENCH_ADAPTERS=express,fastify` / `BENCH_SCENARIOS=hit,noop,…` (a filtered run
 * prints its report and leaves RESULTS.md alone).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CfAccessEmulator } from '../src/testing/index.js';
import { cpuSnapshot, otherLoad, processCpuSeconds } from './cpu-time.js';
import { type Measurement, type PairTrial, report, type RunSettings } from './report.js';
import { type Adapter, ADAPTERS, CEILINGS, PAIRS, type Scenario, SCENARIOS, type Stack } from './scenarios.js';

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
  rounds: setting('BENCH_ROUNDS', QUICK ? 1 : 4),
  cycles: setting('BENCH_CYCLES', QUICK ? 2 : 4),
  slice: setting('BENCH_SLICE', QUICK ? 1 : 2),
  warmup: setting('BENCH_WARMUP', QUICK ? 1 : 3),
  connections: setting('BENCH_CONNECTIONS', 50),
  uniqueTokens: setting('BENCH_UNIQUE_TOKENS', QUICK ? 100_000 : 480_000),
  pairTrials: setting('BENCH_PAIR_TRIALS', QUICK ? 1 : 6),
  pairSeconds: setting('BENCH_PAIR_SECONDS', QUICK ? 1 : 5),
  serverCpu: 0,
  loadCpu: 1,
};
/** Unique tokens set aside for warm-ups (reused there); the rest are the measured slices', none sent twice to one server. */
const WARMUP_TOKENS = Math.min(20_000, Math.floor(SETTINGS.uniqueTokens / 5));
/** How much faster than the fastest rate seen so far a unique row's slice may go before its tokens run out. */
const RATE_MARGIN = 2;
/** Unique rows warm up this many times longer: their miss path (jose, WebCrypto) keeps speeding up for a while. */
const UNIQUE_WARMUP_FACTOR = 2;
/** The least rate (req/s) a unique row's slice is given tokens for (its warm-up, still compiling, may be slow). */
const MIN_UNIQUE_RATE = 15_000;

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SERVER = fileURLToPath(new URL('server.js', import.meta.url));
const WRK_SCRIPT = join(ROOT, 'bench', 'wrk.lua');
const TOKEN_HEADER = 'cf-access-jwt-assertion';

const adapterFilter = process.env.BENCH_ADAPTERS?.split(',');
const scenarioFilter = process.env.BENCH_SCENARIOS?.split(',');
const adapters = ADAPTERS.filter((adapter) => !adapterFilter || adapterFilter.includes(adapter));
const scenarios = SCENARIOS.filter(({ key }) => !scenarioFilter || scenarioFilter.includes(key));
const partial = adapters.length < ADAPTERS.length || scenarios.length < SCENARIOS.length;
/** The simultaneous pairs whose rows are both in this run. */
const pairs = PAIRS.flatMap(({ row, base }): [Scenario, Scenario][] => {
  const [rowScenario, baseScenario] = [row, base].map((key) => scenarios.find((scenario) => scenario.key === key));
  return rowScenario && baseScenario ? [[rowScenario, baseScenario]] : [];
});

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

/** The tokens: the repeated one, the warm-ups' file, and the pool the measured slices take theirs from. */
interface Load {
  repeated: string;
  warmupFile: string;
  measured: string[];
  /** Where each unique slice's tokens are written (one file per server) before wrk reads them. */
  directory: string;
}

/** One server of a round, warmed up and waiting for its slices. */
interface RoundServer {
  stack: Stack;
  scenario: Scenario;
  child: ChildProcess;
  url: string;
  /** Unique rows: how many of `Load.measured` this server has been sent (it never sees one twice). */
  sent: number;
  /** Unique rows: the fastest rate seen (req/s), to size the next slice's tokens. */
  fastest: number;
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

/** Starts bench/server.ts on the server core; resolves with the child and its port. */
async function startServer(stack: Stack, scenario: Scenario, team: { teamDomain: string; audience: string }) {
  // No memory reducer: it would collect an idle server's heap while another server is measured on the same core.
  const node = [process.execPath, '--no-memory-reducer', SERVER];
  const child = spawn('taskset', ['-c', String(SETTINGS.serverCpu), ...node, stack, scenario.guard], {
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

/** Starts one server and warms it up (JIT, key fetch; unique rows on warm-up tokens of their own). */
async function prepare(stack: Stack, scenario: Scenario, team: { teamDomain: string; audience: string }, load: Load): Promise<RoundServer> {
  const { child, port } = await startServer(stack, scenario, team);
  const server: RoundServer = { stack, scenario, child, url: `http://127.0.0.1:${port}${scenario.route}`, sent: 0, fastest: 0 };
  const unique = scenario.tokens === 'unique';
  const warm = await wrk(server.url, unique ? SETTINGS.warmup * UNIQUE_WARMUP_FACTOR : SETTINGS.warmup, unique ? { file: load.warmupFile, wrap: true } : { header: load.repeated });
  server.fastest = warm.requests / (warm.durationUs / 1e6);
  return server;
}

/**
 * The tokens of `server`'s next slice, written to a file of its own: the next ones of the measured
 * pool it has not been sent, more than its fastest rate so far could use (only those wrk sends
 * count as used). The unique ceiling reuses the warm-up file: bare `node:http` reads no token.
 */
function sliceTokens(server: RoundServer, seconds: number, load: Load): { file: string; wrap: boolean } {
  if (server.scenario.key === 'ceiling-unique') {
    return { file: load.warmupFile, wrap: true };
  }
  const wanted = Math.ceil(Math.max(server.fastest, MIN_UNIQUE_RATE) * seconds * RATE_MARGIN);
  const tokens = load.measured.slice(server.sent, server.sent + wanted);
  if (tokens.length === 0) {
    throw new Error(`${server.stack} ${server.scenario.key}: all ${load.measured.length} measured tokens were used: raise BENCH_UNIQUE_TOKENS`);
  }
  const file = join(load.directory, `slice-${server.child.pid}.txt`);
  writeFileSync(file, `${tokens.join('\n')}\n`);
  return { file, wrap: false };
}

/**
 * Loads `server` for `seconds` (unique rows on tokens it was never sent); resolves wrk's result
 * and the server's CPU seconds, read around this load only.
 */
async function loadSlice(server: RoundServer, seconds: number, load: Load): Promise<{ result: WrkResult; serverCpu: number; duration: number }> {
  const unique = server.scenario.tokens === 'unique';
  const cpuBefore = processCpuSeconds(server.child.pid!);
  const result = await wrk(server.url, seconds, unique ? sliceTokens(server, seconds, load) : { header: load.repeated });
  const serverCpu = processCpuSeconds(server.child.pid!) - cpuBefore;
  const duration = result.durationUs / 1e6;
  if (unique) {
    server.sent += result.issued;
    server.fastest = Math.max(server.fastest, result.requests / duration);
  }
  return { result, serverCpu, duration };
}

/** One slice of load on one server of the round. */
async function measure(server: RoundServer, cycle: number, load: Load): Promise<Measurement> {
  const { stack, scenario } = server;
  const { result, serverCpu, duration } = await loadSlice(server, SETTINGS.slice, load);
  const measurement: Measurement = {
    stack,
    scenario: scenario.key,
    round: cycle,
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
    `cycle ${cycle}: ${stack} ${scenario.key}: ${Math.round(measurement.rps)} req/s, p99 ${measurement.p99Ms.toFixed(2)} ms, ` +
      `server ${measurement.serverCpuUsPerRequest.toFixed(1)} µs/req (core ${Math.round(measurement.serverBusy * 100)}% busy), ` +
      `wrk core ${Math.round(measurement.generatorBusy * 100)}% busy, ${result.requests} requests in ${duration.toFixed(2)} s`,
  );
  return measurement;
}

/**
 * `items` in an order of their own for cycle `seed` (a Fisher–Yates shuffle driven by a seeded
 * xorshift), so that no row always follows the same one: whatever a slice leaves behind on the
 * machine falls on a different row each cycle, and a run can be repeated in the same order.
 */
function shuffled<T>(items: T[], seed: number): T[] {
  let state = Math.imul(seed, 0x9e3779b9) >>> 0 || 1;
  const random = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  const order = [...items];
  for (let i = order.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j] as T, order[i] as T];
  }
  return order;
}

/**
 * One round on `adapter`: a fresh server per row and ceiling, warmed up, then `cycles` cycles of one
 * slice each; cycle numbers continue from `firstCycle`.
 */
async function runRound(
  adapter: Adapter,
  firstCycle: number,
  team: { teamDomain: string; audience: string },
  load: Load,
): Promise<Measurement[]> {
  const rows: [Stack, Scenario][] = [
    ...CEILINGS.map((scenario): [Stack, Scenario] => ['raw', scenario]),
    ...scenarios.map((scenario): [Stack, Scenario] => [adapter, scenario]),
  ];
  const servers: RoundServer[] = [];
  const measurements: Measurement[] = [];
  try {
    for (const [stack, scenario] of rows) {
      servers.push(await prepare(stack, scenario, team, load));
    }
    for (let cycle = firstCycle; cycle < firstCycle + SETTINGS.cycles; cycle += 1) {
      for (const server of shuffled(servers, cycle)) {
        measurements.push(await measure(server, cycle, load));
      }
    }
  } finally {
    await Promise.all(servers.map(({ child }) => stopServer(child)));
  }
  return measurements;
}

/**
 * Trial `trial` of a simultaneous pair: `row` and `base`, each started fresh and warmed up alone,
 * then loaded at once (both on the server core, each by its own wrk on the load core) for
 * `pairSeconds`. They see the same machine at every instant; the scheduler splits the core
 * between them, so what is compared is each one's CPU time per request over the same seconds.
 */
async function runPair(
  adapter: Adapter,
  [row, base]: [Scenario, Scenario],
  trial: number,
  team: { teamDomain: string; audience: string },
  load: Load,
): Promise<PairTrial> {
  const servers: RoundServer[] = [];
  try {
    for (const scenario of trial % 2 === 0 ? [row, base] : [base, row]) {
      servers.push(await prepare(adapter, scenario, team, load));
    }
    const slices = await Promise.all(servers.map((server) => loadSlice(server, SETTINGS.pairSeconds, load)));
    /** CPU µs per request and requests of `scenario`'s server over the pair's seconds. */
    const of = (scenario: Scenario) => {
      const { serverCpu, result } = slices[servers.findIndex((server) => server.scenario === scenario)] as (typeof slices)[number];
      return { cpuUs: (serverCpu / result.requests) * 1e6, requests: result.requests };
    };
    const [measuredRow, measuredBase] = [of(row), of(base)];
    const pair: PairTrial = { stack: adapter, row: row.key, base: base.key, rowCpuUs: measuredRow.cpuUs, baseCpuUs: measuredBase.cpuUs };
    console.log(
      `pair ${trial}: ${adapter} ${row.key} ${pair.rowCpuUs.toFixed(1)} µs/req, ${base.key} ${pair.baseCpuUs.toFixed(1)} µs/req: ` +
        `${(pair.baseCpuUs / pair.rowCpuUs).toFixed(3)} x (${measuredRow.requests} / ${measuredBase.requests} requests)`,
    );
    return pair;
  } finally {
    await Promise.all(servers.map(({ child }) => stopServer(child)));
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
  const ticksPerSecond = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  const startCpu = cpuSnapshot(ticksPerSecond);
  const emulator = await CfAccessEmulator.start();
  const team = emulator.moduleOptions();
  const directory = await mkdtemp(join(tmpdir(), 'nestjs-cf-access-bench-'));
  const measurements: Measurement[] = [];
  const pairTrials: PairTrial[] = [];
  try {
    console.log(`Signing ${SETTINGS.uniqueTokens} unique tokens…`);
    const pool = await signPool(emulator, SETTINGS.uniqueTokens);
    const load: Load = {
      repeated: await emulator.signToken({ email: 'repeat@example.com' }),
      warmupFile: join(directory, 'warmup-tokens.txt'),
      measured: pool.slice(WARMUP_TOKENS),
      directory,
    };
    writeFileSync(load.warmupFile, `${pool.slice(0, WARMUP_TOKENS).join('\n')}\n`);
    // From here on this process (the emulator, serving the key set) shares the load core with wrk.
    spawnSync('taskset', ['-a', '-p', '-c', String(SETTINGS.loadCpu), String(process.pid)], { stdio: 'ignore' });
    for (let round = 0; round < SETTINGS.rounds; round += 1) {
      for (const adapter of adapters) {
        measurements.push(...(await runRound(adapter, round * SETTINGS.cycles + 1, team, load)));
      }
    }
    for (let trial = 0; trial < SETTINGS.pairTrials; trial += 1) {
      for (const adapter of adapters) {
        for (const pair of pairs) {
          pairTrials.push(await runPair(adapter, pair, trial, team, load));
        }
      }
    }
  } finally {
    await emulator.close();
    await rm(directory, { recursive: true, force: true });
  }
  const machine = otherLoad(startCpu, cpuSnapshot(ticksPerSecond));
  console.log('Token cache micro-benchmark and heap…');
  const lru = section('lru.js');
  const heap = section('lru-heap.js', ['--expose-gc']);
  const markdown = report({
    settings: SETTINGS,
    measurements,
    pairTrials,
    adapters,
    scenarios,
    lruSections: [lru, heap],
    machine,
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
