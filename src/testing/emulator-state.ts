import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type StoredEmulatorKey } from './emulator-key-ring.js';

/** What a state file keeps so that a restarted emulator is the same team: port, AUD tag and keys. */
export interface EmulatorState {
  port: number;
  audience: string;
  /** Oldest first; the last one is the current key (at most the current and the previous). */
  keys: StoredEmulatorKey[];
}

const VERSION = 1;
const ABOUT = 'nestjs-cf-access emulator state: the private signing keys of a local test team. Keep it out of git.';

/** Thrown for a state file that exists but is not valid state; the file is left as it is. */
export class EmulatorStateError extends Error {
  constructor(path: string, why: string) {
    super(`CfAccessEmulator: the state file ${path} is not valid emulator state (${why}); fix it or delete it to start a new team`);
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isText = (value: unknown): value is string => typeof value === 'string' && value !== '';

function isStoredKey(value: unknown): value is StoredEmulatorKey {
  if (!isObject(value) || !isText(value.kid) || !isText(value.cert) || !isObject(value.privateJwk)) {
    return false;
  }
  const jwk = value.privateJwk;
  return jwk.kty === 'RSA' && ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'].every((part) => isText(jwk[part]));
}

/** The state in `text`, or the reason it is not valid state. */
function parseState(text: string): EmulatorState | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (!isObject(value)) {
    return 'not a JSON object';
  }
  if (value.version !== VERSION) {
    return `"version" must be ${VERSION}`;
  }
  const { port, audience, keys } = value;
  if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65_535) {
    return '"port" must be an integer from 1 to 65535';
  }
  if (!isText(audience)) {
    return '"audience" must be a non-empty string';
  }
  if (!Array.isArray(keys) || keys.length < 1 || keys.length > 2 || !keys.every(isStoredKey)) {
    return '"keys" must hold one or two RSA private keys as { kid, privateJwk, cert }';
  }
  return { port: port as number, audience, keys };
}

/**
 * Reads the state file at `path`: `undefined` when there is none yet.
 * @throws EmulatorStateError naming the file when it exists but is not valid state.
 */
export async function readEmulatorState(path: string): Promise<EmulatorState | undefined> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw new EmulatorStateError(file, `cannot be read: ${(error as Error).message}`);
  }
  const state = parseState(text);
  if (typeof state === 'string') {
    throw new EmulatorStateError(file, state);
  }
  return state;
}

/** Writes `state` to `path` with mode 0600 (its folder 0700 when created), replacing it in one step. */
export async function writeEmulatorState(path: string, state: EmulatorState): Promise<void> {
  const file = resolve(path);
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify({ about: ABOUT, version: VERSION, ...state }, null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, file);
}
