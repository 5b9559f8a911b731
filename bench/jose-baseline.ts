import { type CanActivate, type ExecutionContext, Injectable, Module, UnauthorizedException } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { CF_ACCESS_IDENTITY_KEY } from '../src/cf-access.constants.js';
import { type CfAccessRequest } from '../src/token/cf-access-request.js';

/** Where the baseline finds the team (set before the module is created). */
export const joseTeam = { teamDomain: '', audience: '' };

/** The least a guard can do with jose: `jwtVerify` against the remote JWKS, nothing else. */
@Injectable()
class BareJoseGuard implements CanActivate {
  private readonly keys = createRemoteJWKSet(new URL(`${joseTeam.teamDomain}/cdn-cgi/access/certs`));
  /** Whether the verified payload is stored where `@CfIdentity()` reads it. */
  protected readonly storesPayload: boolean = false;

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<CfAccessRequest>();
    try {
      const { payload } = await jwtVerify(String(request.headers['cf-access-jwt-assertion'] ?? ''), this.keys, {
        issuer: joseTeam.teamDomain,
        audience: joseTeam.audience,
        algorithms: ['RS256'],
      });
      if (this.storesPayload) {
        request[CF_ACCESS_IDENTITY_KEY] = payload as CfAccessRequest[typeof CF_ACCESS_IDENTITY_KEY];
      }
      return true;
    } catch {
      throw new UnauthorizedException();
    }
  }
}

/** The same, storing the payload as the identity: the least a jose guard does for a handler that reads one. */
@Injectable()
class BareJoseIdentityGuard extends BareJoseGuard {
  protected override readonly storesPayload = true;
}

/** A bare jose guard on every route: the floor any jose-based guard is measured against. */
@Module({ providers: [{ provide: APP_GUARD, useClass: BareJoseGuard }] })
export class JoseBaselineModule {}

/** The bare jose guard that stores its payload, on every route: the floor for routes with `@CfIdentity()`. */
@Module({ providers: [{ provide: APP_GUARD, useClass: BareJoseIdentityGuard }] })
export class JoseIdentityBaselineModule {}
