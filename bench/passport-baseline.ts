import { Injectable, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuthGuard, PassportModule, PassportStrategy } from '@nestjs/passport';
import { passportJwtSecret } from 'jwks-rsa';
import { ExtractJwt, Strategy } from 'passport-jwt';

/** Where the baseline finds the team (set before the module is created). */
export const team = { teamDomain: '', audience: '' };

/**
 * The common Nest stack, configured the way the @nestjs/passport, passport-jwt and jwks-rsa docs
 * show: a JWT strategy whose key comes from the team's JWKS with caching and rate limiting.
 */
@Injectable()
class CloudflareJwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor() {
    super({
      secretOrKeyProvider: passportJwtSecret({
        cache: true,
        rateLimit: true,
        jwksRequestsPerMinute: 5,
        jwksUri: `${team.teamDomain}/cdn-cgi/access/certs`,
      }),
      jwtFromRequest: ExtractJwt.fromHeader('cf-access-jwt-assertion'),
      audience: team.audience,
      issuer: team.teamDomain,
      algorithms: ['RS256'],
    });
  }

  validate(payload: Record<string, unknown>): Record<string, unknown> {
    return payload;
  }
}

/** Passport's JWT guard on every route. */
@Module({
  imports: [PassportModule],
  providers: [CloudflareJwtStrategy, { provide: APP_GUARD, useClass: AuthGuard('jwt') }],
})
export class PassportBaselineModule {}
