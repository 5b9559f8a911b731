import { type CanActivate, type ExecutionContext, HttpException, Inject, Injectable, Logger } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  CF_ACCESS_IDENTITY_KEY,
  CF_ACCESS_OPTIONAL,
  CF_ACCESS_OPTIONS,
  CF_ACCESS_PUBLIC,
} from './cf-access.constants.js';
import { CfAccessForbiddenException, CfAccessUnauthorizedException, reasonOf } from './cf-access.errors.js';
import { type ResolvedCfAccessOptions } from './cf-access.options.js';
import { CfAccessService } from './cf-access.service.js';
import {
  type CfAccessPredicate,
  type CfAccessPredicateTools,
  requirementsOf,
} from './decorators/require-identity.decorator.js';
import { type CfAccessFullIdentity } from './identity/cf-access-full-identity.js';
import { type CfAccessIdentity, isServiceTokenIdentity } from './identity/cf-access-identity.js';
import { fullIdentityOf, rememberAccess, rememberAnonymous } from './identity/request-access.js';
import { CfAccessMetrics } from './metrics/cf-access-metrics.js';
import { type CfAccessRequest } from './token/cf-access-request.js';
import { errorForContext } from './token/context-error.js';
import { extractToken } from './token/extract-token.js';
import { requestFromContext } from './token/request-from-context.js';

/**
 * Admits a request only with a verified Cloudflare Access identity, honouring `@Public()` and
 * `@OptionalIdentity()` (handler metadata first, then class) and every `@RequireIdentity()`
 * predicate (base classes', the class's, then the handler's).
 * Use it with `@UseGuards(CfAccessGuard)` or globally (`globalGuard: true`); subclass it and
 * override `getRequest` / `extractToken` for other transports or token locations.
 */
@Injectable()
export class CfAccessGuard implements CanActivate {
  protected readonly logger = new Logger(CfAccessGuard.name);
  private readonly policies = new WeakMap<object, WeakMap<object, RoutePolicy>>();

  constructor(
    protected readonly reflector: Reflector,
    protected readonly cfAccess: CfAccessService,
    @Inject(CF_ACCESS_OPTIONS) protected readonly options: ResolvedCfAccessOptions,
    protected readonly metrics: CfAccessMetrics,
  ) {}

