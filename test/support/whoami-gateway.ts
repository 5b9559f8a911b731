import { UseGuards } from '@nestjs/common';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { CfAccessGuard, CfIdentity } from '../../src/index.js';

/** A guarded socket.io gateway: `whoami` answers the verified email of the connection. */
@WebSocketGateway()
@UseGuards(CfAccessGuard)
export class WhoamiGateway {
  @SubscribeMessage('whoami')
  whoami(@CfIdentity('email') email: string): string {
    return email;
  }
}
