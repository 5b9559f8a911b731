#!/usr/bin/env node
/** The `nestjs-cf-access` bin: `npx nestjs-cf-access dev --target <url>` (see `--help`). */
import { runCli } from './run-cli.js';

void runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
