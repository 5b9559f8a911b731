import { type CfAccessIdentity } from 'nestjs-cf-access';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** `value` made safe for HTML text and attributes. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (char) => ESCAPES[char] ?? char);
}

const STYLE = `body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#111827}
nav a{margin-right:1rem}table{border-collapse:collapse}td,th{border:1px solid #d1d5db;padding:.3rem .6rem;text-align:left}
.who{color:#4b5563}pre{background:#f3f4f6;padding:.8rem;overflow:auto}`;

/** Where "Log out" goes when the page has no `CfAccessService.logoutUrl()` at hand: the app host's own logout path. */
const APP_HOST_LOGOUT = '/cdn-cgi/access/logout';

/**
 * A full page with the sample's navigation; `identity` shows who is signed in, `logoutUrl` is the
 * navigation's "Log out" link (`CfAccessService.logoutUrl()`).
 */
export function layout(title: string, body: string, identity?: CfAccessIdentity, logoutUrl = APP_HOST_LOGOUT): string {
  const who = identity ? `Signed in as <strong>${escapeHtml(identity.email ?? identity.common_name)}</strong>` : 'Not signed in';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · nestjs-cf-access sample</title>
<style>${STYLE}</style></head><body>
<nav><a href="/">Home</a><a href="/profile">Profile</a><a href="/protected">Protected</a><a href="/admin">Admin</a>
<a href="/api/me">API</a><a href="/downstream">Downstream</a><a href="${escapeHtml(logoutUrl)}">Log out</a></nav>
<p class="who">${who}</p><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

/** The verified claims as a two-column table. */
export function claimsTable(identity: CfAccessIdentity): string {
  const rows = Object.entries(identity)
    .map(([claim, value]) => `<tr><th>${escapeHtml(claim)}</th><td>${escapeHtml(JSON.stringify(value))}</td></tr>`)
    .join('');
  return `<table id="claims">${rows}</table>`;
}
