import { randomBytes } from 'node:crypto';
import { isLoopbackHost } from './loopback-host.js';

/** An identity offered as a one-click login on the emulator's login page. */
export interface CfAccessEmulatorUser {
  email: string;
  name?: string;
  groups?: string[];
}

/** Options of `CfAccessEmulator.start`. */
export interface CfAccessEmulatorOptions {
  /** Interface to bind. Default `127.0.0.1`; anything but loopback needs `allowNonLoopback: true`. */
  host?: string;
  /** Port to bind; `0` picks a free one. Default `0`, or the port kept in the `state` file. */
  port?: number;
  /** The application's AUD tag. Default: the one kept in the `state` file, else a random 64-hex tag. */
  audience?: string;
  /** Identities offered as one-click logins on the login page. */
  users?: CfAccessEmulatorUser[];
  /**
   * Path of a state file (JSON, mode 0600) that keeps the port, AUD tag and signing keys across
   * restarts, so a restarted emulator signs with the same keys. Created when missing; a file that
   * is not valid state is an error, never replaced. Default: none (nothing persists).
   */
  state?: string;
  /**
   * Bind a `host` that is not loopback (e.g. `0.0.0.0`): anyone who reaches it can mint a session.
   * Development and tests only; a warning is printed. Default `false`.
   */
  allowNonLoopback?: boolean;
}

/** Emulator options with every default filled in; `port` and `audience` stay unset where a state file may supply them. */
export interface ResolvedEmulatorOptions {
  host: string;
  port: number | undefined;
  audience: string | undefined;
  users: CfAccessEmulatorUser[];
  state: string | undefined;
}

function invalid(option: string, expected: string): Error {
  return new Error(`CfAccessEmulator: "${option}" ${expected}`);
}

function resolveUser(user: unknown, index: number): CfAccessEmulatorUser {
  const record = (typeof user === 'object' && user !== null ? user : {}) as Record<string, unknown>;
  const groups = record.groups ?? [];
  const valid =
    typeof record.email === 'string' &&
    record.email.includes('@') &&
    (record.name === undefined || typeof record.name === 'string') &&
    Array.isArray(groups) &&
    groups.every((group) => typeof group === 'string');
  if (!valid) {
    throw invalid(`users[${index}]`, 'must be { email: "a@b", name?: string, groups?: string[] }');
  }
  return { email: record.email as string, name: record.name as string | undefined, groups };
}

/**
 * Validates `CfAccessEmulator.start` options and fills in the defaults (`port` and `audience`
 * stay `undefined` when not given, for the state file or the caller to decide).
 * @throws Error naming the bad option.
 */
export function resolveEmulatorOptions(options: CfAccessEmulatorOptions): ResolvedEmulatorOptions {
  const { host = '127.0.0.1', port, audience, users = [], state, allowNonLoopback = false } = options;
  if (typeof host !== 'string' || host === '') {
    throw invalid('host', 'must be a non-empty host name or address');
  }
  if (typeof allowNonLoopback !== 'boolean') {
    throw invalid('allowNonLoopback', 'must be true or false');
  }
  if (!allowNonLoopback && !isLoopbackHost(host)) {
    throw invalid(
      'host',
      `is ${host}, not a loopback address: anyone who can reach the emulator can log in as anyone. ` +
        'Pass allowNonLoopback: true to bind it anyway (development and tests only)',
    );
  }
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65_535)) {
    throw invalid('port', 'must be an integer from 0 to 65535 (0 picks a free port)');
  }
  if (audience !== undefined && (typeof audience !== 'string' || audience.trim() === '')) {
    throw invalid('audience', 'must be a non-empty AUD tag');
  }
  if (!Array.isArray(users)) {
    throw invalid('users', 'must be an array of { email, name?, groups? }');
  }
  if (state !== undefined && (typeof state !== 'string' || state === '')) {
    throw invalid('state', 'must be the path of a state file, e.g. ".cf-access-dev/state.json"');
  }
  return { host, port, audience, users: users.map(resolveUser), state };
}

/** A new random AUD tag: 64 hex digits, like Cloudflare's. */
export function randomAudience(): string {
  return randomBytes(32).toString('hex');
}
