/** Exit code for every failure to start: a bad flag, an unreachable target, a bad state file, a busy port. */
export const EXIT_START_FAILURE = 2;

/** A failure the CLI reports as one line on stderr (no stack trace), exiting with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_START_FAILURE,
  ) {
    super(message);
  }
}
