import { SetMetadata } from '@nestjs/common';
import { CF_ACCESS_OPTIONAL } from '../cf-access.constants.js';

/**
 * No token needed: a valid token still yields an identity; a missing or invalid one (or keys
 * that cannot be fetched) means anonymous, and `@CfIdentity()` is `undefined`.
 */
export const OptionalIdentity = (): ClassDecorator & MethodDecorator => SetMetadata(CF_ACCESS_OPTIONAL, true);
