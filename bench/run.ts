import 'reflect-metadata';
import { Controller, Get, type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import autocannon from 'autocannon';
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from 'jose';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CfAccessModule } from '../src/index.js';
import { CfAccessEmulator } from '../src/testing/index.js';
import { JoseBaselineModule, joseTeam } from './jose-baseline.js';
import { PassportBaselineModule, team } from './passport-baseline.js';

/** Seconds each timed run lasts; the number of unique tokens; concurrent connections. */
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
/** Every scenario runs this many times, rounds interleaved; the report shows the median and the spread. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const UNIQUE_TOKENS = Number(process.env.BENCH_UNIQUE_TOKENS ?? 20_000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const ALL_ADAPTERS = ['express', 'fastify'] as const;
type Adapter = (typeof ALL_ADAPTERS)[number];
/** `BENCH_ADAPTERS=express` / `BENCH_SCENARIOS=c,e` narrow a run (for profiling); RESULTS.md wants the full run. */
const ADAPTERS = ALL_ADAPTERS.filter((adapter) => (process.env.BENCH_ADAPTERS ?? adapter).split(',').includes(adapter));
const ONLY = process.env.BENCH_SCENARIOS?.split(',');

@Controller()
class HelloController {
  @Get('hello')
  hello(): string {
    return 'ok';
  }
}

interface Scenario {
  key: 'a' | 'b' | 'c' | 'd' | 'e';
  label: string;
  imports: () => unknown[];
  tokens: 'none' | 'repeated' | 'unique';
}

interface Measurement {
  scenario: Scenario;
  adapter: Adapter;
  /** The median of the rounds' rates. */
  rps: number;
  /** Every round's rate, in run order. */
  rounds: number[];
  p50: number;
  p99: number;
  requests: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

async function startNest(adapter: Adapter, imports: unknown[]): Promise<{ url: string; app: INestApplication }> {
  @Module({ imports: imports as [], controllers: [HelloController] })
  class BenchModule {}
  const app =
    adapter === 'express'
      ? await NestFactory.create(BenchModule, new ExpressAdapter(), { logger: false })
      : await NestFactory.create<NestFastifyApplication>(BenchModule, new FastifyAdapter(), { logger: false });
  await app.listen(0, '127.0.0.1');
  return { url: (await app.getUrl()).replace('[::1]', '127.0.0.1'), app };
}

async function fire(options: autocannon.Options): Promise<autocannon.Result> {
  const result = await autocannon(options);
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(`${options.url}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`);
  }
  return result;
}

/** A run's result and its wall-clock rate (autocannon's own `duration` is in whole seconds). */
interface Run {
  result: autocannon.Result;
  rps: number;
}

async function timed(options: autocannon.Options): Promise<Run> {
  const started = performance.now();
  const result = await fire(options);
  return { result, rps: result.requests.total / ((performance.now() - started) / 1000) };
}

/** autocannon runs in one worker thread, so the load generator and the server each get a core. */
const LOAD = { connections: CONNECTIONS, workers: 1 };

async function measure(url: string, scenario: Scenario, repeated: string, pool: number): Promise<Run> {
  const target = `${url}/hello`;
  if (scenario.tokens === 'unique') {
    const setupRequest = join(process.cwd(), 'bench', 'unique-token-request.cjs');
    return timed({ ...LOAD, url: target, amount: pool, requests: [{ setupRequest: setupRequest }] });
  }
  const headers = scenario.tokens === 'repeated' ? { 'cf-access-jwt-assertion': repeated } : {};
  await fire({ ...LOAD, url: target, duration: 2, headers }); // warm-up: JIT, key fetch, caches
  return timed({ ...LOAD, url: target, duration: DURATION, headers });
}

