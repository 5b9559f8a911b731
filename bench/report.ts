/** Renders bench/RESULTS.md from what bench/run.ts measured, with the machine it ran on. */
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { type OtherLoad } from './cpu-time.js';
import { type Adapter, CEILINGS, type Scenario, SCENARIOS, type Stack, TARGETS } from './scenarios.js';

/** How the run was configured. */
export interface RunSettings {
  quick: boolean;
  rounds: number;
  /** Cycles per round: each loads every server of the round once, for one slice. */
  cycles: number;
  /** Seconds per slice. */
  slice: number;
  warmup: number;
  connections: number;
  uniqueTokens: number;
  /** Trials per simultaneous pair, and each one's seconds of load. */
  pairTrials: number;
  pairSeconds: number;
  serverCpu: number;
  loadCpu: number;
}

/** One measured wrk run (a slice) against one server. */
export interface Measurement {
  stack: Stack;
  scenario: string;
  /** The cycle it was measured in, numbered across rounds: the unit ratios are taken within. */
  round: number;
  rps: number;
  requests: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  /** The time the scheduler ran the server's threads over the run, per request. */
  serverCpuUsPerRequest: number;
  /** Server CPU time over wall time: ~1 when the server's core is saturated. */
  serverBusy: number;
  /** wrk's CPU time over wall time: well under 1 when the generator has room to spare. */
  generatorBusy: number;
}

/** One trial of a simultaneous pair: two fresh servers loaded at once on one core, over the same seconds. */
export interface PairTrial {
  stack: Adapter;
  row: string;
  base: string;
  /** Each server's CPU time per request over those seconds. */
  rowCpuUs: number;
  baseCpuUs: number;
}

export interface ReportInput {
  settings: RunSettings;
  measurements: Measurement[];
  pairTrials: PairTrial[];
  adapters: readonly Adapter[];
  scenarios: Scenario[];
  /** Markdown from bench/lru.ts and bench/lru-heap.ts. */
  lruSections: string[];
  /** What other processes and the hypervisor took while the servers were measured. */
  machine: OtherLoad;
  wrkVersion: string;
  /** The repository, for package versions. */
  root: string;
}

/** The `p`-quantile of `values` (0 ≤ p ≤ 1), interpolated between the nearest ranks. */
function quantile(values: number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  const position = (sorted.length - 1) * p;
  const below = sorted[Math.floor(position)] as number;
  const above = sorted[Math.ceil(position)] as number;
  return below + (above - below) * (position - Math.floor(position));
}

function median(values: number[]): number {
  return quantile(values, 0.5);
}

/** `median (p25–p75)` of `values`, each formatted by `format`; `n/a` for none. */
function spread(values: number[], format: (value: number) => string): string {
  if (values.length === 0) {
    return 'n/a';
  }
  const text = format(median(values));
  return values.length === 1 ? text : `${text} (${format(quantile(values, 0.25))}–${format(quantile(values, 0.75))})`;
}

/** `min–max` of `values`, each formatted by `format`; `n/a` for none. */
function range(values: number[], format: (value: number) => string): string {
  return values.length === 0 ? 'n/a' : `${format(Math.min(...values))}–${format(Math.max(...values))}`;
}

/** Other processes' average CPU (cores) above which the report warns that the machine was not quiet. */
const OTHER_LOAD_LIMIT = 0.05;

/** The share of its core a server under load must use for its row to count as server-bound. */
const SATURATED = 0.9;

const fixed = (digits: number) => (value: number) => value.toFixed(digits);
const whole = (value: number) => Math.round(value).toLocaleString('en');
const percent = (value: number) => `${Math.round(value * 100)}%`;

/** Per-cycle ratios of `row` to `base` on `stack` (both measured in the same cycle, seconds apart). */
function ratios(measurements: Measurement[], stack: Stack, row: string, base: string): number[] {
  const of = (scenario: string, round: number) =>
    measurements.find((m) => m.stack === stack && m.scenario === scenario && m.round === round);
  return measurements
    .filter((m) => m.stack === stack && m.scenario === row)
    .flatMap((m) => {
      const reference = of(base, m.round);
      return reference ? [m.rps / reference.rps] : [];
    });
}

