import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import {
  CF_ACCESS_IDENTITY_KEY,
  type CfAccessIdentity,
  type CfAccessRequest,
  CfAccessService,
  CfAccessUnavailableException,
} from 'nestjs-cf-access';
import { escapeHtml, layout } from './views.js';

/** Shows refusals (401/403/404/503) as a page to browsers, and Nest's JSON to everyone else. */
@Catch(HttpException)
export class HtmlErrorFilter implements ExceptionFilter {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly cfAccess: CfAccessService,
  ) {}

  async catch(exception: HttpException, host: ArgumentsHost): Promise<void> {
    const http = host.switchToHttp();
    const request = http.getRequest<CfAccessRequest>();
    const adapter = this.adapterHost.httpAdapter;
    const body = exception.getResponse();
    if (!String(request.headers.accept ?? '').includes('text/html')) {
      adapter.reply(http.getResponse(), body, exception.getStatus());
      return;
    }
    const { reason, error } = body as { reason?: string; error?: string };
    const page = layout(
      `${exception.getStatus()} ${error ?? exception.name}`,
      `<p id="error">${escapeHtml(exception.message)}</p>${reason ? `<p>Reason: <code id="reason">${escapeHtml(reason)}</code></p>` : ''}`,
      await this.signedIn(request),
    );
    adapter.setHeader(http.getResponse(), 'content-type', 'text/html; charset=utf-8');
    adapter.reply(http.getResponse(), page, exception.getStatus());
  }

  /**
   * Who is signed in: the identity the guard stored (it does so before predicates run, so a 403
   * page has it), else the request's token verified here (a 404 for an unknown route never meets
   * the guard). `undefined` for no valid token, or when the team's keys cannot be had.
   */
  private async signedIn(request: CfAccessRequest): Promise<CfAccessIdentity | undefined> {
    const verified = request[CF_ACCESS_IDENTITY_KEY];
    if (verified !== undefined) {
      return verified;
    }
    try {
      return (await this.cfAccess.authenticate(request)) ?? undefined;
    } catch (error) {
      if (error instanceof CfAccessUnavailableException) {
        return undefined; // no keys, so nobody can be shown as signed in
      }
      throw error;
    }
  }
}