/** jose's `jwtVerify` alone, in process, over the unique tokens, 32 at a time: the RSA floor. */
async function rawJoseRate(teamDomain: string, audience: string, pool: string[]): Promise<number> {
  const keys = createLocalJWKSet((await (await fetch(`${teamDomain}/cdn-cgi/access/certs`)).json()) as JSONWebKeySet);
  const verify = (token: string) => jwtVerify(token, keys, { issuer: teamDomain, audience, algorithms: ['RS256'] });
  await Promise.all(pool.slice(0, 500).map(verify)); // warm-up
  const started = performance.now();
  for (let i = 0; i < pool.length; i += CONNECTIONS) {
    await Promise.all(pool.slice(i, i + CONNECTIONS).map(verify));
  }
  return pool.length / ((performance.now() - started) / 1000);
}

async function signPool(emulator: CfAccessEmulator, count: number): Promise<string[]> {
  const pool: string[] = [];
  for (let i = 0; i < count; i += 64) {
    const batch = Array.from({ length: Math.min(64, count - i) }, (_, j) =>
      emulator.signToken({ email: `user${i + j}@example.com` }),
    );
    pool.push(...(await Promise.all(batch)));
  }
  return pool;
}

function version(name: string): string {
  const path = join(process.cwd(), 'node_modules', name, 'package.json');
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}

function ratio(value: number | undefined, base: number | undefined): string {
  return value && base ? (value / base).toFixed(2) : 'n/a';
}

function verdict(ok: boolean): string {
  return ok ? 'met' : '**missed**';
}

async function main(): Promise<void> {
  const emulator = await CfAccessEmulator.start();
  const { teamDomain, audience } = emulator.moduleOptions();
  Object.assign(team, { teamDomain, audience });
  Object.assign(joseTeam, { teamDomain, audience });
  const cfAccess = () => [CfAccessModule.forRoot({ teamDomain, audience, globalGuard: true })];
  const scenarios: Scenario[] = [
    { key: 'a', label: 'unprotected route', imports: () => [], tokens: 'none' },
    { key: 'b', label: 'CfAccessGuard, repeated token', imports: cfAccess, tokens: 'repeated' },
    { key: 'c', label: 'CfAccessGuard, unique token per request', imports: cfAccess, tokens: 'unique' },
    { key: 'd', label: '@nestjs/passport + passport-jwt + jwks-rsa, repeated token', imports: () => [PassportBaselineModule], tokens: 'repeated' },
    { key: 'e', label: 'bare jose jwtVerify guard, unique token per request', imports: () => [JoseBaselineModule], tokens: 'unique' },
  ];

  console.log(`Signing ${UNIQUE_TOKENS} unique tokens…`);
  const pool = await signPool(emulator, UNIQUE_TOKENS);
  const poolDir = await mkdtemp(join(tmpdir(), 'nestjs-cf-access-bench-'));
  process.env.BENCH_POOL_FILE = join(poolDir, 'tokens.json');
  writeFileSync(process.env.BENCH_POOL_FILE, JSON.stringify(pool));
  const repeated = await emulator.signToken({ email: 'repeat@example.com' });
  const measurements: Measurement[] = [];
  for (let round = 1; round <= ROUNDS; round += 1) {
    for (const adapter of ADAPTERS) {
      for (const scenario of scenarios.filter(({ key }) => !ONLY || ONLY.includes(key))) {
        const { url, app } = await startNest(adapter, scenario.imports());
        try {
          const { result, rps } = await measure(url, scenario, repeated, pool.length);
          let entry = measurements.find((m) => m.adapter === adapter && m.scenario === scenario);
          if (!entry) {
            entry = { scenario, adapter, rps, rounds: [], p50: 0, p99: 0, requests: 0 };
            measurements.push(entry);
          }
          entry.rounds.push(rps);
          entry.rps = median(entry.rounds);
          entry.p50 = Math.max(entry.p50, result.latency.p50);
          entry.p99 = Math.max(entry.p99, result.latency.p99);
          entry.requests += result.requests.total;
          console.log(`round ${round}: ${adapter} (${scenario.key}) ${scenario.label}: ${Math.round(rps)} req/s`);
        } finally {
          await app.close();
        }
      }
    }
  }
  const raw = await rawJoseRate(teamDomain, audience, pool);
  console.log(`raw jose jwtVerify: ${Math.round(raw)} verifications/s`);
  await emulator.close();
  await rm(poolDir, { recursive: true, force: true });
  if (ONLY || ADAPTERS.length < ALL_ADAPTERS.length) {
    console.log('A partial run (BENCH_ADAPTERS / BENCH_SCENARIOS): bench/RESULTS.md left as it was');
    return;
  }
  writeFileSync(join(process.cwd(), 'bench', 'RESULTS.md'), report(measurements, raw));
  console.log('Wrote bench/RESULTS.md');
}

