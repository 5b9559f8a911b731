import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { escapeHtml, layout } from './views.js';

/** Shows refusals (401/403/503) as a page to browsers, and Nest's JSON to everyone else. */
@Catch(HttpException)
export class HtmlErrorFilter implements ExceptionFilter {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: HttpException, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<{ headers: Record<string, string | undefined> }>();
    const adapter = this.adapterHost.httpAdapter;
    const body = exception.getResponse();
    if (!(request.headers.accept ?? '').includes('text/html')) {
      adapter.reply(http.getResponse(), body, exception.getStatus());
      return;
    }
    const { reason, error } = body as { reason?: string; error?: string };
    const page = layout(
      `${exception.getStatus()} ${error ?? exception.name}`,
      `<p id="error">${escapeHtml(exception.message)}</p>${reason ? `<p>Reason: <code id="reason">${escapeHtml(reason)}</code></p>` : ''}`,
    );
    adapter.setHeader(http.getResponse(), 'content-type', 'text/html; charset=utf-8');
    adapter.reply(http.getResponse(), page, exception.getStatus());
  }
}
