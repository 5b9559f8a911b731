import { Injectable } from '@nestjs/common';
import { CfAccessGuard, type CfAccessRequest } from '../../src/index.js';

/** The README's example of the `extractToken` seam: also accept `Authorization: Bearer <token>`. */
@Injectable()
export class BearerCfAccessGuard extends CfAccessGuard {
  protected override extractToken(request: CfAccessRequest): string | undefined {
    const auth = request.headers.authorization;
    return typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : super.extractToken(request);
  }
}
