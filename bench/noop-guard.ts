import { type CanActivate, type ExecutionContext, Injectable, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { CF_ACCESS_IDENTITY_KEY } from '../src/cf-access.constants.js';
import { type CfAccessIdentity } from '../src/identity/cf-access-identity.js';
import { type CfAccessRequest } from '../src/token/cf-access-request.js';

/** The identity every request gets. */
const IDENTITY: CfAccessIdentity = Object.freeze({
  aud: ['bench'],
  email: 'noop@example.com',
  exp: Number.MAX_SAFE_INTEGER,
  iat: 0,
  iss: 'https://bench.invalid',
  sub: 'noop',
});

/**
 * A guard that does nothing a guard must not: it returns `true` synchronously and stores a
 * constant identity where `CfAccessGuard` stores the verified one, so `@CfIdentity()` reads it.
 * What it costs is Nest's guard machinery and the parameter decorator, the floor of any guard.
 */
@Injectable()
class NoopGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    context.switchToHttp().getRequest<CfAccessRequest>()[CF_ACCESS_IDENTITY_KEY] = IDENTITY;
    return true;
  }
}

/** The no-op guard on every route. */
@Module({ providers: [{ provide: APP_GUARD, useClass: NoopGuard }] })
export class NoopGuardModule {}
