import { type CanActivate, type ExecutionContext, HttpException, Inject, Injectable, Logger } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  CF_ACCESS_IDENTITY_KEY,
  CF_ACCESS_OPTIONAL,
  CF_ACCESS_OPTIONS,
  CF_ACCESS_PUBLIC,
} from './cf-access.constants.js';
import { CfAccessForbiddenException, CfAccessUnauthorizedException, describeError, reasonOf } from './cf-access.errors.js';
import { type ResolvedCfAccessOptions } from './cf-access.options.js';
import { CfAccessService } from './cf-access.service.js';
import {
  type CfAccessPredicate,
  type CfAccessPredicateTools,
  requirementsOf,
} from './decorators/require-identity.decorator.js';
import { type CfAccessFullIdentity } from './identity/cf-access-full-identity.js';
import { type CfAccessIdentity, isServiceTokenIdentity } from './identity/cf-access-identity.js';
import {
  fullIdentityOf,
  rememberAccess,
  rememberAnonymous,
  userLookupOf,
  type VerifiedAccess,
} from './identity/request-access.js';
import { CfAccessMetrics } from './metrics/cf-access-metrics.js';
import { type CfAccessRequest } from './token/cf-access-request.js';
import { errorForContext } from './token/context-error.js';
import { extractToken } from './token/extract-token.js';
import { requestFromContext } from './token/request-from-context.js';
import { type CfAccessUserResolver } from './users/cf-access-user-resolver.js';
import { CfAccessUsers } from './users/cf-access-users.js';

/**
 * Admits a request only with a verified Cloudflare Access identity, honouring `@Public()` and
 * `@OptionalIdentity()` (handler metadata first, then class), the `userResolver`'s app user (once
 * per request, before predicates) and every `@RequireIdentity()` predicate (base classes', the
 * class's, then the handler's).
 * Use it with `@UseGuards(CfAccessGuard)` or globally (`globalGuard: true`); subclass it and
 * override `getRequest` / `extractToken` for other transports or token locations.
 */
@Injectable()
export class CfAccessGuard implements CanActivate {
  protected readonly logger = new Logger(CfAccessGuard.name);
  /**
   * The app's `userResolver`, if any. Injected as a property, so subclasses' own constructors need
   * not pass it on to `super(...)`.
   */
  @Inject(CfAccessUsers) protected readonly users!: CfAccessUsers;
  private readonly policies = new WeakMap<object, WeakMap<object, RoutePolicy>>();

  constructor(
    protected readonly reflector: Reflector,
    protected readonly cfAccess: CfAccessService,
    @Inject(CF_ACCESS_OPTIONS) protected readonly options: ResolvedCfAccessOptions,
    protected readonly metrics: CfAccessMetrics,
  ) {}

