import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { canonicalBody, canonicalJson, canonicalRequest, fingerprint, NonCanonicalJsonError } from './fingerprint';
import { canonicalizeText } from './jcs';
import { sha256Bytes, toHex } from './sha256';

describe('canonical JSON', () => {
  it('ignores key order and whitespace, at every depth', () => {
    const a = JSON.parse('{"item":"book","quantity":2,"meta":{"b":[1,{"y":2,"x":1}],"a":null}}');
    const b = JSON.parse(
      ' {\n "meta" : { "a":null , "b" : [ 1 , { "x":1,"y":2 } ] },\n "quantity":2,  "item" : "book" }',
    );
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson(a)).toBe('{"item":"book","meta":{"a":null,"b":[1,{"x":1,"y":2}]},"quantity":2}');
  });

  it('keeps array order and value differences', () => {
    expect(canonicalJson([1, 2])).not.toBe(canonicalJson([2, 1]));
    expect(canonicalJson({ q: 1 })).not.toBe(canonicalJson({ q: '1' }));
    expect(canonicalJson({ s: 'a b' })).not.toBe(canonicalJson({ s: 'ab' }));
  });
});

describe('fingerprint', () => {
  const req = (body: string) => ({ method: 'POST', path: '/orders', body });

  it('is the SHA-256 of the canonical request', async () => {
    const fp = await fingerprint(req('{ "quantity": 1, "item": "x" }'));
    const expected = createHash('sha256').update('POST /orders\n{"item":"x","quantity":1}').digest('hex');
    expect(fp).toBe(expected);
    expect(canonicalRequest(req('{"item":"x","quantity":1}'))).toBe('POST /orders\n{"item":"x","quantity":1}');
  });

  it('is equal for reordered and re-spaced bodies, different for another value, path or method', async () => {
    const a = await fingerprint(req('{"item":"pen","quantity":3}'));
    expect(await fingerprint(req('{\n  "quantity" : 3,\n  "item" : "pen"\n}'))).toBe(a);
    expect(await fingerprint(req('{"item":"pen","quantity":4}'))).not.toBe(a);
    expect(await fingerprint({ method: 'POST', path: '/other', body: '{"item":"pen","quantity":3}' })).not.toBe(a);
    expect(await fingerprint({ method: 'PUT', path: '/orders', body: '{"item":"pen","quantity":3}' })).not.toBe(a);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
  });

  it('pure SHA-256 fallback matches Node crypto on edge lengths', () => {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 1000]) {
      const data = new Uint8Array(n).map((_, i) => (i * 31 + 7) & 0xff);
      expect(toHex(sha256Bytes(data))).toBe(createHash('sha256').update(data).digest('hex'));
    }
  });
});

// The RFC 8785 vectors shared with the Rust library (oncely/tests/it/jcs.rs reads the same file).
interface Vectors {
  canonical: { source: string; input: string; output: string; inexact?: string }[];
  numbers: { source: string; bits: string; output: string | null }[];
  lossy: { input: string; pointer: string; loss: string }[];
}
const vectors: Vectors = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../../oncely/tests/fixtures/jcs-vectors.json', import.meta.url)), 'utf8'),
);

const fromBits = (bits: string): number => {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt('0x' + bits));
  return view.getFloat64(0);
};

describe('RFC 8785 vectors', () => {
  it('canonicalises the RFC examples; exact mode refuses the rounded number, naming it', () => {
    expect(vectors.canonical.length).toBeGreaterThanOrEqual(5);
    for (const c of vectors.canonical) {
      expect(canonicalizeText(c.input, false), c.source).toBe(c.output);
      if (c.inexact === undefined) {
        expect(canonicalizeText(c.input), c.source).toBe(c.output);
        expect(canonicalBody(c.input)).toBe(c.output);
        expect(canonicalJson(JSON.parse(c.input))).toBe(c.output);
      } else {
        expect(() => canonicalizeText(c.input)).toThrow(NonCanonicalJsonError);
        try {
          canonicalizeText(c.input);
        } catch (err) {
          expect((err as NonCanonicalJsonError).pointer).toBe(c.inexact);
          expect((err as NonCanonicalJsonError).loss).toBe('inexact-number');
        }
      }
    }
  });

  it('writes the Appendix B numbers', () => {
    expect(vectors.numbers.length).toBe(26);
    for (const n of vectors.numbers) {
      const value = fromBits(n.bits);
      if (n.output === null) {
        expect(() => canonicalJson(value)).toThrow(NonCanonicalJsonError);
      } else {
        expect(canonicalJson(value), n.bits).toBe(n.output);
        expect(canonicalizeText(n.output)).toBe(n.output);
      }
    }
  });

  it('refuses lossy JSON with the pointer of the member, never conflating two payloads', () => {
    for (const l of vectors.lossy) {
      let caught: unknown;
      try {
        canonicalBody(l.input);
      } catch (err) {
        caught = err;
      }
      expect(caught, l.input).toBeInstanceOf(NonCanonicalJsonError);
      expect((caught as NonCanonicalJsonError).pointer, l.input).toBe(l.pointer);
      expect((caught as NonCanonicalJsonError).loss, l.input).toBe(l.loss);
    }
  });
});

describe('lossy bodies', () => {
  it('two large integers are not the same payload: both are refused', async () => {
    const req = (body: string) => ({ method: 'POST', path: '/orders', body });
    await expect(fingerprint(req('{"id":12345678901234567890}'))).rejects.toThrow(NonCanonicalJsonError);
    await expect(fingerprint(req('{"id":12345678901234567891}'))).rejects.toThrow(/\/id/);
    expect(canonicalBody('{"id":1e2,"x":100.0}')).toBe('{"id":100,"x":100}');
  });

  it('a JS value can only be checked for what it still shows', () => {
    expect(() => canonicalJson({ a: [1, Number.NaN] })).toThrow(/\/a\/1/);
    expect(() => canonicalJson({ s: '\ud800' })).toThrow(NonCanonicalJsonError);
    expect(canonicalJson({ b: undefined, a: -0 })).toBe('{"a":0}');
  });

  it('text that is not JSON is kept as it is', () => {
    for (const text of ['{', '[1,]', '01', 'a=1', '"\\x"']) expect(canonicalBody(text)).toBe(text);
    expect(canonicalBody('['.repeat(200) + ']'.repeat(200))).toBe('['.repeat(200) + ']'.repeat(200));
  });
});
