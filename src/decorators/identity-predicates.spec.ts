import { describe, expect, it } from '@jest/globals';
import { type ExecutionContext } from '@nestjs/common';
import { type CfAccessFullIdentity } from '../identity/cf-access-full-identity.js';
import { type CfAccessIdentity } from '../identity/cf-access-identity.js';
import { allOf, anyOf, emailDomain, emailIn, inGroup, isServiceToken, isUser } from './identity-predicates.js';
import { type CfAccessPredicate } from './require-identity.decorator.js';

const context = {} as ExecutionContext;
const user = (email: string): CfAccessIdentity => ({ iss: 'https://t.cloudflareaccess.com', aud: ['a'], exp: 1, email });
const service = (commonName: string): CfAccessIdentity => ({ iss: 'x', aud: ['a'], exp: 1, sub: '', common_name: commonName });

/** Runs `predicate` with a full identity that has `groups`, counting get-identity lookups. */
async function run(predicate: CfAccessPredicate, identity: CfAccessIdentity, groups: CfAccessFullIdentity['groups'] = []) {
  let lookups = 0;
  const tools = {
    fullIdentity: () => {
      lookups += 1;
      return Promise.resolve({ groups });
    },
    user: () => undefined,
  };
  return { result: await predicate(identity, context, tools), lookups };
}

describe('identity predicates', () => {
  describe('emailIn', () => {
    it('admits listed emails, case-insensitively', async () => {
      expect((await run(emailIn('Ada@Example.com'), user('ada@example.COM'))).result).toBe(true);
      expect((await run(emailIn('ada@example.com'), user('bob@example.com'))).result).toBe(false);
    });

    it('refuses service tokens', async () => {
      expect((await run(emailIn('ada@example.com'), service('ada@example.com'))).result).toBe(false);
    });

    it('needs at least one non-empty email', () => {
      expect(() => emailIn()).toThrow(/emailIn\(\) expects one or more non-empty strings/);
      expect(() => emailIn('')).toThrow(TypeError);
    });
  });

  describe('emailDomain', () => {
    it.each([
      ['ada@example.com', true],
      ['ada@EXAMPLE.com', true],
      ['ada@evil-example.com', false],
      ['ada@example.com.evil.test', false],
      ['ada@sub.example.com', false],
      ['example.com', false],
    ])('%s → %s for example.com', async (email, expected) => {
      expect((await run(emailDomain('example.com'), user(email))).result).toBe(expected);
    });

    it('accepts domains written with a leading @', async () => {
      expect((await run(emailDomain('@example.com'), user('ada@example.com'))).result).toBe(true);
    });
  });

  describe('inGroup', () => {
    it('matches group names, and group objects by name, id or email, through one lookup', async () => {
      expect(await run(inGroup('admins'), user('a@example.com'), ['staff', 'admins'])).toEqual({ result: true, lookups: 1 });
      expect((await run(inGroup('admins'), user('a@example.com'), [{ id: '1', name: 'admins' }])).result).toBe(true);
      expect((await run(inGroup('g-42'), user('a@example.com'), [{ id: 'g-42' }])).result).toBe(true);
      expect((await run(inGroup('ops@example.com'), user('a@example.com'), [{ email: 'ops@example.com' }])).result).toBe(true);
    });

    it('refuses non-members and identities without groups (no substring match)', async () => {
      expect((await run(inGroup('admins'), user('a@example.com'), ['admins-readonly'])).result).toBe(false);
      expect((await run(inGroup('admins'), user('a@example.com'), undefined)).result).toBe(false);
    });
  });

  describe('isUser / isServiceToken', () => {
    it('tells people from service tokens', async () => {
      expect((await run(isUser(), user('a@example.com'))).result).toBe(true);
      expect((await run(isUser(), service('c.access'))).result).toBe(false);
      expect((await run(isServiceToken(), service('c.access'))).result).toBe(true);
      expect((await run(isServiceToken(), user('a@example.com'))).result).toBe(false);
    });

    it('isServiceToken(ids) admits only those client ids', async () => {
      expect((await run(isServiceToken('c.access'), service('c.access'))).result).toBe(true);
      expect((await run(isServiceToken('c.access'), service('d.access'))).result).toBe(false);
    });
  });

  describe('anyOf / allOf', () => {
    const yes: CfAccessPredicate = () => true;
    const no: CfAccessPredicate = () => false;
    const truthy: CfAccessPredicate = () => 1 as unknown as boolean;

    it('anyOf passes when one passes, and stops there', async () => {
      expect((await run(anyOf(no, yes), user('a@example.com'))).result).toBe(true);
      expect((await run(anyOf(no, no), user('a@example.com'))).result).toBe(false);
      expect(await run(anyOf(yes, inGroup('x')), user('a@example.com'))).toEqual({ result: true, lookups: 0 });
    });

    it('allOf passes only when all pass, and stops at the first refusal', async () => {
      expect((await run(allOf(yes, yes), user('a@example.com'))).result).toBe(true);
      expect(await run(allOf(no, inGroup('x')), user('a@example.com'))).toEqual({ result: false, lookups: 0 });
    });

    it('only `true` counts as passing, as in @RequireIdentity', async () => {
      expect((await run(anyOf(truthy), user('a@example.com'))).result).toBe(false);
      expect((await run(allOf(truthy), user('a@example.com'))).result).toBe(false);
    });

    it('composes the helpers: admins of example.com, or the CI service token', async () => {
      const policy = anyOf(allOf(emailDomain('example.com'), inGroup('admins')), isServiceToken('ci.access'));
      expect((await run(policy, user('a@example.com'), ['admins'])).result).toBe(true);
      expect((await run(policy, user('a@evil.test'), ['admins'])).result).toBe(false);
      expect((await run(policy, service('ci.access'))).result).toBe(true);
    });

    it('needs at least one predicate', () => {
      expect(() => anyOf()).toThrow(/anyOf\(\) expects one or more predicates/);
      expect(() => allOf('x' as unknown as CfAccessPredicate)).toThrow(TypeError);
    });
  });
});
