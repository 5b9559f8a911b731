/**
 * One server under load, run by bench/run.ts in a child process pinned to its own core:
 * `node server.js <express|fastify|raw> <none|noop|cf-access|jose|jose-identity|passport>`, the team in
 * `BENCH_TEAM_DOMAIN` / `BENCH_AUDIENCE`. Prints `{"port":…}` once it listens; SIGTERM stops it.
 */
import 'reflect-metadata';
import { Controller, Get, type INestApplication, Module, UnauthorizedException } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { createServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import { CfAccessModule, type CfAccessIdentity, CfIdentity } from '../src/index.js';
import { JoseBaselineModule, JoseIdentityBaselineModule, joseTeam } from './jose-baseline.js';
import { NoopGuardModule } from './noop-guard.js';
import { PassportBaselineModule, team } from './passport-baseline.js';
import { type Guard, GUARDS, type Stack, STACKS } from './scenarios.js';

/** The body every route answers, and its content type (Fastify's for a string). */
const BODY = 'ok';
const CONTENT_TYPE = 'text/plain; charset=utf-8';

@Controller()
class HelloController {
  /** No parameter decorator. */
  @Get('plain')
  plain(): string {
    return BODY;
  }

  /** `@CfIdentity()`, as an app reads the identity; no identity is a 401, so a misconfigured run fails. */
  @Get('identity')
  identity(@CfIdentity() identity: CfAccessIdentity | undefined): string {
    if (identity === undefined) {
      throw new UnauthorizedException();
    }
    return BODY;
  }
}

function guardModules(guard: Guard, teamDomain: string, audience: string): unknown[] {
  Object.assign(team, { teamDomain, audience });
  Object.assign(joseTeam, { teamDomain, audience });
  switch (guard) {
    case 'none':
      return [];
    case 'noop':
      return [NoopGuardModule];
    case 'cf-access':
      return [CfAccessModule.forRoot({ teamDomain, audience, globalGuard: true })];
    case 'jose':
      return [JoseBaselineModule];
    case 'jose-identity':
      return [JoseIdentityBaselineModule];
    case 'passport':
      return [PassportBaselineModule];
  }
}

async function startNest(stack: 'express' | 'fastify', imports: unknown[]): Promise<number> {
  @Module({ imports: imports as [], controllers: [HelloController] })
  class BenchModule {}
  const app: INestApplication =
    stack === 'express'
      ? await NestFactory.create(BenchModule, new ExpressAdapter(), { logger: false })
      : await NestFactory.create<NestFastifyApplication>(BenchModule, new FastifyAdapter(), { logger: false });
  await app.listen(0, '127.0.0.1');
  return (app.getHttpServer() as { address(): AddressInfo }).address().port;
}

/** `node:http` alone, answering what the Fastify app answers: the ceiling of what the load generator can drive. */
function startRaw(): Promise<number> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': CONTENT_TYPE, 'content-length': Buffer.byteLength(BODY) });
    response.end(BODY);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

async function main(): Promise<void> {
  const [stack, guard = 'none'] = process.argv.slice(2) as [Stack, Guard?];
  if (!STACKS.includes(stack) || !GUARDS.includes(guard)) {
    throw new Error(`usage: server.js <${STACKS.join('|')}> <${GUARDS.join('|')}>`);
  }
  const teamDomain = process.env.BENCH_TEAM_DOMAIN ?? '';
  const audience = process.env.BENCH_AUDIENCE ?? '';
  const port = stack === 'raw' ? await startRaw() : await startNest(stack, guardModules(guard, teamDomain, audience));
  process.on('SIGTERM', () => process.exit(0));
  process.stdout.write(`${JSON.stringify({ port })}\n`);
}

await main();
