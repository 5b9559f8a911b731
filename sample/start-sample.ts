import { NestFactory } from '@nestjs/core';
import { type LoggerService, type LogLevel } from '@nestjs/common';
import { CfAccessEmulator, type CfAccessEmulatorUser } from 'nestjs-cf-access/testing';
import { AppModule } from './app.module.js';

/** One-click logins the emulator offers on its login page. */
export const SAMPLE_USERS: CfAccessEmulatorUser[] = [
  { email: 'admin@example.com', name: 'Ada Admin', groups: ['admins'] },
  { email: 'user@example.com', name: 'Uma User', groups: ['staff'] },
];

/**
 * Paths the emulator's edge forwards without a session, as an Access bypass policy would: the
 * sample's `@Public()` health check, so it stays public through the URL to open.
 */
export const SAMPLE_BYPASS = ['/api/health'];

/** A running sample: open `url` (the emulator's login page in front of the app, or the app itself). */
export interface RunningSample {
  url: string;
  appUrl: string;
  /** Whether the local Access emulator stands in for Cloudflare. */
  emulated: boolean;
  close(): Promise<void>;
}

/** Options of `startSample`. */
export interface SampleOptions {
  /** Port of the URL to open; default 0 (a free one). */
  port?: number;
  logger?: LoggerService | LogLevel[] | false;
  env?: NodeJS.ProcessEnv;
}

/**
 * Starts the sample. With `CF_ACCESS_TEAM_DOMAIN` and `CF_ACCESS_AUD` set, it trusts that real
 * team; with neither, it starts the local Access emulator and puts its login page in front.
 */
export async function startSample({ port = 0, logger, env = process.env }: SampleOptions = {}): Promise<RunningSample> {
  const configured = [env.CF_ACCESS_TEAM_DOMAIN, env.CF_ACCESS_AUD].filter(Boolean).length;
  if (configured === 1) {
    throw new Error('Set both CF_ACCESS_TEAM_DOMAIN and CF_ACCESS_AUD, or neither to use the local Access emulator');
  }
  const emulator = configured === 0 ? await CfAccessEmulator.start({ users: SAMPLE_USERS }) : undefined;
  const fallback: Record<string, string> = emulator
    ? { CF_ACCESS_TEAM_DOMAIN: emulator.teamDomain, CF_ACCESS_AUD: emulator.audience }
    : {};
  try {
    const app = await NestFactory.create(AppModule.register(fallback), logger === undefined ? {} : { logger });
    await app.listen(emulator ? 0 : port, '127.0.0.1');
    const appUrl = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    const edge = emulator ? await emulator.proxy(appUrl, { port, bypass: SAMPLE_BYPASS }) : undefined;
    return {
      url: edge?.url ?? appUrl,
      appUrl,
      emulated: emulator !== undefined,
      close: async () => {
        await app.close();
        await emulator?.close();
      },
    };
  } catch (error) {
    await emulator?.close();
    throw error;
  }
}
