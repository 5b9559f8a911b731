import { connect } from 'node:net';
import { CliError } from './cli-error.js';

/** How long the start-up check waits for the target to accept a connection. */
export const PROBE_TIMEOUT_MS = 3000;

/**
 * Resolves once the target accepts a TCP connection (the connection is closed at once).
 * @throws CliError naming the target and the cause when it refuses, does not resolve or times out.
 */
export function probeTarget(target: URL, timeoutMs = PROBE_TIMEOUT_MS): Promise<void> {
  return new Promise((resolve, reject) => {
    const port = Number(target.port || 80);
    const socket = connect({ host: target.hostname.replace(/^\[|\]$/g, ''), port, timeout: timeoutMs });
    const fail = (cause: string) => {
      socket.destroy();
      reject(new CliError(`cannot reach --target ${target.origin} (${cause}): start your app first, or fix --target`));
    };
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('timeout', () => fail(`no answer within ${timeoutMs} ms`));
    socket.once('error', (error: NodeJS.ErrnoException) => fail(error.code ?? error.message));
  });
}
