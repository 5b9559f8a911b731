import { Injectable } from '@nestjs/common';
import { type HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { CfAccessKeyStore } from '../keys/cf-access-key-store.js';

/**
 * A `@nestjs/terminus` health indicator for the team's signing keys. Checking refreshes stale or
 * missing keys when the cooldown allows, then reports:
 * `up` (keys loaded, last fetch succeeded), `degraded` (serving cached keys while the key endpoint
 * fails) or `down` (no usable key: protected routes answer 503).
 */
@Injectable()
export class CfAccessHealthIndicator {
  constructor(
    private readonly health: HealthIndicatorService,
    private readonly keys: CfAccessKeyStore,
  ) {}

  /** The indicator's result under `key` (default `cfAccess`). */
  async isHealthy<const Key extends string = 'cfAccess'>(key: Key = 'cfAccess' as Key): Promise<HealthIndicatorResult<Key>> {
    const { keys, fetchedAt, fresh, usable, lastError } = await this.keys.check();
    const session = this.health.check(key);
    const details = { keys, fetchedAt: fetchedAt ?? null, fresh, ...(lastError ? { lastError } : {}) };
    if (!usable) {
      return session.down(details);
    }
    return lastError ? session.degraded(details) : session.up(details);
  }
}
