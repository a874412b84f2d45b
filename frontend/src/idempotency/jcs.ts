/**
 * RFC 8785 JSON Canonicalization Scheme (JCS), as the server computes it (oncely/src/jcs/):
 * a strict parser of JSON text that refuses what JCS cannot canonicalise without loss, naming the
 * place by its JSON pointer, and the canonical writer for text and for JavaScript values.
 */

/** Why a JSON text or value has no lossless canonical form. */
export type Loss = 'duplicate-key' | 'inexact-number' | 'invalid-unicode';

/** JSON that JCS cannot canonicalise without loss; `pointer` (RFC 6901) names the place. */
export class NonCanonicalJsonError extends Error {
  constructor(
    readonly pointer: string,
    readonly loss: Loss,
  ) {
    const at = pointer === '' ? 'the body' : pointer;
    const what = {
      'duplicate-key': `the JSON member \`${at}\` appears more than once`,
      'inexact-number': `the number at \`${at}\` cannot be held exactly by an IEEE 754 double`,
      'invalid-unicode': `the string at \`${at}\` is not valid Unicode`,
    }[loss];
    super(what);
    this.name = 'NonCanonicalJsonError';
  }
}

/** The deepest nesting parsed (as the server's parser). */
export const MAX_DEPTH = 128;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const pointerOf = (path: readonly string[]): string =>
  path.map((t) => '/' + t.replace(/~/g, '~0').replace(/\//g, '~1')).join('');

/** A decimal literal's value as `sign|digits|exponent` (0.digits × 10^exponent); zero is `0`. */
function decimalValue(literal: string): string {
  const negative = literal.startsWith('-');
  const rest = negative ? literal.slice(1) : literal;
  const e = rest.search(/[eE]/);
  const mantissa = e < 0 ? rest : rest.slice(0, e);
  const exponent = e < 0 ? 0 : Number(rest.slice(e + 1));
  const [int, frac = ''] = mantissa.split('.');
  const all = int + frac;
  const leading = all.length - all.replace(/^0+/, '').length;
  const digits = all.replace(/^0+/, '').replace(/0+$/, '');
  if (digits === '') return '0';
  return `${negative ? '-' : '+'}|${digits}|${int.length + exponent - leading}`;
}

/** ECMAScript's Number::toString of a finite number (RFC 8785 §3.2.2.3); `-0` is `0`. */
function numberText(value: number, path: readonly string[]): string {
  if (!Number.isFinite(value)) throw new NonCanonicalJsonError(pointerOf(path), 'inexact-number');
  return String(value);
}

function stringText(value: string, path: readonly string[]): string {
  if (LONE_SURROGATE.test(value)) throw new NonCanonicalJsonError(pointerOf(path), 'invalid-unicode');
  return JSON.stringify(value);
}

const byCodeUnits = (a: [string, string], b: [string, string]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

function objectText(members: [string, string][], path: readonly string[]): string {
  members.sort(byCodeUnits);
  return '{' + members.map(([k, v]) => stringText(k, path) + ':' + v).join(',') + '}';
}

/**
 * The canonical text of a JavaScript value (what `JSON.stringify` would send, canonicalised).
 * Such a value has already lost what the text had: duplicate names were merged and numbers rounded
 * by whoever built it, so only what is still visible is refused (NaN and infinities, lone
 * surrogates). Members that are `undefined` are left out, as `JSON.stringify` does.
 */
export function canonicalizeValue(value: unknown, path: string[] = []): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number') return numberText(value, path);
  if (typeof value === 'string') return stringText(value, path);
  if (typeof value !== 'object') {
    const s = JSON.stringify(value);
    return s === undefined ? 'null' : s;
  }
  if (Array.isArray(value)) {
    return '[' + value.map((v, i) => canonicalizeValue(v, [...path, String(i)])).join(',') + ']';
  }
  const obj = value as Record<string, unknown>;
  const members: [string, string][] = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .map((k) => [k, canonicalizeValue(obj[k], [...path, k])]);
  return objectText(members, path);
}

/**
 * The canonical text of a JSON text. `exact` (the default, what fingerprints use) refuses a number
 * whose canonical form is another number (`12345678901234567891`, `0.30000000000000001`); without
 * it numbers are rounded to the nearest double, as RFC 8785 itself does. Duplicate names, lone
 * surrogates and numbers beyond the doubles' range are always refused ({@link NonCanonicalJsonError});
 * text that is not JSON throws a `SyntaxError`.
 */
export function canonicalizeText(text: string, exact = true): string {
  let pos = 0;
  const path: string[] = [];
  const fail = (what: string): never => {
    throw new SyntaxError(`not JSON: ${what} at ${pos}`);
  };
  const ws = () => {
    while (pos < text.length && ' \t\n\r'.includes(text[pos])) pos++;
  };
  const str = (): string => {
    pos++;
    let out = '';
    for (;;) {
      const c = text.charCodeAt(pos);
      if (pos >= text.length) fail('unterminated string');
      if (c === 0x22) {
        pos++;
        return out;
      }
      if (c < 0x20) fail('control character in a string');
      if (c !== 0x5c) {
        out += text[pos++];
        continue;
      }
      const e = text[pos + 1];
      const simple: Record<string, string> = {
        '"': '"',
        '\\': '\\',
        '/': '/',
        b: '\b',
        f: '\f',
        n: '\n',
        r: '\r',
        t: '\t',
      };
      if (e in simple) {
        out += simple[e];
        pos += 2;
      } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(pos + 2, pos + 6))) {
        out += String.fromCharCode(parseInt(text.slice(pos + 2, pos + 6), 16));
        pos += 6;
      } else {
        fail('invalid escape');
      }
    }
  };
  const num = (): string => {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(pos));
    if (!m) return fail('invalid number');
    const literal = m[0];
    pos += literal.length;
    const value = Number(literal);
    if (!Number.isFinite(value) || (exact && decimalValue(literal) !== decimalValue(String(value)))) {
      throw new NonCanonicalJsonError(pointerOf(path), 'inexact-number');
    }
    return String(value);
  };
  const value = (depth: number): string => {
    if (depth >= MAX_DEPTH) fail('nesting too deep');
    const c = text[pos];
    if (c === '{') {
      pos++;
      const members: [string, string][] = [];
      const names = new Set<string>();
      ws();
      if (text[pos] === '}') {
        pos++;
        return '{}';
      }
      for (;;) {
        ws();
        if (text[pos] !== '"') fail('expected a member name');
        const name = str();
        if (LONE_SURROGATE.test(name)) throw new NonCanonicalJsonError(pointerOf(path), 'invalid-unicode');
        path.push(name);
        if (names.has(name)) throw new NonCanonicalJsonError(pointerOf(path), 'duplicate-key');
        names.add(name);
        ws();
        if (text[pos] !== ':') fail('expected `:`');
        pos++;
        ws();
        const v = value(depth + 1);
        path.pop();
        members.push([name, v]);
        ws();
        if (text[pos] === ',') pos++;
        else if (text[pos] === '}') {
          pos++;
          return objectText(members, path);
        } else fail('expected `,` or `}`');
      }
    }
    if (c === '[') {
      pos++;
      const items: string[] = [];
      ws();
      if (text[pos] === ']') {
        pos++;
        return '[]';
      }
      for (;;) {
        ws();
        path.push(String(items.length));
        items.push(value(depth + 1));
        path.pop();
        ws();
        if (text[pos] === ',') pos++;
        else if (text[pos] === ']') {
          pos++;
          return '[' + items.join(',') + ']';
        } else fail('expected `,` or `]`');
      }
    }
    if (c === '"') return stringText(str(), path);
    for (const word of ['true', 'false', 'null']) {
      if (text.startsWith(word, pos)) {
        pos += word.length;
        return word;
      }
    }
    if (c === '-' || (c >= '0' && c <= '9')) return num();
    return fail('expected a value');
  };
  ws();
  const out = value(0);
  ws();
  if (pos !== text.length) fail('trailing characters');
  return out;
}
