import { type CanActivate, type ExecutionContext, Injectable, Module, UnauthorizedException } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { createRemoteJWKSet, jwtVerify } from 'jose';

/** Where the baseline finds the team (set before the module is created). */
export const joseTeam = { teamDomain: '', audience: '' };

/** The least a guard can do with jose: `jwtVerify` against the remote JWKS, nothing else. */
@Injectable()
class BareJoseGuard implements CanActivate {
  private readonly keys = createRemoteJWKSet(new URL(`${joseTeam.teamDomain}/cdn-cgi/access/certs`));

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>();
    try {
      await jwtVerify(request.headers['cf-access-jwt-assertion'] ?? '', this.keys, {
        issuer: joseTeam.teamDomain,
        audience: joseTeam.audience,
        algorithms: ['RS256'],
      });
      return true;
    } catch {
      throw new UnauthorizedException();
    }
  }
}

/** A bare jose guard on every route: the floor any jose-based guard is measured against. */
@Module({ providers: [{ provide: APP_GUARD, useClass: BareJoseGuard }] })
export class JoseBaselineModule {}
