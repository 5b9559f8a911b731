/**
 * Seeded mutations of genuine tokens for the fuzz test. Every mutation keeps the ORIGINAL signature
 * bytes somewhere in reach (or drops them), so a verifier that accepted any mutant would be
 * accepting a token the team never signed.
 */

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** Characters with a meaning somewhere in JWT, HTTP or cookie parsing. */
const PUNCTUATION = ['.', '..', '=', '+', '/', '%', '"', ',', ';', '\\', ' ', '\t', ':', '{', '}', '*', '~'];
/** Control, non-ASCII and look-alike characters (never CR or LF: they would end the header line). */
const EXOTIC = [
  '\u0000', '\u0001', '\u0008', '\u000b', '\u000c', '\u001b', '\u007f', '\u0080', '\u00a0', '\u00ff',
  'é', 'а', 'Ω', '😀', '\u200b', '\u200d', '\ufeff', '\uff0e', '\u3002', '\u202e', '\u2028', '\ufffd',
];
/** What JavaScript's `trim()` removes (a superset of the SP / HTAB an HTTP parser strips). */
const TRIMMED = /^\s|\s$/;

const HEADER_FIELDS = ['alg', 'kid', 'typ', 'crit', 'b64', 'jku', 'jwk', 'x5u', 'x5c', 'cty', 'zip', 'enc'];
const PAYLOAD_FIELDS = ['iss', 'aud', 'exp', 'nbf', 'iat', 'type', 'email', 'sub', 'common_name', 'identity_nonce', 'country'];

/** The team facts mutated values are drawn from, so mutants sit close to valid tokens. */
export interface MutationContext {
  teamDomain: string;
  audience: string;
  kids: readonly string[];
}

/** A mutant token and the mutations that made it, for failure messages. */
export interface Mutant {
  token: string;
  ops: string[];
}

const encodeSegment = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

