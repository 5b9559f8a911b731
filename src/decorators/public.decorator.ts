import { SetMetadata } from '@nestjs/common';
import { CF_ACCESS_PUBLIC } from '../cf-access.constants.js';

/** Lets requests through `CfAccessGuard` without a token; on a class or handler, it wins over everything. */
export const Public = (): ClassDecorator & MethodDecorator => SetMetadata(CF_ACCESS_PUBLIC, true);
