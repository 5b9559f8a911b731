import { type INestApplication, type LoggerService, type ModuleMetadata } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { CfAccessModule, type CfAccessModuleOptions } from '../../src/index.js';

/** Headers that carry `token` the way Cloudflare forwards it. */
export const jwt = (token: string): Record<string, string> => ({ 'cf-access-jwt-assertion': token });

/** Resolves after `ms` milliseconds (for cooldowns and retries that tests wait out). */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The HTTP platforms every e2e suite runs on. */
export const ADAPTERS = ['express', 'fastify'] as const;
export type AdapterName = (typeof ADAPTERS)[number];

/** Keeps every log line in memory, so tests can assert what was (and was not) logged. */
export class CapturingLogger implements LoggerService {
  readonly lines: { level: string; message: string }[] = [];
  log(message: unknown): void {
    this.record('log', message);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.record('error', [message, ...rest].map(String).join(' '));
  }
  warn(message: unknown): void {
    this.record('warn', message);
  }
  debug(message: unknown): void {
    this.record('debug', message);
  }
  verbose(message: unknown): void {
    this.record('verbose', message);
  }
  /** Every line, as one string. */
  text(): string {
    return this.lines.map((line) => `${line.level} ${line.message}`).join('\n');
  }
  private record(level: string, message: unknown): void {
    this.lines.push({ level, message: String(message) });
  }
}

/**
 * The one logger every test app writes to: Nest's `Logger` instances forward to a process-wide
 * logger, so per-app capture would be a fiction. Clear `lines` before the request under test.
 */
export const capturedLogs = new CapturingLogger();

/** A Nest app listening on 127.0.0.1 at a free port. */
export interface RunningApp {
  app: INestApplication;
  url: string;
  logger: CapturingLogger;
  /** GET `path` with optional headers; resolves status and parsed JSON body (or text). */
  get(path: string, headers?: Record<string, string>): Promise<{ status: number; body: unknown; text: string }>;
  close(): Promise<void>;
}

/** Compiles `metadata` into a real app on the chosen platform and starts it on loopback. */
export async function startApp(adapter: AdapterName, metadata: ModuleMetadata): Promise<RunningApp> {
  const logger = capturedLogs;
  const moduleRef = await Test.createTestingModule(metadata).setLogger(logger).compile();
  const app =
    adapter === 'express'
      ? moduleRef.createNestApplication(new ExpressAdapter(), { logger })
      : moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger });
  await app.init();
  if (adapter === 'fastify') {
    await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
  }
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return {
    app,
    url,
    logger,
    async get(path, headers = {}) {
      const response = await fetch(url + path, { headers });
      const text = await response.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      return { status: response.status, body, text };
    },
    close: () => app.close(),
  };
}

/**
 * An app guarded globally by `CfAccessModule.forRoot(options)`, with `metadata`'s controllers,
 * providers and further imports.
 */
export function startGuardedApp(
  adapter: AdapterName,
  options: CfAccessModuleOptions,
  metadata: ModuleMetadata = {},
): Promise<RunningApp> {
  return startApp(adapter, {
    ...metadata,
    imports: [CfAccessModule.forRoot({ ...options, globalGuard: true }), ...(metadata.imports ?? [])],
  });
}
