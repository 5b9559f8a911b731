// Child processes for the scaffold cells: a user's shell environment, output kept for the report.
import { spawn } from 'node:child_process';
import { dirname } from 'node:path';

/** process.env without what `npm run` adds (npm_config_loglevel, npm_package_*, …), `node` first on PATH. */
export function userEnv(node) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('npm_')));
  return { ...env, PATH: `${dirname(node)}:${env.PATH}` };
}

/** Children in their own process group (so a timeout kills npm -> sh -> jest); Ctrl-C ends them too. */
const groups = new Set();
process.once('SIGINT', () => {
  groups.forEach(killGroup);
  process.exit(130);
});

/** Starts a child in its own process group. */
export function spawnGroup(command, args, options) {
  const child = spawn(command, args, { ...options, detached: true });
  groups.add(child);
  child.on('close', () => groups.delete(child));
  return child;
}

/** Kills a child of spawnGroup() and everything it started. */
export function killGroup(child) {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Runs a command; resolves { code, output } (stdout and stderr interleaved), never rejects on a non-zero exit. */
export function capture(command, args, { cwd, env, timeoutMs = 300_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawnGroup(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const append = (chunk) => (output += chunk);
    child.stdout.on('data', append);
    child.stderr.on('data', append);
    const timer = setTimeout(() => {
      output += `\n[compat] killed after ${timeoutMs / 1000}s`;
      killGroup(child);
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal, output });
    });
  });
}

/** Like capture(), but rejects with the command and its output unless it exits 0. */
export async function mustRun(command, args, options) {
  const { code, output } = await capture(command, args, options);
  if (code !== 0) {
    throw new Error(`${command} ${args.join(' ')} (in ${options?.cwd ?? process.cwd()}) exited ${code}:\n${output}`);
  }
  return output;
}
