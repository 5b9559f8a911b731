import { CliError } from './cli-error.js';
import { parseCliArgs } from './dev-args.js';
import { runDev } from './dev-command.js';
import { HELP } from './help.js';

/**
 * Runs `nestjs-cf-access` with `argv` (the arguments after the program name) and resolves the
 * exit code; a failure is one line on stderr, never a stack trace.
 */
export async function runCli(argv: readonly string[]): Promise<number> {
  const write = (text: string) => void process.stdout.write(text);
  try {
    const command = parseCliArgs(argv);
    if (command.help) {
      write(HELP);
      return 0;
    }
    return await runDev(command.dev, write);
  } catch (error) {
    const failure = error instanceof CliError ? error : new CliError(String((error as Error).message ?? error).split('\n')[0] ?? '');
    process.stderr.write(`nestjs-cf-access: ${failure.message}\n`);
    return failure.exitCode;
  }
}
