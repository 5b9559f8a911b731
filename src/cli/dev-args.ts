import { parseArgs } from 'node:util';
import { resolveBypassPaths } from '../testing/edge-bypass.js';
import { type CfAccessEmulatorUser } from '../testing/index.js';
import { CliError } from './cli-error.js';

/** The edge's port when `--port` is not given: fixed, so the URL to open stays the same. */
export const DEFAULT_EDGE_PORT = 8787;
/** The state file when `--state` is not given, relative to the working directory. */
export const DEFAULT_STATE_FILE = '.cf-access-dev/state.json';

/** What `nestjs-cf-access dev` was asked to do. */
export interface DevOptions {
  target: URL;
  port: number;
  audience: string | undefined;
  users: CfAccessEmulatorUser[];
  bypass: string[];
  state: string;
}

/** The parsed command line: help, or the dev command's options. */
export type CliCommand = { help: true } | { help: false; dev: DevOptions };

const OPTIONS = {
  target: { type: 'string' },
  port: { type: 'string' },
  audience: { type: 'string' },
  user: { type: 'string', multiple: true },
  bypass: { type: 'string', multiple: true },
  state: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const EMAIL = /^[^\s@:]+@[^\s@:]+$/;

/** `parseArgs`' message, reduced to its first sentence and pointed at --help. */
function usageError(error: unknown): CliError {
  const code = (error as { code?: string }).code;
  const message = String((error as Error).message);
  const unknown = /^Unknown option '([^']+)'/.exec(message);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown) {
    return new CliError(`unknown option ${unknown[1]} (see --help)`);
  }
  return new CliError(`${message.split(/\.\s/)[0]?.replace(/\.$/, '')} (see --help)`);
}

function parseTarget(value: string | undefined): URL {
  if (value === undefined) {
    throw new CliError('--target is required, e.g. --target http://127.0.0.1:3000 (see --help)');
  }
  let target: URL;
  try {
    target = new URL(value);
  } catch {
    throw new CliError(`--target must be a URL such as http://127.0.0.1:3000, got "${value}"`);
  }
  if (target.protocol !== 'http:') {
    throw new CliError(`--target must be an http:// URL (the app behind the edge), got "${value}"`);
  }
  return target;
}

function parsePort(value: string | undefined): number {
  if (value === undefined) {
    return DEFAULT_EDGE_PORT;
  }
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65_535) {
    throw new CliError(`--port must be an integer from 1 to 65535, got "${value}"`);
  }
  return port;
}

function parseUser(value: string): CfAccessEmulatorUser {
  const separator = value.indexOf(':');
  const email = separator === -1 ? value : value.slice(0, separator);
  const groups = separator === -1 ? [] : value.slice(separator + 1).split(',').map((group) => group.trim()).filter(Boolean);
  if (!EMAIL.test(email)) {
    throw new CliError(`--user must be email[:group,group], e.g. --user ada@example.com:admins, got "${value}"`);
  }
  return { email, groups };
}

function parseBypass(value: string): string {
  try {
    resolveBypassPaths([value]);
  } catch {
    throw new CliError(`--bypass must be a path such as /api/health (one leading /, no query, fragment or wildcard), got "${value}"`);
  }
  return value;
}

/**
 * Parses `nestjs-cf-access` arguments with `node:util` `parseArgs`.
 * @throws CliError (one line) for an unknown command or flag, a missing or bad value.
 */
export function parseCliArgs(argv: readonly string[]): CliCommand {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw usageError(error);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    return { help: true };
  }
  const [command, ...extra] = positionals;
  if (command !== 'dev') {
    throw new CliError(command === undefined ? 'missing command: use "nestjs-cf-access dev --target <url>" (see --help)' : `unknown command "${command}" (the only command is "dev"; see --help)`);
  }
  if (extra.length > 0) {
    throw new CliError(`unexpected argument "${extra[0]}" (see --help)`);
  }
  if (values.audience !== undefined && values.audience.trim() === '') {
    throw new CliError('--audience must be a non-empty AUD tag');
  }
  if (values.state !== undefined && values.state === '') {
    throw new CliError('--state must be a file path');
  }
  return {
    help: false,
    dev: {
      target: parseTarget(values.target),
      port: parsePort(values.port),
      audience: values.audience,
      users: (values.user ?? []).map(parseUser),
      bypass: (values.bypass ?? []).map(parseBypass),
      state: values.state ?? DEFAULT_STATE_FILE,
    },
  };
}