/** A pair's trials as throughput ratios: the base's CPU time per request over the row's (> 1: the row is cheaper). */
function pairRatios(trials: PairTrial[], stack: Stack, row: string, base: string): number[] {
  return trials.filter((t) => t.stack === stack && t.row === row && t.base === base).map((t) => t.baseCpuUs / t.rowCpuUs);
}

function version(root: string, name: string): string {
  try {
    const path = join(root, 'node_modules', name, 'package.json');
    return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

function cpuModel(): string {
  try {
    return /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
  } catch {
    return cpus()[0]?.model ?? 'unknown CPU';
  }
}

export function report(input: ReportInput): string {
  const { settings, measurements, adapters, scenarios } = input;
  const of = (stack: Stack, scenario: string) => measurements.filter((m) => m.stack === stack && m.scenario === scenario);
  const packages = [
    '@nestjs/core',
    '@nestjs/platform-express',
    'express',
    '@nestjs/platform-fastify',
    'fastify',
    'jose',
    '@nestjs/passport',
    'passport',
    'passport-jwt',
    'jwks-rsa',
  ].map((name) => `${name} ${version(input.root, name)}`);

  const ceilingRows = CEILINGS.map((scenario) => {
    const runs = of('raw', scenario.key);
    return `| ${scenario.label} | ${spread(runs.map((m) => m.rps), whole)} | ${spread(runs.map((m) => m.generatorBusy), percent)} | ${spread(runs.map((m) => m.serverBusy), percent)} |`;
  });
  const nestRuns = measurements.filter((m) => m.stack !== 'raw');
  const busiestGenerator = nestRuns.length ? Math.max(...nestRuns.map((m) => m.generatorBusy)) : 0;
  /** The fastest Nest run with `tokens`, as a share of the median ceiling `key`. */
  /** What wrk could send at ceiling `key`, extrapolated from the share of its core it needed there (median rate ÷ median busy). */
  const capacity = (key: string) => {
    const runs = of('raw', key);
    return runs.length ? median(runs.map((m) => m.rps)) / median(runs.map((m) => m.generatorBusy)) : Number.NaN;
  };
  const fastestNest = nestRuns.length ? Math.max(...nestRuns.map((m) => m.rps)) : Number.NaN;
  const shareOfCeiling = (tokens: Scenario['tokens'], key: string) => {
    const runs = nestRuns.filter((m) => scenarios.find((s) => s.key === m.scenario)?.tokens === tokens);
    const ceilings = of('raw', key);
    return runs.length && ceilings.length ? percent(Math.max(...runs.map((m) => m.rps)) / median(ceilings.map((m) => m.rps))) : 'n/a';
  };

  /** A row whose server core was not saturated: something other than the server limited it. */
  const mark = (runs: Measurement[]) => (runs.length && median(runs.map((m) => m.serverBusy)) < SATURATED ? ' †' : '');
  const throughput = adapters.flatMap((adapter) =>
    scenarios.map((scenario) => {
      const column = (base: string) =>
        base === scenario.key ? '—' : spread(ratios(measurements, adapter, scenario.key, base), fixed(2));
      return `| ${adapter} | ${scenario.label}${mark(of(adapter, scenario.key))} | ${spread(of(adapter, scenario.key).map((m) => m.rps), whole)} | ${column('unprotected')} | ${column('noop')} | ${column('jose')} | ${column('jose-identity')} | ${column('passport')} |`;
    }),
  );
  const costs = adapters.flatMap((adapter) =>
    scenarios.map((scenario) => {
      const runs = of(adapter, scenario.key);
      const cell = (pick: (m: Measurement) => number, format: (value: number) => string) =>
        runs.length ? format(median(runs.map(pick))) : 'n/a';
      return `| ${adapter} | ${scenario.label}${mark(runs)} | ${cell((m) => m.p50Ms, fixed(2))} | ${cell((m) => m.p99Ms, fixed(2))} | ${cell((m) => m.serverCpuUsPerRequest, fixed(1))} | ${cell((m) => m.serverBusy, percent)} | ${cell((m) => m.generatorBusy, percent)} | ${cell((m) => m.requests, whole)} | ${cell((m) => m.seconds, fixed(1))} |`;
    }),
  );
  const label = (key: string) => SCENARIOS.find((s) => s.key === key)?.short ?? key;
  const targets = adapters.flatMap((adapter) =>
    TARGETS.map(({ row, base, factor }) => {
      const paired = pairRatios(input.pairTrials, adapter, row, base);
      const sliced = ratios(measurements, adapter, row, base);
      const verdict = paired.length === 0 ? 'n/a' : median(paired) >= factor ? 'met' : '**missed**';
      return `| ${adapter} | ${label(row)} ≥ ${factor.toFixed(2)} × ${label(base)} | ${spread(paired, fixed(3))} | ${range(paired, fixed(3))} | ${paired.length} | ${spread(sliced, fixed(2))} | ${verdict} |`;
    }),
  );
  const instrument = adapters.map((adapter) => {
    const paired = pairRatios(input.pairTrials, adapter, 'noop-twin', 'noop');
    const sliced = ratios(measurements, adapter, 'noop-twin', 'noop');
    return `| ${adapter} | ${spread(paired, fixed(3))} | ${range(paired, fixed(3))} | ${paired.length} | ${spread(sliced, fixed(2))} | ${range(sliced, fixed(2))} | ${sliced.length} |`;
  });
  const cores = cpus().length;
  const banner = settings.quick
    ? `\n> **Quick run (\`BENCH_QUICK=1\`): ${settings.rounds} round of ${settings.cycles} cycles of ${settings.slice} s, a check that the instrument works, not a measurement.** Run \`npm run bench\` on a quiet machine for numbers.\n`
    : '';
  const { otherCores, stealCores } = input.machine;
  const busyWarning =
    otherCores > OTHER_LOAD_LIMIT
      ? ' **Something else was running** (it competed with the pinned server and wrk): treat the numbers with suspicion.'
      : '';

  return `# Benchmark results

Generated by \`npm run bench\` (bench/run.ts) on ${new Date().toISOString()}. Do not edit by hand: run it again.
${banner}
## Machine

- CPU: ${cpuModel()}, ${cores} cores; ${Math.round(totalmem() / 2 ** 30)} GiB; Linux ${release()}
- Node ${process.version}; ${input.wrkVersion}
- Packages: ${packages.join(', ')}
- While the servers were measured, other processes used ${percent(otherCores)} of a core on average (the machine's busy time
  less this script's, its servers' and wrk's, from \`/proc\`), and the hypervisor stole ${percent(stealCores)}.${busyWarning}

## Method

Each server is a child process (bench/server.ts) pinned with \`taskset\` to core ${settings.serverCpu}: a Nest app with one
global guard and two routes answering \`ok\` (\`/plain\`, and \`/identity\` with a \`@CfIdentity()\` parameter), or bare
\`node:http\` for the generator's ceiling. wrk runs pinned to core ${settings.loadCpu} (1 thread, ${settings.connections} connections),
as does this script with the Access emulator serving the key set. Every request carries a token header, on the
unprotected and no-op rows too, so every row parses the same bytes: one repeated token, or, for *unique* rows, a
token that server was never sent before (bench/wrk.lua reads each slice's tokens from a file, one per request, taken
from ${settings.uniqueTokens.toLocaleString('en')} pre-signed RS256 tokens; a slice that would reuse one fails). Any error or non-2xx answer fails the bench.

${settings.rounds} ${settings.rounds === 1 ? 'round' : 'rounds'} per adapter. A round starts a fresh server for every row and both ceilings, all on the server core
and idle until their turn (run with \`--no-memory-reducer\`, so an idle server does not collect its heap while another is
measured), and warms each up for ${settings.warmup} s (JIT, key fetch; unique rows twice as long, on warm-up tokens of
their own). Then ${settings.cycles} cycles: each loads every server of the round once for a ${settings.slice}-s slice, one after the other, each
cycle in an order of its own (a seeded shuffle: no row always follows the same one). A ratio is taken within a cycle (its two slices seconds apart, so the machine's drift
hits both alike), then the median and the interquartile range over all ${settings.rounds * settings.cycles} cycles
(the A/A section also gives the whole range). Latency is wrk's distribution; *server
CPU* is the time the scheduler ran the server's threads (\`/proc/<pid>/task/*/schedstat\`, nanoseconds) over the slice, divided by its requests; *busy* is
CPU time over wall time (~100% on the server core means the server is what limits the row).

## Generator ceiling

| ceiling | req/s | wrk core busy | server core busy |
|---|---:|---:|---:|
${ceilingRows.join('\n')}

The fastest Nest run with a repeated token reached ${shareOfCeiling('repeated', 'ceiling')} of the first ceiling, the fastest
with unique tokens ${shareOfCeiling('unique', 'ceiling-unique')} of the second; wrk's core was at most ${percent(busiestGenerator)} busy on any Nest run.
Bare \`node:http\` saturates its own core first (see *server core busy*), so a ceiling is a lower bound of what wrk can
drive: at the share of its core it needed there, wrk could send ~${whole(capacity('ceiling'))} req/s with a repeated token and
~${whole(capacity('ceiling-unique'))} with unique ones, ${fixed(1)(capacity('ceiling') / fastestNest)}× the fastest Nest slice.

## Throughput

req/s and ratios: median (25th–75th percentile) over cycles; each ratio within its cycle. † marks a row whose server core was
less than ${percent(SATURATED)} busy (median): the server did not have its core to itself, or something else limited it, so
that row measures the machine rather than the server.${measurements.some((m) => m.serverBusy < SATURATED) ? '' : ' No row is marked.'}

| adapter | scenario | req/s | × unprotected | × no-op guard | × bare jose | × bare jose + @CfIdentity() | × passport |
|---|---|---:|---:|---:|---:|---:|---:|
${throughput.join('\n')}

## Latency and CPU

Medians over slices.

| adapter | scenario | p50 ms | p99 ms | server CPU µs/req | server core busy | wrk core busy | requests/slice | s/slice |
|---|---|---:|---:|---:|---:|---:|---:|---:|
${costs.join('\n')}

## Targets (issue 14)

A target is judged on simultaneous pairs: ${settings.pairTrials} ${settings.pairTrials === 1 ? 'trial' : 'trials'} per pair and adapter, each starting both
servers fresh, warming each up alone, then loading both at once for ${settings.pairSeconds} s (both on the server core, each by its
own wrk on the load core, 50 connections each). Both see the same machine at every instant, so its drift cancels;
the scheduler splits the core between them, so the ratio is each server's CPU time per request over those same
seconds (the base's over the row's: the throughput one core would give the row, relative to the base). Met when
the median trial reaches the target. The sequential slices of the throughput table give the same ratio, with the
machine's drift between two slices in it.

| adapter | target | simultaneous pairs: median (p25–p75) | min–max | trials | sequential slices: median (p25–p75) | met |
|---|---|---:|---:|---:|---:|---|
${targets.join('\n')}

A miss with \`@CfIdentity()\` is held against a bare jose guard on the same route, which stores its payload for
\`@CfIdentity()\` to read, so both pay for the decorator; the throughput table also gives it against the bare jose
guard on \`/plain\`.

### The instrument's own spread (A/A)

Two processes of the same no-op server, measured like every other pair: any ratio above carries this much noise.

| adapter | simultaneous pairs: median (p25–p75) | min–max | trials | sequential slices: median (p25–p75) | min–max | cycles |
|---|---:|---:|---:|---:|---:|---:|
${instrument.join('\n')}

## Token cache

${input.lruSections.join('\n\n')}
`;
}
