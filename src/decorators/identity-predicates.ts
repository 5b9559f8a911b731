import { hasGroup } from '../identity/cf-access-full-identity.js';
import { isServiceTokenIdentity, isUserIdentity } from '../identity/cf-access-identity.js';
import { type CfAccessPredicate } from './require-identity.decorator.js';

function lowerCased(values: readonly string[], helper: string): string[] {
  if (values.length === 0 || values.some((value) => typeof value !== 'string' || value === '')) {
    throw new TypeError(`${helper}() expects one or more non-empty strings`);
  }
  return values.map((value) => value.toLowerCase());
}

/** A person whose email is one of `emails` (compared case-insensitively). */
export function emailIn(...emails: string[]): CfAccessPredicate {
  const allowed = new Set(lowerCased(emails, 'emailIn'));
  return (identity) => isUserIdentity(identity) && allowed.has(identity.email.toLowerCase());
}

/** A person whose email is at exactly one of `domains` (`example.com` does not admit `evil-example.com`). */
export function emailDomain(...domains: string[]): CfAccessPredicate {
  const allowed = new Set(lowerCased(domains, 'emailDomain').map((domain) => domain.replace(/^@/, '')));
  return (identity) => {
    if (!isUserIdentity(identity)) {
      return false;
    }
    const at = identity.email.lastIndexOf('@');
    return at > 0 && allowed.has(identity.email.slice(at + 1).toLowerCase());
  };
}

/** A member of any of `groups` (a group's name, id or email), read from the full identity (get-identity). */
export function inGroup(...groups: string[]): CfAccessPredicate {
  lowerCased(groups, 'inGroup');
  return async (_identity, _context, tools) => {
    const identity = await tools.fullIdentity();
    return groups.some((group) => hasGroup(identity, group));
  };
}

/** A person, not a service token. */
export function isUser(): CfAccessPredicate {
  return (identity) => isUserIdentity(identity);
}

/** A service token; when `commonNames` are given, one of those client ids. */
export function isServiceToken(...commonNames: string[]): CfAccessPredicate {
  const allowed = new Set(commonNames);
  return (identity) => isServiceTokenIdentity(identity) && (allowed.size === 0 || allowed.has(identity.common_name));
}

function composed(predicates: CfAccessPredicate[], helper: string): CfAccessPredicate[] {
  if (predicates.length === 0 || predicates.some((predicate) => typeof predicate !== 'function')) {
    throw new TypeError(`${helper}() expects one or more predicates`);
  }
  return predicates;
}

/** Passes when any predicate returns `true`; they run in order and stop at the first that does. */
export function anyOf(...predicates: CfAccessPredicate[]): CfAccessPredicate {
  const list = composed(predicates, 'anyOf');
  return async (identity, context, tools) => {
    for (const predicate of list) {
      if ((await predicate(identity, context, tools)) === true) {
        return true;
      }
    }
    return false;
  };
}

/** Passes when every predicate returns `true`; they run in order and stop at the first that does not. */
export function allOf(...predicates: CfAccessPredicate[]): CfAccessPredicate {
  const list = composed(predicates, 'allOf');
  return async (identity, context, tools) => {
    for (const predicate of list) {
      if ((await predicate(identity, context, tools)) !== true) {
        return false;
      }
    }
    return true;
  };
}
