import { sha256Hex } from './sha256';
import { canonicalizeText, canonicalizeValue, NonCanonicalJsonError } from './jcs';
import type { IdempotentRequest } from './types';

export { NonCanonicalJsonError };

/**
 * Canonical JSON (RFC 8785, JCS) of a JavaScript value: object keys sorted by UTF-16 code units, no
 * insignificant whitespace, arrays in order, numbers and strings as ECMAScript writes them. Two
 * values that differ only in key order have the same canonical form; any changed value changes it.
 * A value has already lost what its text had (duplicate names merged, numbers rounded to doubles),
 * so only NaN, infinities and lone surrogates can be refused here ({@link NonCanonicalJsonError}):
 * pass the text to {@link canonicalBody} to have everything checked.
 */
export function canonicalJson(value: unknown): string {
  return canonicalizeValue(value);
}

/**
 * The canonical text of a body: its RFC 8785 form when it is JSON, else the text unchanged. JSON
 * that has no exact canonical form (a duplicate name, a number a double does not hold exactly, a
 * lone surrogate) throws {@link NonCanonicalJsonError} naming the member: the server would refuse
 * it with a 400, so the client does not make an intent of it.
 */
export function canonicalBody(body: string | undefined): string {
  if (body === undefined || body === '') return '';
  try {
    return canonicalizeText(body);
  } catch (err) {
    if (err instanceof SyntaxError) return body;
    throw err;
  }
}

/** The canonical request: method, path and canonical body. Headers are not part of it. */
export function canonicalRequest(req: IdempotentRequest): string {
  return `${req.method.toUpperCase()} ${req.path}\n${canonicalBody(req.body)}`;
}

/** SHA-256 (hex, 64 characters) of the canonical request; rejects with `NonCanonicalJsonError` for lossy JSON. */
export async function fingerprint(req: IdempotentRequest): Promise<string> {
  return sha256Hex(canonicalRequest(req));
}