  /**
   * Stores the identity on the request and returns `true`, or throws. A token verified before, on a
   * route without predicates and without a `userResolver`, is admitted synchronously (no promise).
   * @throws CfAccessUnauthorizedException (401) for a missing or invalid token.
   * @throws CfAccessForbiddenException (403) when a predicate or `allowServiceTokens: false` refuses.
   * @throws CfAccessUnavailableException (503) when the team's keys cannot be had.
   */
  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const policy = this.policyOf(context);
    if (policy.isPublic) {
      return true;
    }
    let request: CfAccessRequest;
    let token: string | undefined;
    try {
      request = this.getRequest(context);
      token = this.extractToken(request);
    } catch (error) {
      return this.refuse(context, policy.route, error); // a rejected promise, never a synchronous throw
    }
    return this.admitCached(request, token, policy) || this.judge(context, request, token, policy);
  }

  /** The fast path: admits a cached token that nothing else (predicates, `userResolver`, `allowServiceTokens`) must judge. */
  private admitCached(request: CfAccessRequest, token: string | undefined, policy: RoutePolicy): boolean {
    if (token === undefined || policy.predicates.length > 0 || this.users.resolver !== undefined) {
      return false;
    }
    const identity = this.cfAccess.cachedIdentity(token);
    if (identity === undefined || (!this.options.allowServiceTokens && isServiceTokenIdentity(identity))) {
      return false;
    }
    request[CF_ACCESS_IDENTITY_KEY] = identity;
    rememberAccess(request, { token, identity });
    return true;
  }

  private async judge(context: ExecutionContext, request: CfAccessRequest, token: string | undefined, policy: RoutePolicy): Promise<boolean> {
    const { optional, predicates, route } = policy;
    try {
      const identity = optional ? await this.identifyOptionally(token, route) : this.admit(await this.identify(token));
      request[CF_ACCESS_IDENTITY_KEY] = identity; // before the user lookup: a refusal's error page can tell who signed in
      let access: VerifiedAccess | undefined = identity === undefined || token === undefined ? undefined : { token, identity };
      if (access !== undefined && this.users.resolver !== undefined) {
        access = await this.withUser(request, access, context, this.users.resolver, optional, route);
      }
      this.remember(request, access);
      if (access !== undefined && predicates.length > 0) {
        await this.checkAll(predicates, access, context, request, route);
      }
    } catch (error) {
      return this.refuse(context, route, error);
    }
    return true;
  }

  /** Logs and counts a refusal, then throws it in the shape of the context (HTTP, GraphQL, WebSocket). */
  private async refuse(context: ExecutionContext, route: string, error: unknown): Promise<never> {
    if (error instanceof HttpException) {
      const reason = reasonOf(error);
      this.logger.debug(`Refused ${route}: ${error.getStatus()} ${reason ?? error.message}`);
      if (reason !== undefined) {
        this.metrics.record({ reason, status: error.getStatus(), route, contextType: context.getType() });
      }
    }
    throw await errorForContext(context, error);
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

  /**
   * `access` with the app user of its identity from `resolver`: `undefined` (anonymous) for an
   * identity without a user on an `@OptionalIdentity()` route. The user is looked up once per
   * request (every guard run for it shares the lookup); on WebSockets, whose handshake outlives a
   * message, once per message.
   * @throws CfAccessForbiddenException `user_not_found` for an identity without a user on other routes.
   * @throws as `resolveUser`.
   */
  private async withUser(
    request: CfAccessRequest,
    access: VerifiedAccess,
    context: ExecutionContext,
    resolver: CfAccessUserResolver,
    optional: boolean,
    route: string,
  ): Promise<VerifiedAccess | undefined> {
    const lookup = () => this.resolveUser(resolver, access.identity, context, route);
    const user = await (context.getType() === 'ws' ? lookup() : userLookupOf(request, access.token, lookup));
    if (user !== null) {
      return { ...access, user };
    }
    if (!optional) {
      throw new CfAccessForbiddenException('user_not_found');
    }
    this.logger.debug(`Anonymous on ${route}: user_not_found`);
    return undefined;
  }

  /**
   * The resolver's user for `identity`, `null` when it has none (`undefined` counts as `null`).
   * @throws the resolver's `HttpException`, as is.
   * @throws CfAccessForbiddenException `user_resolver_error` when the resolver throws anything else.
   */
  private async resolveUser(
    resolver: CfAccessUserResolver,
    identity: CfAccessIdentity,
    context: ExecutionContext,
    route: string,
  ): Promise<unknown> {
    try {
      return (await resolver.resolve(identity, context)) ?? null;
    } catch (error) {
      if (error instanceof HttpException) {
        throw error;
      }
      this.logger.warn(`The userResolver threw on ${route}: ${describeError(error)}`);
      throw new CfAccessForbiddenException('user_resolver_error');
    }
  }

  /**
   * Stores what the guard admitted on the request (`undefined`: anonymous). With a `userResolver`,
   * `request.user` is the app user, or `undefined` when anonymous (also on a reused WebSocket handshake).
   */
  private remember(request: CfAccessRequest, access: VerifiedAccess | undefined): void {
    request[CF_ACCESS_IDENTITY_KEY] = access?.identity;
    if (this.users.resolver !== undefined) {
      Object.assign(request, { user: access?.user });
    }
    if (access === undefined) {
      rememberAnonymous(request);
    } else {
      rememberAccess(request, access);
    }
  }

  private async checkAll(
    predicates: CfAccessPredicate[],
    access: VerifiedAccess,
    context: ExecutionContext,
    request: CfAccessRequest,
    route: string,
  ): Promise<void> {
    const tools: CfAccessPredicateTools = {
      fullIdentity: () => fullIdentityOf(request, this.loadFullIdentity) as Promise<CfAccessFullIdentity>,
      user: <TUser>() => access.user as TUser | undefined,
    };
    for (const predicate of predicates) {
      await this.check(predicate, access.identity, context, tools, route);
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