function decodeJsonSegment(part: string | undefined): Record<string, unknown> | undefined {
  if (part === undefined || !/^[\w-]+$/.test(part)) {
    return undefined;
  }
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Draws mutants from a seeded random source; the same seed always yields the same sequence. */
export class TokenMutator {
  constructor(
    private readonly random: () => number,
    private readonly context: MutationContext,
  ) {}

  /** A mutant of one of `originals`: one to three mutations applied in a row. */
  mutate(originals: readonly string[]): Mutant {
    let token = this.pick(originals);
    const ops: string[] = [];
    const rounds = 1 + this.int(3);
    for (let round = 0; round < rounds; round += 1) {
      const [name, apply] = this.pick(this.operations);
      token = apply(token);
      ops.push(name);
    }
    return { token, ops };
  }

  private int(below: number): number {
    return Math.floor(this.random() * below);
  }

  private pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  private char(): string {
    const roll = this.random();
    return roll < 0.6 ? BASE64URL.charAt(this.int(64)) : roll < 0.8 ? this.pick(PUNCTUATION) : this.pick(EXOTIC);
  }

  /** An index inside `text` (never 0 or the end when the inserted text would be trimmed off). */
  private insertAt(text: string, insert: string, at = this.int(text.length + 1)): string {
    const edge = at === 0 || at === text.length;
    const safeAt = edge && TRIMMED.test(insert) ? Math.max(1, Math.min(text.length - 1, 1 + this.int(Math.max(1, text.length - 1)))) : at;
    return text.slice(0, safeAt) + insert + text.slice(safeAt);
  }

  private randomValue(): unknown {
    const now = Math.floor(Date.now() / 1000);
    const { teamDomain, audience, kids } = this.context;
    const values: (() => unknown)[] = [
      () => null,
      () => true,
      () => false,
      () => 0,
      () => -1,
      () => 1e308,
      () => 2 ** 53 + 1,
      () => now + this.int(7200) - 3600,
      () => now - 86_400,
      () => now + 86_400,
      () => String(now + 3600),
      () => '',
      () => ' ',
      () => 'x',
      () => 'RS256',
      () => 'none',
      () => 'HS256',
      () => 'PS256',
      () => 'app',
      () => 'org',
      () => 'JWT',
      () => teamDomain,
      () => `${teamDomain}/`,
      () => teamDomain.replace('http://', 'https://'),
      () => 'https://evil.cloudflareaccess.com',
      () => audience,
      () => [audience],
      () => [`${audience}x`],
      () => [],
      () => [null],
      () => [1, 2],
      () => ({}),
      () => ({ aud: audience }),
      () => this.pick(kids),
      () => '__proto__',
      () => 'constructor',
      () => 'http://127.0.0.1:1/certs',
      () => ['b64'],
      () => 'k'.repeat(this.int(4000)),
      () => this.pick(EXOTIC),
    ];
    return this.pick(values)();
  }

  /** Re-encodes segment `index` (0 header, 1 payload) with one field set, deleted or type-swapped; the rest untouched. */
  private reencodeField(token: string, index: 0 | 1): string {
    const parts = token.split('.');
    const json = decodeJsonSegment(parts[index]);
    if (json === undefined) {
      return this.flip(token);
    }
    const field = this.pick(index === 0 ? HEADER_FIELDS : PAYLOAD_FIELDS);
    const roll = this.random();
    if (roll < 0.15) {
      delete json[field];
    } else if (roll < 0.3 && json[field] !== undefined) {
      const current = json[field];
      json[field] = typeof current === 'number' ? String(current) : typeof current === 'string' ? [current] : { value: current };
    } else {
      json[field] = this.randomValue();
    }
    parts[index] = encodeSegment(JSON.stringify(json));
    return parts.join('.');
  }

  /** Re-encodes a segment's JSON text with a textual twist: whitespace, key order, duplicate or prototype keys. */
  private reencodeText(token: string): string {
    const parts = token.split('.');
    const index = this.int(2) as 0 | 1;
    const json = decodeJsonSegment(parts[index]);
    if (json === undefined) {
      return this.flip(token);
    }
    const text = JSON.stringify(json);
    const variants = [
      () => JSON.stringify(json, null, 1),
      () => ` ${text}`,
      () => `${text}\n`,
      () => JSON.stringify(Object.fromEntries(Object.entries(json).reverse())),
      () => `{"__proto__":{"aud":["${this.context.audience}"],"iss":"${this.context.teamDomain}"},${text.slice(1)}`,
      () => `{"constructor":{"prototype":{"type":"app"}},${text.slice(1)}`,
      () => `${text.slice(0, -1)},"iss":"https://evil.cloudflareaccess.com"}`,
      () => `${text.slice(0, -1)},"exp":${Math.floor(Date.now() / 1000) + 3600}}`,
      () => text.replace(/"(\w+)":/, '"$1":0,"$1":'),
      () => `${text}${text}`,
      () => text.slice(0, 1 + this.int(text.length - 1)),
    ];
    parts[index] = encodeSegment(this.pick(variants)());
    return parts.join('.');
  }

  private flip(token: string): string {
    if (token.length === 0) {
      return this.char();
    }
    const at = this.int(token.length);
    const current = BASE64URL.indexOf(token.charAt(at));
    // never the same character again: a "flip" that changes nothing is no mutant
    const replacement = BASE64URL.charAt(current === -1 ? this.int(64) : (current + 1 + this.int(63)) % 64);
    return token.slice(0, at) + replacement + token.slice(at + 1);
  }

  /** Flips one bit of a segment's decoded bytes and re-encodes it canonically. */
  private bitFlip(token: string): string {
    const parts = token.split('.');
    const index = this.int(parts.length);
    const bytes = Buffer.from(parts[index] ?? '', 'base64url');
    if (bytes.length === 0) {
      return this.flip(token);
    }
    const at = this.int(bytes.length);
    bytes[at] = (bytes[at] ?? 0) ^ (1 << this.int(8));
    parts[index] = bytes.toString('base64url');
    return parts.join('.');
  }

  /** Sets unused low bits of a segment's last character: the same bytes spelled non-canonically. */
  private paddingBits(token: string): string {
    const parts = token.split('.');
    const candidates = parts.map((part, index) => ({ part, index })).filter(({ part }) => part.length % 4 === 2 || part.length % 4 === 3);
    if (candidates.length === 0) {
      return this.flip(token);
    }
    const { part, index } = this.pick(candidates);
    const mask = part.length % 4 === 2 ? 0x0f : 0x03;
    const last = BASE64URL.indexOf(part.charAt(part.length - 1));
    if (last === -1) {
      return this.flip(token);
    }
    const bits = 1 + this.int(mask);
    parts[index] = part.slice(0, -1) + BASE64URL.charAt((last & ~mask) | bits);
    return parts.join('.');
  }

  private randomText(length: number): string {
    return Array.from({ length }, () => this.char()).join('');
  }

  private readonly operations: readonly [string, (token: string) => string][] = [
    ['flip', (t) => this.flip(t)],
    ['insert', (t) => this.insertAt(t, this.char())],
    ['delete', (t) => {
      const at = this.int(t.length);
      return t.slice(0, at) + t.slice(at + 1);
    }],
    ['replace-exotic', (t) => {
      const at = this.int(t.length);
      const exotic = this.pick(EXOTIC);
      return at === 0 || at === t.length - 1 ? this.insertAt(t, exotic, 1) : t.slice(0, at) + exotic + t.slice(at + 1);
    }],
    ['swap-case', (t) => {
      const letters = [...t.matchAll(/[a-z]/gi)].map((match) => match.index);
      if (letters.length === 0) {
        return this.flip(t);
      }
      const at = this.pick(letters);
      const c = t.charAt(at);
      const swapped = c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase();
      return t.slice(0, at) + swapped + t.slice(at + 1);
    }],
    ['bit-flip', (t) => this.bitFlip(t)],
    ['padding-bits', (t) => this.paddingBits(t)],
    ['swap-segments', (t) => {
      const parts = t.split('.');
      const a = this.int(parts.length);
      const b = (a + 1 + this.int(Math.max(1, parts.length - 1))) % parts.length;
      [parts[a], parts[b]] = [parts[b] ?? '', parts[a] ?? ''];
      return parts.join('.');
    }],
    ['duplicate-segment', (t) => {
      const parts = t.split('.');
      const copy = this.pick(parts);
      if (this.random() < 0.5) {
        parts.splice(this.int(parts.length + 1), 0, copy);
      } else {
        parts[this.int(parts.length)] = copy;
      }
      return parts.join('.');
    }],
    ['drop-segment', (t) => {
      const parts = t.split('.');
      parts.splice(this.int(parts.length), 1);
      return parts.join('.');
    }],
    ['empty-segment', (t) => {
      const parts = t.split('.');
      parts[this.int(parts.length)] = '';
      return parts.join('.');
    }],
    ['header-field', (t) => this.reencodeField(t, 0)],
    ['payload-field', (t) => this.reencodeField(t, 1)],
    ['payload-field', (t) => this.reencodeField(t, 1)],
    ['json-text', (t) => this.reencodeText(t)],
    ['truncate', (t) => t.slice(0, this.int(t.length))],
    ['dots', (t) => this.insertAt(t, this.pick(['.', '..', '...']))],
    ['whitespace', (t) => this.insertAt(t, this.pick([' ', '\t', '  ', '\u000b', '\u000c', '\u00a0', '\u2028', '\u3000']), 1 + this.int(Math.max(1, t.length - 1)))],
    ['random-segment', (t) => {
      const parts = t.split('.');
      parts[this.int(parts.length)] = Buffer.from(Array.from({ length: this.int(400) }, () => this.int(256))).toString('base64url');
      return parts.join('.');
    }],
    ['random-span', (t) => {
      const at = this.int(t.length);
      return this.insertAt(t.slice(0, at) + t.slice(at + this.int(20)), this.randomText(1 + this.int(20)), at);
    }],
    ['random-text', () => this.randomText(this.int(1200))],
  ];
}
