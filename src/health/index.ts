export { CfAccessHealthIndicator } from './cf-access-health.indicator.js';
