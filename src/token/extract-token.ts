import { type CfAccessTokenSource } from '../cf-access.options.js';
import { type CfAccessRequest } from './cf-access-request.js';

/** The value of cookie `name` in a Cookie header: its first occurrence, unquoted. */
export function readCookie(cookieHeader: string, name: string): string | undefined {
  for (const pair of cookieHeader.split(';')) {
    const separator = pair.indexOf('=');
    if (separator !== -1 && trimHttpWhitespace(pair.slice(0, separator)) === name) {
      const value = trimHttpWhitespace(pair.slice(separator + 1));
      return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
    }
  }
  return undefined;
}

/** A header's value; repeated headers are joined as Node joins them (`; ` for Cookie, `, ` otherwise). */
function headerValue(request: CfAccessRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(name === 'cookie' ? '; ' : ', ') : value;
}

/** `value` without the spaces and tabs HTTP allows around a field value (not every Unicode space). */
function trimHttpWhitespace(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && isHttpSpace(value.charCodeAt(start))) {
    start += 1;
  }
  while (end > start && isHttpSpace(value.charCodeAt(end - 1))) {
    end -= 1;
  }
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

function isHttpSpace(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

function readSource(request: CfAccessRequest, source: CfAccessTokenSource): string | undefined {
  if ('header' in source) {
    return headerValue(request, source.header);
  }
  const cookies = headerValue(request, 'cookie');
  return cookies === undefined ? undefined : readCookie(cookies, source.cookie);
}

/**
 * The token from the first source that is present; later sources are never consulted, so a bad
 * header token is never rescued by a good cookie. Empty or whitespace-only values count as absent.
 */
export function extractToken(request: CfAccessRequest, sources: readonly CfAccessTokenSource[]): string | undefined {
  for (const source of sources) {
    const value = readSource(request, source);
    const token = value === undefined ? undefined : trimHttpWhitespace(value);
    if (token) {
      return token;
    }
  }
  return undefined;
}
