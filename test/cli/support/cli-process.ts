import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** Where the CLI test builds the package: inside node_modules, so the build resolves its dependencies. */
const BUILD_DIR = join(process.cwd(), 'node_modules', '.cache', `nestjs-cf-access-cli-test-${process.pid}`);

/**
 * Builds `src/` with the package's own build config (as `npm run build` does) into a private
 * folder, so the test runs the bin exactly as `dist/` ships it without touching `dist/`.
 * Resolves the built bin's path (the package.json `bin` path, relative to the build folder).
 */
export async function buildCli(binPath: string): Promise<string> {
  await mkdir(BUILD_DIR, { recursive: true });
  await promisify(execFile)(process.execPath, [
    join(process.cwd(), 'node_modules', 'typescript', 'bin', 'tsc'),
    '-p',
    'tsconfig.build.json',
    '--outDir',
    join(BUILD_DIR, 'dist'),
    '--declaration',
    'false',
  ]).catch((error: { stdout?: string }) => {
    // tsc reports type errors with exit 2 but still emits; only a missing bin is fatal here.
    if (!error.stdout) {
      throw error;
    }
  });
  return join(BUILD_DIR, binPath);
}

/** Removes the private build. */
export function removeCliBuild(): Promise<void> {
  return rm(BUILD_DIR, { recursive: true, force: true });
}

/** A port nothing listens on right now (listened on once, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A running CLI: its output so far, and ways to wait for it. */
export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout contains `text`; rejects if the process exits first or `timeoutMs` passes. */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  /** Resolves the exit code (and signal) once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the built bin with `args` in `cwd`, with a clean environment (no Jest NODE_OPTIONS). */
export function startCli(bin: string, args: string[], cwd: string): CliProcess {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const child = spawn(process.execPath, [bin, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor: (text, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${text}" within ${timeoutMs} ms; stdout: ${out}; stderr: ${err}`)), timeoutMs);
        const check = () => {
          if (out.includes(text)) {
            clearTimeout(timer);
            child.stdout?.off('data', check);
            resolve();
          }
        };
        child.stdout?.on('data', check);
        void exited.then(() => {
          clearTimeout(timer);
          if (!out.includes(text)) {
            reject(new Error(`exited before "${text}"; stdout: ${out}; stderr: ${err}`));
          }
        });
        check();
      }),
  };
}

/** Runs the built bin to its end and resolves its exit code and output. */
export async function runCli(bin: string, args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = startCli(bin, args, cwd);
  const { code } = await cli.exited;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}
