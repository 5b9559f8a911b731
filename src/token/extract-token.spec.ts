import { describe, expect, it } from '@jest/globals';
import { CF_ACCESS_DEFAULTS } from '../cf-access.constants.js';
import { type CfAccessTokenSource } from '../cf-access.options.js';
import { type CfAccessRequest } from './cf-access-request.js';
import { extractToken, readCookie } from './extract-token.js';

const DEFAULT_SOURCES = CF_ACCESS_DEFAULTS.tokenSources;
const HEADER = 'cf-access-jwt-assertion';

function request(headers: CfAccessRequest['headers']): CfAccessRequest {
  return { headers };
}

describe('readCookie', () => {
  it('reads the only cookie of a header', () => {
    expect(readCookie('CF_Authorization=abc.def.ghi', 'CF_Authorization')).toBe('abc.def.ghi');
  });

  it('reads a cookie among others, with or without spaces after the separators', () => {
    expect(readCookie('a=1; CF_Authorization=tok; b=2', 'CF_Authorization')).toBe('tok');
    expect(readCookie('a=1;CF_Authorization=tok;b=2', 'CF_Authorization')).toBe('tok');
  });

  it('trims spaces around the name and the value', () => {
    expect(readCookie('a=1;   CF_Authorization =  tok  ; b=2', 'CF_Authorization')).toBe('tok');
  });

  it('removes the double quotes around a quoted value', () => {
    expect(readCookie('CF_Authorization="abc.def.ghi"', 'CF_Authorization')).toBe('abc.def.ghi');
  });

  it('keeps a lone double quote as it is', () => {
    expect(readCookie('CF_Authorization="', 'CF_Authorization')).toBe('"');
  });

  it('returns an empty quoted value as the empty string', () => {
    expect(readCookie('CF_Authorization=""', 'CF_Authorization')).toBe('');
  });

  it('keeps "=" inside the value', () => {
    expect(readCookie('CF_Authorization=a=b=c', 'CF_Authorization')).toBe('a=b=c');
  });

  it('does not match a cookie whose name merely ends with the name', () => {
    expect(readCookie('xCF_Authorization=evil', 'CF_Authorization')).toBeUndefined();
    expect(readCookie('xCF_Authorization=evil; CF_Authorization=good', 'CF_Authorization')).toBe('good');
  });

  it('does not match a cookie whose name merely starts with the name', () => {
    expect(readCookie('CF_Authorization2=evil; CF_Authorization=good', 'CF_Authorization')).toBe('good');
  });

  it('does not match the name when it appears only inside another cookie value', () => {
    expect(readCookie('other=CF_Authorization=evil', 'CF_Authorization')).toBeUndefined();
  });

  it('compares names case-sensitively', () => {
    expect(readCookie('cf_authorization=tok', 'CF_Authorization')).toBeUndefined();
  });

  it('returns the first occurrence of a duplicated cookie', () => {
    expect(readCookie('CF_Authorization=first; CF_Authorization=second', 'CF_Authorization')).toBe('first');
  });

  it('skips pairs without "=" and returns undefined when the cookie is absent', () => {
    expect(readCookie('flag; a=1', 'CF_Authorization')).toBeUndefined();
    expect(readCookie('CF_Authorization; a=1', 'CF_Authorization')).toBeUndefined();
    expect(readCookie('', 'CF_Authorization')).toBeUndefined();
  });

  it('returns an empty value as the empty string', () => {
    expect(readCookie('CF_Authorization=; a=1', 'CF_Authorization')).toBe('');
  });
});

