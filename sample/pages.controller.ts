import { Controller, Get, Header, Headers, Req } from '@nestjs/common';
import {
  type CfAccessFullIdentity,
  type CfAccessIdentity,
  CfAccessService,
  CfFullIdentity,
  CfIdentity,
  inGroup,
  OptionalIdentity,
  RequireIdentity,
} from 'nestjs-cf-access';
import { claimsTable, escapeHtml, layout } from './views.js';

/** The request fields the downstream page needs (Express and Fastify both have them). */
interface IncomingRequest {
  socket: { localPort?: number };
}

/** HTML pages: every route needs a verified identity (global guard) unless marked otherwise. */
@Controller()
export class PagesController {
  constructor(private readonly cfAccess: CfAccessService) {}

  @OptionalIdentity()
  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  home(@CfIdentity() identity: CfAccessIdentity | undefined): string {
    return layout(
      'nestjs-cf-access sample',
      `<p>This app sits behind Cloudflare Access. Every page below is checked by <code>CfAccessGuard</code>.</p>
<ul><li><a href="/profile">Profile</a>: your verified identity</li><li><a href="/protected">Protected</a>: any signed-in user</li>
<li><a href="/admin">Admin</a>: members of the "admins" group only (inGroup, via get-identity)</li><li><a href="/api/me">API</a>: the same identity as JSON</li>
<li><a href="/downstream">Downstream</a>: calls another API, forwarding the verified token</li></ul>`,
      identity,
      this.cfAccess.logoutUrl(),
    );
  }

  @Get('profile')
  @Header('content-type', 'text/html; charset=utf-8')
  profile(
    @CfIdentity() identity: CfAccessIdentity,
    @CfFullIdentity() full: CfAccessFullIdentity,
    @Headers('x-forwarded-host') forwardedHost: string | undefined,
    @Headers('host') host: string,
  ): string {
    // The host the browser sees: the edge's (Cloudflare's or the emulator's proxy) when it forwards.
    const switchUser = this.cfAccess.loginUrl({ hostname: forwardedHost ?? host, redirectUrl: '/profile' });
    const groups = (full.groups ?? []).map((group) => (typeof group === 'string' ? group : (group.name ?? group.id)));
    return layout(
      'Profile',
      `<p id="email">${escapeHtml(identity.email ?? identity.common_name)}</p>
<p>From get-identity: <span id="name">${escapeHtml(full.name ?? '')}</span>, groups
<span id="groups">${escapeHtml(groups.join(', ') || 'none')}</span>, signed in with ${escapeHtml(full.idp?.type ?? 'unknown')}.</p>
<h2>Verified token claims</h2>${claimsTable(identity)}
<p><a id="logout" href="${escapeHtml(this.cfAccess.logoutUrl())}">Log out</a> ·
<a id="switch-user" href="${escapeHtml(switchUser)}">Log in as someone else</a> (after logging out)</p>`,
      identity,
      this.cfAccess.logoutUrl(),
    );
  }

  @Get('protected')
  @Header('content-type', 'text/html; charset=utf-8')
  protectedPage(@CfIdentity() identity: CfAccessIdentity): string {
    return layout('Protected', `<p>Only signed-in users see this, ${escapeHtml(identity.email)}.</p>`, identity, this.cfAccess.logoutUrl());
  }

  /** Members of the "admins" group, as get-identity reports it (the emulator's login form sets groups). */
  @Get('admin')
  @RequireIdentity(inGroup('admins'))
  @Header('content-type', 'text/html; charset=utf-8')
  admin(@CfIdentity() identity: CfAccessIdentity): string {
    return layout(
      'Admin',
      `<p id="admin-welcome">Welcome, administrator ${escapeHtml(identity.email)}.</p>`,
      identity,
      this.cfAccess.logoutUrl(),
    );
  }

  /** Forwards the token the guard verified (from the header or the cookie) to another API. */
  @Get('downstream')
  @Header('content-type', 'text/html; charset=utf-8')
  async downstream(@CfIdentity() identity: CfAccessIdentity, @Req() request: IncomingRequest): Promise<string> {
    const url = process.env.DOWNSTREAM_API_URL ?? `http://127.0.0.1:${request.socket.localPort}/api/whoami`;
    const response = await fetch(url, { headers: this.cfAccess.forwardHeaders(request) });
    const body = await response.text();
    return layout(
      'Downstream',
      `<p>Called <code>${escapeHtml(url)}</code> with your verified token; it answered ${response.status}:</p>
<pre id="downstream">${escapeHtml(body)}</pre>`,
      identity,
      this.cfAccess.logoutUrl(),
    );
  }
}
