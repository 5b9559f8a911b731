export { CfAccessEmulator } from './cf-access-emulator.js';
export { type CfAccessEdgeProxy } from './edge-proxy.js';
export { type CfAccessServiceTokenClaims, type CfAccessTokenClaims } from './emulated-team.js';
export { type CfAccessEmulatorOptions, type CfAccessEmulatorUser } from './emulator-options.js';
