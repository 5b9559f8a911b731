import 'reflect-metadata';
import { Controller, Get } from '@nestjs/common';
import { jest } from '@jest/globals';
import { type CfAccessFullIdentity, type CfAccessModuleOptions, CfFullIdentity, CfIdentity } from '../../../src/index.js';
import { type AdapterName, type RunningApp, startGuardedApp as startSupportApp } from '../../support/start-app.js';
import { CERTS_PATH } from './fault-key-server.js';

@Controller()
class EmailController {
  @Get('email')
  email(@CfIdentity('email') email: string) {
    return { email };
  }

  @Get('full')
  full(@CfFullIdentity() full: CfAccessFullIdentity) {
    return { groups: full.groups };
  }
}

export { jwt } from '../../support/start-app.js';

/** A real Nest app, guarded globally by `CfAccessModule`, with `GET /email` and `GET /full` (get-identity's groups). */
export function startGuardedApp(adapter: AdapterName, options: CfAccessModuleOptions): Promise<RunningApp> {
  return startSupportApp(adapter, options, { controllers: [EmailController] });
}

/**
 * Counts the certs fetches the library starts, on the client side (so a refused connection counts
 * too): wraps the global `fetch`, which the key store calls, and records when each certs fetch began.
 */
export function watchCertsFetches(): { times: number[]; readonly count: number; restore(): void } {
  const times: number[] = [];
  const original = globalThis.fetch;
  const spy = jest.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (new URL(url).pathname === CERTS_PATH) {
      times.push(Date.now());
    }
    return original(input, init);
  });
  return {
    times,
    get count() {
      return times.length;
    },
    restore: () => spy.mockRestore(),
  };
}

/** The smallest gap between consecutive times (Infinity for fewer than two). */
export function smallestGap(times: readonly number[]): number {
  let gap = Number.POSITIVE_INFINITY;
  for (let i = 1; i < times.length; i += 1) {
    gap = Math.min(gap, (times[i] as number) - (times[i - 1] as number));
  }
  return gap;
}
