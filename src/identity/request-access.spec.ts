import { describe, expect, it, jest } from '@jest/globals';
import { CF_ACCESS_IDENTITY_KEY } from '../cf-access.constants.js';
import { type CfAccessRequest } from '../token/cf-access-request.js';
import { type CfAccessFullIdentity } from './cf-access-full-identity.js';
import { type CfAccessIdentity } from './cf-access-identity.js';
import {
  fullIdentityOf,
  rememberAccess,
  rememberAnonymous,
  rememberToken,
  resolvedUserOf,
  verifiedTokenOf,
} from './request-access.js';

function identity(email: string): CfAccessIdentity {
  return Object.freeze({ aud: ['aud'], email, exp: 2e9, iat: 0, iss: 'https://acme.cloudflareaccess.com', sub: email });
}

/** A request as the guard leaves it: the identity stored, then what it admitted remembered. */
function admitted(request: CfAccessRequest, token: string, verified: CfAccessIdentity, user?: unknown): CfAccessRequest {
  request[CF_ACCESS_IDENTITY_KEY] = verified;
  rememberAccess(request, { token, identity: verified, user });
  return request;
}

const fresh = (): CfAccessRequest => ({ headers: {} });

describe('request access', () => {
  it('names the token of an identity the service verified, with no record of its own on the request', () => {
    const verified = identity('ada@example.com');
    rememberToken(verified, 'token-a');
    const request = admitted(fresh(), 'token-a', verified);

    expect(Object.getOwnPropertySymbols(request)).toEqual([]);
    expect(verifiedTokenOf(request)).toBe('token-a');
    expect(resolvedUserOf(request)).toBeUndefined();
  });

  it('names no token for an identity the service did not make, nor for a request the guard never saw', () => {
    const request = fresh();
    expect(verifiedTokenOf(request)).toBeUndefined();

    request[CF_ACCESS_IDENTITY_KEY] = identity('forged@example.com');
    expect(verifiedTokenOf(request)).toBeUndefined();
    expect(fullIdentityOf(request, () => Promise.reject(new Error('must not load')))).toBeUndefined();
  });

  it('keeps an app user in a record of its own', () => {
    const verified = identity('grace@example.com');
    rememberToken(verified, 'token-g');
    const request = admitted(fresh(), 'token-g', verified, { id: 7 });

    expect(resolvedUserOf(request)).toEqual({ id: 7 });
    expect(verifiedTokenOf(request)).toBe('token-g');
  });

  it('forgets what an earlier run of the guard left on the same object (a reused WebSocket handshake)', () => {
    const first = identity('first@example.com');
    const second = identity('second@example.com');
    rememberToken(first, 'token-1');
    rememberToken(second, 'token-2');
    const handshake = admitted(fresh(), 'token-1', first, { id: 1 });

    admitted(handshake, 'token-2', second);
    expect(verifiedTokenOf(handshake)).toBe('token-2');
    expect(resolvedUserOf(handshake)).toBeUndefined();

    handshake[CF_ACCESS_IDENTITY_KEY] = undefined;
    rememberAnonymous(handshake);
    expect(verifiedTokenOf(handshake)).toBeUndefined();
    expect(fullIdentityOf(handshake, () => Promise.reject(new Error('must not load')))).toBeNull();

    admitted(handshake, 'token-2', second);
    expect(verifiedTokenOf(handshake)).toBe('token-2');
  });

  it('loads the full identity once per request, for the token the guard verified', async () => {
    const verified = identity('lin@example.com');
    rememberToken(verified, 'token-l');
    const full = { ...verified, groups: [] } as unknown as CfAccessFullIdentity;
    const load = jest.fn<(token: string, identity: CfAccessIdentity) => Promise<CfAccessFullIdentity>>(() => Promise.resolve(full));
    const request = admitted(fresh(), 'token-l', verified);
    const other = admitted(fresh(), 'token-l', verified);

    await expect(fullIdentityOf(request, load)).resolves.toBe(full);
    await expect(fullIdentityOf(request, load)).resolves.toBe(full);
    expect(load).toHaveBeenCalledTimes(1);
    expect(load).toHaveBeenCalledWith('token-l', verified);

    await fullIdentityOf(other, load);
    expect(load).toHaveBeenCalledTimes(2);
  });
});
