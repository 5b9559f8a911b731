/** Jest in native ESM mode (NestJS 12 is ESM-only); @swc/jest transpiles TypeScript with legacy decorators. */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: {
          target: 'es2022',
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
        },
        module: { type: 'es6' },
      },
    ],
  },
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    '^nestjs-cf-access$': '<rootDir>/src/index.ts',
    '^nestjs-cf-access/testing$': '<rootDir>/src/testing/index.ts',
    '^nestjs-cf-access/health$': '<rootDir>/src/health/index.ts',
    // Jest cannot require() an ES module before Node 24.9: Mercurius's @fastify/static requires the
    // ESM-only content-disposition@3; the CJS build of v2 (installed for Express) has the same API.
    '^content-disposition$': '<rootDir>/node_modules/content-disposition/dist/index.js',
  },
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
  testTimeout: 20000,
  // Many suites mostly wait (cooldowns, retries, servers): three workers halve the run on 2 cores.
  maxWorkers: 3,
};