describe('extractToken', () => {
  describe('with the default sources (header, then CF_Authorization cookie)', () => {
    it('reads the Cf-Access-Jwt-Assertion header', () => {
      expect(extractToken(request({ [HEADER]: 'header.token.sig' }), DEFAULT_SOURCES)).toBe('header.token.sig');
    });

    it('falls back to the CF_Authorization cookie when the header is absent', () => {
      const req = request({ cookie: 'theme=dark; CF_Authorization=cookie.token.sig' });

      expect(extractToken(req, DEFAULT_SOURCES)).toBe('cookie.token.sig');
    });

    it.each([
      ['empty', ''],
      ['whitespace only', ' \t '],
    ])('falls back to the cookie when the header is %s', (_label, value) => {
      const req = request({ [HEADER]: value, cookie: 'CF_Authorization=cookie.token.sig' });

      expect(extractToken(req, DEFAULT_SOURCES)).toBe('cookie.token.sig');
    });

    it('uses a present header even when the cookie is present too (never falls back)', () => {
      const req = request({ [HEADER]: 'header.token.sig', cookie: 'CF_Authorization=cookie.token.sig' });

      expect(extractToken(req, DEFAULT_SOURCES)).toBe('header.token.sig');
    });

    it('returns a garbage header rather than rescuing it with a good cookie', () => {
      const req = request({ [HEADER]: 'not-a-jwt', cookie: 'CF_Authorization=cookie.token.sig' });

      expect(extractToken(req, DEFAULT_SOURCES)).toBe('not-a-jwt');
    });

    it('trims whitespace around the token', () => {
      expect(extractToken(request({ [HEADER]: '  header.token.sig \t' }), DEFAULT_SOURCES)).toBe('header.token.sig');
      expect(extractToken(request({ cookie: 'CF_Authorization=" cookie.token.sig "' }), DEFAULT_SOURCES)).toBe(
        'cookie.token.sig',
      );
    });

    it('returns undefined when there are no headers at all', () => {
      expect(extractToken(request({}), DEFAULT_SOURCES)).toBeUndefined();
    });

    it('returns undefined when the header is absent and the cookie header lacks CF_Authorization', () => {
      expect(extractToken(request({ cookie: 'xCF_Authorization=evil; session=1' }), DEFAULT_SOURCES)).toBeUndefined();
    });

    it('treats an empty or whitespace cookie value as absent', () => {
      expect(extractToken(request({ cookie: 'CF_Authorization=' }), DEFAULT_SOURCES)).toBeUndefined();
      expect(extractToken(request({ cookie: 'CF_Authorization="  "' }), DEFAULT_SOURCES)).toBeUndefined();
      expect(extractToken(request({ [HEADER]: ' ', cookie: 'CF_Authorization= ' }), DEFAULT_SOURCES)).toBeUndefined();
    });

    it('treats an explicitly undefined header as absent', () => {
      const req = request({ [HEADER]: undefined, cookie: 'CF_Authorization=cookie.token.sig' });

      expect(extractToken(req, DEFAULT_SOURCES)).toBe('cookie.token.sig');
    });

    it('reads the first occurrence of a duplicated CF_Authorization cookie', () => {
      const req = request({ cookie: 'CF_Authorization=first.token.sig; CF_Authorization=second.token.sig' });

      expect(extractToken(req, DEFAULT_SOURCES)).toBe('first.token.sig');
    });

    it('reads a header given as a one-element array', () => {
      expect(extractToken(request({ [HEADER]: ['header.token.sig'] }), DEFAULT_SOURCES)).toBe('header.token.sig');
    });

    it('joins a header given as several values, so a duplicated header is never a valid token', () => {
      const token = extractToken(request({ [HEADER]: ['first.token.sig', 'second.token.sig'] }), DEFAULT_SOURCES);

      expect(token).not.toBe('first.token.sig');
      expect(token).not.toBe('second.token.sig');
      expect(token).toContain('first.token.sig');
    });

    it('treats an empty array header as absent', () => {
      const req = request({ [HEADER]: [], cookie: 'CF_Authorization=cookie.token.sig' });

      expect(extractToken(req, DEFAULT_SOURCES)).toBe('cookie.token.sig');
    });

    it('trims only the spaces and tabs HTTP allows, not other Unicode spaces', () => {
      expect(extractToken(request({ [HEADER]: ' \tabc.def.ghi\t ' }), DEFAULT_SOURCES)).toBe('abc.def.ghi');
      expect(extractToken(request({ [HEADER]: '\u00a0abc.def.ghi\u00a0' }), DEFAULT_SOURCES)).toBe('\u00a0abc.def.ghi\u00a0');
    });

    it('reads the cookie from repeated Cookie headers given as an array', () => {
      expect(extractToken(request({ cookie: ['a=1', 'CF_Authorization=cookie.token.sig'] }), DEFAULT_SOURCES)).toBe(
        'cookie.token.sig',
      );
    });

    it('reads the cookie from a one-element array cookie header', () => {
      expect(extractToken(request({ cookie: ['CF_Authorization=cookie.token.sig'] }), DEFAULT_SOURCES)).toBe(
        'cookie.token.sig',
      );
    });
  });

  describe('with custom sources', () => {
    it('consults the sources in the configured order', () => {
      const sources: CfAccessTokenSource[] = [{ cookie: 'CF_Authorization' }, { header: HEADER }];
      const req = request({ [HEADER]: 'header.token.sig', cookie: 'CF_Authorization=cookie.token.sig' });

      expect(extractToken(req, sources)).toBe('cookie.token.sig');
    });

    it('falls through to a later source only when the earlier ones are absent', () => {
      const sources: CfAccessTokenSource[] = [{ header: 'x-first' }, { header: 'x-second' }, { cookie: 'third' }];

      expect(extractToken(request({ cookie: 'third=3' }), sources)).toBe('3');
      expect(extractToken(request({ 'x-second': '2', cookie: 'third=3' }), sources)).toBe('2');
      expect(extractToken(request({ 'x-first': '1', 'x-second': '2', cookie: 'third=3' }), sources)).toBe('1');
    });

    it('never reads a source that is not configured', () => {
      const sources: CfAccessTokenSource[] = [{ header: 'x-token' }];
      const req = request({ [HEADER]: 'header.token.sig', cookie: 'CF_Authorization=cookie.token.sig' });

      expect(extractToken(req, sources)).toBeUndefined();
    });

    it('reads a custom cookie name', () => {
      const sources: CfAccessTokenSource[] = [{ cookie: 'MyToken' }];

      expect(extractToken(request({ cookie: 'CF_Authorization=other; MyToken=mine' }), sources)).toBe('mine');
    });

    it('returns undefined when no sources are given', () => {
      expect(extractToken(request({ [HEADER]: 'header.token.sig' }), [])).toBeUndefined();
    });
  });
});
