import { createParamDecorator, type ExecutionContext, Injectable, type PipeTransform } from '@nestjs/common';
import { CfAccessService } from '../cf-access.service.js';
import { type CfAccessFullIdentity } from '../identity/cf-access-full-identity.js';
import { type CfAccessRequest } from '../token/cf-access-request.js';
import { requestFromContext } from '../token/request-from-context.js';

/** Resolves a request into its full identity through `CfAccessService.getIdentity`. */
@Injectable()
export class CfFullIdentityPipe implements PipeTransform<CfAccessRequest, Promise<CfAccessFullIdentity | undefined>> {
  constructor(private readonly cfAccess: CfAccessService) {}

  async transform(request: CfAccessRequest): Promise<CfAccessFullIdentity | undefined> {
    return (await this.cfAccess.getIdentity(request)) ?? undefined;
  }
}

const CfAccessRequestParam = createParamDecorator((_data: unknown, context: ExecutionContext) =>
  requestFromContext(context),
);

/**
 * Injects the full identity from get-identity (`CfAccessFullIdentity`: groups, IdP data, geo, …),
 * cached per identity; `undefined` on anonymous requests.
 */
export const CfFullIdentity = (): ParameterDecorator => CfAccessRequestParam(undefined, CfFullIdentityPipe);
