import { randomBytes } from 'node:crypto';

/** An identity offered as a one-click login on the emulator's login page. */
export interface CfAccessEmulatorUser {
  email: string;
  name?: string;
  groups?: string[];
}

/** Options of `CfAccessEmulator.start`. */
export interface CfAccessEmulatorOptions {
  /** Interface to bind. Default `127.0.0.1`. */
  host?: string;
  /** Port to bind; `0` picks a free one. Default `0`. */
  port?: number;
  /** The application's AUD tag. Default: a random 64-hex tag. */
  audience?: string;
  /** Identities offered as one-click logins on the login page. */
  users?: CfAccessEmulatorUser[];
}

/** Emulator options with every default filled in. */
export type ResolvedEmulatorOptions = Required<CfAccessEmulatorOptions>;

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
 * Validates `CfAccessEmulator.start` options and fills in the defaults.
 * @throws Error naming the bad option.
 */
export function resolveEmulatorOptions(options: CfAccessEmulatorOptions): ResolvedEmulatorOptions {
  const { host = '127.0.0.1', port = 0, audience = randomBytes(32).toString('hex'), users = [] } = options;
  if (typeof host !== 'string' || host === '') {
    throw invalid('host', 'must be a non-empty host name or address');
  }
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw invalid('port', 'must be an integer from 0 to 65535 (0 picks a free port)');
  }
  if (typeof audience !== 'string' || audience.trim() === '') {
    throw invalid('audience', 'must be a non-empty AUD tag');
  }
  if (!Array.isArray(users)) {
    throw invalid('users', 'must be an array of { email, name?, groups? }');
  }
  return { host, port, audience, users: users.map(resolveUser) };
}
