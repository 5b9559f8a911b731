import { type CfAccessEmulatorUser } from './emulator-options.js';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** `text` safe to put in HTML text and attribute values. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ESCAPES[char] ?? char);
}

const STYLE = `body{font-family:system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem;color:#1f2937}
h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.5rem;box-sizing:border-box}
button{margin-top:1rem;padding:.5rem 1rem;cursor:pointer}.users form{display:inline}.users button{margin:.3rem .3rem 0 0}
.note{color:#6b7280;font-size:.85rem;margin-top:2rem}.error{color:#b91c1c}`;

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>${STYLE}</style></head>
<body>${body}<p class="note">Local Cloudflare Access emulator (nestjs-cf-access/testing). No real Cloudflare is involved.</p></body></html>`;
}

function userButton(user: CfAccessEmulatorUser, redirectUrl: string): string {
  const groups = (user.groups ?? []).join(',');
  return `<form method="post" action="/cdn-cgi/access/login">
<input type="hidden" name="email" value="${escapeHtml(user.email)}"><input type="hidden" name="groups" value="${escapeHtml(groups)}">
<input type="hidden" name="redirect_url" value="${escapeHtml(redirectUrl)}">
<button type="submit">Log in as ${escapeHtml(user.name ? `${user.name} (${user.email})` : user.email)}</button></form>`;
}

/** The login form the edge proxy shows in place of a page that needs a session. */
export function loginPage(redirectUrl: string, users: readonly CfAccessEmulatorUser[], error?: string): string {
  const quick = users.length
    ? `<div class="users"><p>Quick login:</p>${users.map((user) => userButton(user, redirectUrl)).join('\n')}</div><p>Or any identity:</p>`
    : '';
  return page(
    'Sign in · Cloudflare Access',
    `<h1>Sign in to continue</h1>${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}${quick}
<form method="post" action="/cdn-cgi/access/login">
<label for="email">Email</label><input id="email" name="email" type="email" required autocomplete="email">
<label for="groups">Groups (comma-separated, optional)</label><input id="groups" name="groups" type="text">
<input type="hidden" name="redirect_url" value="${escapeHtml(redirectUrl)}">
<button type="submit">Log in</button></form>`,
  );
}

/**
 * The page `/cdn-cgi/access/logout` answers with. On an edge proxy (`onApp`) it links back to the
 * app; on the team domain there is no app to go back to (as at Cloudflare), so it says where to go.
 */
export function loggedOutPage(onApp: boolean): string {
  const next = onApp ? '<a href="/">Log in again</a>' : 'Open your application again to log in.';
  return page(
    'Logged out · Cloudflare Access',
    `<h1>You have been logged out</h1><p>Your <code>CF_Authorization</code> cookie was cleared.</p><p>${next}</p>`,
  );
}
