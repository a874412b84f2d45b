import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalRequest, fingerprint } from './fingerprint';
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
