import { sha256Hex } from './sha256';
import type { IdempotentRequest } from './types';

/**
 * Canonical JSON: object keys sorted (by UTF-16 code units), no insignificant whitespace,
 * arrays in order, numbers and strings as JSON.stringify writes them. Two documents that differ
 * only in key order or whitespace have the same canonical form; any changed value changes it.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const s = JSON.stringify(value);
    return s === undefined ? 'null' : s;
  }
  if (Array.isArray(value)) return '[' + value.map(canonicalJson).join(',') + ']';
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonicalJson(obj[k])).join(',') + '}';
}

/** The canonical text of a body: canonical JSON when it parses, else the text unchanged. */
export function canonicalBody(body: string | undefined): string {
  if (body === undefined || body === '') return '';
  try {
    return canonicalJson(JSON.parse(body));
  } catch {
    return body;
  }
}

/** The canonical request: method, path and canonical body. Headers are not part of it. */
export function canonicalRequest(req: IdempotentRequest): string {
  return `${req.method.toUpperCase()} ${req.path}\n${canonicalBody(req.body)}`;
}

/** SHA-256 (hex, 64 characters) of the canonical request. */
export function fingerprint(req: IdempotentRequest): Promise<string> {
  return sha256Hex(canonicalRequest(req));
}