function report(measurements: Measurement[], raw: number): string {
  const rate = (adapter: Adapter, key: Scenario['key']) =>
    measurements.find((m) => m.adapter === adapter && m.scenario.key === key)?.rps;
  const rows = measurements.map((m) => {
    const a = rate(m.adapter, 'a');
    const d = rate(m.adapter, 'd');
    const spread = `${Math.round(Math.min(...m.rounds))}–${Math.round(Math.max(...m.rounds))}`;
    return `| ${m.adapter} | (${m.scenario.key}) ${m.scenario.label} | ${Math.round(m.rps)} | ${spread} | ${m.p50} | ${m.p99} | ${m.requests} | ${ratio(m.rps, a)} | ${ratio(m.rps, d)} |`;
  });
  const targets = ADAPTERS.map((adapter) => {
    const [a = 0, b = 0, c = 0, d = 0, e = 0] = (['a', 'b', 'c', 'd', 'e'] as const).map((key) => rate(adapter, key) ?? 0);
    return [
      `| ${adapter} | (b) ≥ 0.90 × (a) | ${ratio(b, a)} | ${verdict(b >= 0.9 * a)} |`,
      `| ${adapter} | (b) ≥ 1.5 × (d) | ${ratio(b, d)} | ${verdict(b >= 1.5 * d)} |`,
      `| ${adapter} | (c) within 10% of raw jose jwtVerify (in process) | ${ratio(c, raw)} | ${verdict(c >= 0.9 * raw)} |`,
      `| ${adapter} | (c) within 10% of (e), a bare jose guard over the same HTTP stack | ${ratio(c, e)} | ${verdict(c >= 0.9 * e)} |`,
    ].join('\n');
  });
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `# Benchmark results

Generated by \`npm run bench\` on ${new Date().toISOString()}. Do not edit by hand: run it again.

- Machine: ${cpu}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB; Node ${process.version}
- Packages: @nestjs/core ${version('@nestjs/core')}, jose ${version('jose')}, @nestjs/passport ${version('@nestjs/passport')}, passport-jwt ${version('passport-jwt')}, jwks-rsa ${version('jwks-rsa')}, autocannon ${version('autocannon')}
- Method: each scenario is a fresh Nest app in this process on 127.0.0.1, one GET route returning \`ok\`, loaded by
  autocannon from a worker thread of the same process (so client and server each have a core) with ${CONNECTIONS} connections. ${ROUNDS} rounds, interleaved; the median counts. Timed runs: 2 s warm-up, then ${DURATION} s. Unique-token
  runs: ${UNIQUE_TOKENS} requests, each with a token never seen by that app (RS256, 2048-bit, signed by the local Access
  emulator). Every run must answer only 2xx, or the bench fails. Load generator and server share the machine's
  cores, so absolute numbers are low; compare the ratios.
- Raw jose: \`jwtVerify\` in process over the same ${UNIQUE_TOKENS} tokens, ${CONNECTIONS} at a time: **${Math.round(raw)} verifications/s**.

| adapter | scenario | req/s (median) | rounds (min–max) | p50 ms (worst) | p99 ms (worst) | requests | × (a) | × (d) |
|---|---|---:|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}

## Targets

| adapter | target | ratio | result |
|---|---|---:|---|
${targets.join('\n')}
`;
}

await main();
