import { Controller, Get } from '@nestjs/common';
import { type CfAccessIdentity, CfIdentity, isServiceTokenIdentity, Public } from 'nestjs-cf-access';

/** A JSON API behind the same guard; machine clients (service tokens) are welcome too. */
@Controller('api')
export class ApiController {
  @Get('me')
  me(@CfIdentity() identity: CfAccessIdentity): CfAccessIdentity {
    return identity;
  }

  /** What a downstream service sees when another service forwards the user's token. */
  @Get('whoami')
  whoami(@CfIdentity() identity: CfAccessIdentity) {
    return { kind: isServiceTokenIdentity(identity) ? 'service' : 'user', subject: identity.email ?? identity.common_name };
  }

  @Public()
  @Get('health')
  health() {
    return { status: 'ok' };
  }
}
