import { type ModuleMetadata } from '@nestjs/common';
import { afterAll, afterEach, beforeAll } from '@jest/globals';
import { type CfAccessModuleOptions } from '../../src/index.js';
import { TestKeyServer } from './key-server.js';
import { type AdapterName, type RunningApp, startGuardedApp } from './start-app.js';

/** One key server for a `describe` block, and the guarded apps its tests start against it. */
export interface KeyServerApps {
  /** The key server (started in `beforeAll`). */
  readonly keys: TestKeyServer;
  /** Starts a globally guarded app for the key server's team with `metadata`; closed after the test. */
  start(options?: Partial<CfAccessModuleOptions>): Promise<RunningApp>;
}

/**
 * Registers the hooks of a `describe` block whose tests start apps on `adapter` against one
 * `TestKeyServer`: the server starts once, each test's apps close after it, and the server's
 * certs and get-identity modes are back to `ok` for the next test.
 */
export function useKeyServerApps(adapter: AdapterName, metadata: ModuleMetadata): KeyServerApps {
  let keys: TestKeyServer | undefined;
  const apps: RunningApp[] = [];
  const server = (): TestKeyServer => {
    if (!keys) {
      throw new Error('the key server starts in beforeAll');
    }
    return keys;
  };
  beforeAll(async () => {
    keys = await TestKeyServer.start();
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
    server().mode = 'ok';
    server().identityMode = 'ok';
  });
  afterAll(() => server().close());
  return {
    get keys() {
      return server();
    },
    async start(options = {}) {
      const app = await startGuardedApp(adapter, { teamDomain: server().teamDomain, audience: server().audience, ...options }, metadata);
      apps.push(app);
      return app;
    },
  };
}