  /**
   * Stores the identity on the request and returns `true`, or throws.
   * @throws CfAccessUnauthorizedException (401) for a missing or invalid token.
   * @throws CfAccessForbiddenException (403) when a predicate or `allowServiceTokens: false` refuses.
   * @throws CfAccessUnavailableException (503) when the team's keys cannot be had.
   */
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const { isPublic, optional, predicates, route } = this.policyOf(context);
    if (isPublic) {
      return true;
    }
    const request = this.getRequest(context);
    try {
      const token = this.extractToken(request);
      const identity = optional ? await this.identifyOptionally(token, route) : this.admit(await this.identify(token));
      request[CF_ACCESS_IDENTITY_KEY] = identity;
      if (identity !== undefined && token !== undefined) {
        rememberAccess(request, token, identity);
        await this.checkAll(predicates, identity, context, request, route);
      } else {
        rememberAnonymous(request);
      }
    } catch (error) {
      if (error instanceof HttpException) {
        this.logger.debug(`Refused ${route}: ${error.getStatus()} ${reasonOf(error) ?? error.message}`);
        const reason = reasonOf(error);
        if (reason !== undefined) {
          this.metrics.record({ reason, status: error.getStatus(), route, contextType: context.getType() });
        }
      }
      throw await errorForContext(context, error);
    }
    return true;
  }

  /**
   * The request that carries the token for this execution context: HTTP, GraphQL (`context.req`)
   * or WebSocket (socket.io handshake, or `client.request`).
   * @throws Error for context types it does not know (e.g. `rpc`), so they are never let through by accident.
   */
  protected getRequest(context: ExecutionContext): CfAccessRequest {
    return requestFromContext(context);
  }

  /** The raw token from the configured `tokenSources`, or `undefined` when none is present. */
  protected extractToken(request: CfAccessRequest): string | undefined {
    return extractToken(request, this.options.tokenSources);
  }

  /** The route's decorators, read once per controller and handler (metadata is fixed after start-up). */
  private policyOf(context: ExecutionContext): RoutePolicy {
    const controller = context.getClass();
    const handler = context.getHandler();
    let byHandler = this.policies.get(controller);
    if (!byHandler) {
      byHandler = new WeakMap();
      this.policies.set(controller, byHandler);
    }
    let policy = byHandler.get(handler);
    if (!policy) {
      const targets = [handler, controller];
      const predicates = requirementsOf(controller, handler);
      policy = {
        isPublic: this.reflector.getAllAndOverride<boolean | undefined>(CF_ACCESS_PUBLIC, targets) === true,
        optional:
          predicates.length === 0 &&
          this.reflector.getAllAndOverride<boolean | undefined>(CF_ACCESS_OPTIONAL, targets) === true,
        predicates,
        route: `${controller.name}.${handler.name}`,
      };
      byHandler.set(handler, policy);
    }
    return policy;
  }

  /** The verified identity of `token` (a promise; no async frame of its own on the hot path). */
  private identify(token: string | undefined): Promise<CfAccessIdentity> {
    if (token === undefined) {
      throw new CfAccessUnauthorizedException('missing_token');
    }
    return this.cfAccess.verify(token);
  }

  /** `identity`, if the guard's own policy admits it (`allowServiceTokens`). */
  private admit(identity: CfAccessIdentity): CfAccessIdentity {
    if (!this.options.allowServiceTokens && isServiceTokenIdentity(identity)) {
      throw new CfAccessForbiddenException('service_token_not_allowed');
    }
    return identity;
  }

  private async identifyOptionally(token: string | undefined, route: string): Promise<CfAccessIdentity | undefined> {
    try {
      return this.admit(await this.identify(token));
    } catch (error) {
      if (!(error instanceof HttpException)) {
        throw error;
      }
      this.logger.debug(`Anonymous on ${route}: ${reasonOf(error) ?? error.message}`);
      return undefined;
    }
  }

  private async checkAll(
    predicates: CfAccessPredicate[],
    identity: CfAccessIdentity,
    context: ExecutionContext,
    request: CfAccessRequest,
    route: string,
  ): Promise<void> {
    if (predicates.length === 0) {
      return;
    }
    const tools: CfAccessPredicateTools = {
      fullIdentity: () => fullIdentityOf(request, this.loadFullIdentity) as Promise<CfAccessFullIdentity>,
    };
    for (const predicate of predicates) {
      await this.check(predicate, identity, context, tools, route);
    }
  }

  private readonly loadFullIdentity = (token: string, identity: CfAccessIdentity) =>
    this.cfAccess.fullIdentity(token, identity);

  private async check(
    predicate: CfAccessPredicate,
    identity: CfAccessIdentity,
    context: ExecutionContext,
    tools: CfAccessPredicateTools,
    route: string,
  ): Promise<void> {
    let allowed: boolean;
    try {
      allowed = await predicate(identity, context, tools);
    } catch (error) {
      if (error instanceof HttpException) {
        throw error;
      }
      this.logger.warn(`A @RequireIdentity predicate threw on ${route}: ${String(error)}`);
      throw new CfAccessForbiddenException('predicate_error');
    }
    if (allowed !== true) {
      throw new CfAccessForbiddenException('identity_rejected');
    }
  }
}

/** What the decorators say about one route. */
interface RoutePolicy {
  isPublic: boolean;
  optional: boolean;
  predicates: CfAccessPredicate[];
  /** `Controller.handler`, for logs and metrics. */
  route: string;
}

