import { CfAccessEmulator } from '../testing/index.js';
import { CliError } from './cli-error.js';
import { type DevOptions } from './dev-args.js';
import { probeTarget } from './probe-target.js';
import { edgeBanner, environmentBanner } from './startup-banner.js';

/** The signals that stop the dev command cleanly. */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** The one-line form of a start-up failure. */
function startFailure(error: unknown, port: number): CliError {
  if (error instanceof CliError) {
    return error;
  }
  if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    return new CliError(`cannot listen on 127.0.0.1:${port}: the port is in use; pick another --port`);
  }
  return new CliError(String((error as Error).message ?? error).split('\n')[0] ?? 'start-up failed');
}

/** Resolves on the first stop signal. */
function stopSignal(signals: NodeJS.EventEmitter): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      STOP_SIGNALS.forEach((name) => signals.off(name, stop));
      resolve(signal);
    };
    STOP_SIGNALS.forEach((name) => signals.on(name, stop));
  });
}

/**
 * `nestjs-cf-access dev`: starts the emulator from its state file, prints the app's two variables,
 * checks the target, starts the edge in front of it and prints the URL to open; stops both on
 * SIGINT / SIGTERM and resolves the exit code.
 * @throws CliError (one line) when it cannot start: bad state file, unreachable target, port in use.
 */
export async function runDev(options: DevOptions, write: (text: string) => void, signals: NodeJS.EventEmitter = process): Promise<number> {
  let emulator: CfAccessEmulator;
  try {
    emulator = await CfAccessEmulator.start({ state: options.state, audience: options.audience, users: options.users });
  } catch (error) {
    throw startFailure(error, options.port);
  }
  try {
    write(environmentBanner(options.target, emulator.teamDomain, emulator.audience));
    await probeTarget(options.target);
    const edge = await emulator.proxy(options.target.href, { port: options.port, bypass: options.bypass });
    write(edgeBanner(edge.url, options.users, options.bypass, options.state));
  } catch (error) {
    await emulator.close();
    throw startFailure(error, options.port);
  }
  const signal = await stopSignal(signals);
  await emulator.close();
  write(`nestjs-cf-access dev: stopped (${signal})\n`);
  return 0;
}
