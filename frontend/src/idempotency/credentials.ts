/**
 * Who the client sends requests as: a signed-in user's access tokens, bound to one subject, so a
 * client never sends its (cached, queued) requests with another user's token.
 */

/** A signed-in user's tokens. The client bound to it keeps its cache and queue under `subject`. */
export interface Credentials {
  /** The user (`sub` of the tokens) this client acts for. */
  readonly subject: string;
  /** A current access token (renewed before it expires). Rejects with `SignedOutError` once signed out. */
  token(): Promise<string>;
  /** A new access token, after the API refused the current one with 401. */
  renew(): Promise<string>;
}

/** The user signed out (or another one signed in): nothing may be sent as them any more. */
export class SignedOutError extends Error {
  constructor(readonly subject: string) {
    super(`${subject} is not signed in`);
    this.name = 'SignedOutError';
  }
}

/** A JWT that cannot be read: not three base64url parts, or a payload that is not a JSON object. */
export class MalformedTokenError extends Error {
  constructor(reason: string) {
    super(`malformed token: ${reason}`);
    this.name = 'MalformedTokenError';
  }
}

function base64UrlToBytes(s: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) throw new MalformedTokenError('a part is not base64url');
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4);
  const bin = atob(b64);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/**
 * The claims of a JWT, decoded without checking its signature (the API checks it; the client
 * only needs to know whose token it holds and when it expires).
 */
export function jwtClaims(token: string): Record<string, unknown> {
  const parts = token.split('.');
  if (parts.length !== 3) throw new MalformedTokenError(`${parts.length} parts instead of 3`);
  let claims: unknown;
  try {
    claims = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(base64UrlToBytes(parts[1])));
  } catch (e) {
    if (e instanceof MalformedTokenError) throw e;
    throw new MalformedTokenError('the payload is not UTF-8 JSON');
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims))
    throw new MalformedTokenError('the payload is not a JSON object');
  return claims as Record<string, unknown>;
}

/** The token's `sub` claim (a non-empty string), which names whose cache and queue are used. */
export function jwtSubject(token: string): string {
  const sub = jwtClaims(token).sub;
  if (typeof sub !== 'string' || sub === '') throw new MalformedTokenError('no `sub` claim');
  return sub;
}

/** The token's `exp` claim in epoch milliseconds, or undefined when it has none. */
export function jwtExpiresAtMs(token: string): number | undefined {
  const exp = jwtClaims(token).exp;
  return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
}
