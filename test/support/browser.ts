import { existsSync } from 'node:fs';
import { describe, it } from '@jest/globals';
import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium, the one browser the tests use (never a downloaded one). */
const CHROMIUM = '/usr/bin/chromium';

/**
 * `describe` when Chromium is installed; otherwise `describe.skip`, with the reason kept visible
 * in Jest's output (its reporter prints nothing, not even a warning, for a file whose tests are
 * all skipped, so a todo entry carries the reason). In CI (`CI` set) a missing Chromium fails.
 * @throws Error in CI when Chromium is missing.
 */
export function describeWithChromium(what: string): (name: string, suite: () => void) => void {
  if (existsSync(CHROMIUM)) {
    return describe;
  }
  if (process.env.CI) {
    throw new Error(`${CHROMIUM} is missing: .ci/run must install Debian's chromium package`);
  }
  const why = `skipped: ${CHROMIUM} not found (as root: apt-get update && apt-get install -y chromium)`;
  console.warn(`The ${what} is ${why}`);
  it.todo(`${what} ${why}`);
  return describe.skip;
}

/** Headless Chromium with the flags this machine needs (no sandbox as root, no background networking). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}
