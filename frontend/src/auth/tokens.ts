/** A signed-in user's access tokens: fetched when needed, renewed before they expire. */
import { SignedOutError, jwtClaims, jwtExpiresAtMs, jwtSubject, type Credentials } from '../idempotency/credentials';

/** What an issuer answered (`access_token`, `expires_in`, `refresh_token` of an OAuth token response). */
export interface IssuedToken {
  accessToken: string;
  /** Seconds the token is valid for, from when it was issued. */
  expiresInS?: number;
  refreshToken?: string;
  idToken?: string;
}

/** An issuer's answer that is not a bearer token response. */
export class TokenResponseError extends Error {
  constructor(detail: string) {
    super(`the issuer's token response is not usable: ${detail}`);
    this.name = 'TokenResponseError';
  }
}

/** Reads an OAuth 2.0 token response (RFC 6749 §5.1): a `Bearer` `access_token`, its `expires_in`. */
export function parseTokenResponse(json: unknown): IssuedToken {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new TokenResponseError('not a JSON object');
  const o = json as Record<string, unknown>;
  if (typeof o.access_token !== 'string' || o.access_token === '')
    throw new TokenResponseError('no `access_token` string');
  if (typeof o.token_type !== 'string' || o.token_type.toLowerCase() !== 'bearer')
    throw new TokenResponseError(`\`token_type\` is ${JSON.stringify(o.token_type)}, not "Bearer"`);
  if (o.expires_in !== undefined && (typeof o.expires_in !== 'number' || !(o.expires_in > 0)))
    throw new TokenResponseError(`\`expires_in\` is ${JSON.stringify(o.expires_in)}, not a positive number`);
  for (const k of ['refresh_token', 'id_token'])
    if (o[k] !== undefined && typeof o[k] !== 'string') throw new TokenResponseError(`\`${k}\` is not a string`);
  return {
    accessToken: o.access_token,
    expiresInS: o.expires_in as number | undefined,
    refreshToken: o.refresh_token as string | undefined,
    idToken: o.id_token as string | undefined,
  };
}

/** Gets a new token for the user; `current` is the last one (its refresh token, for Cognito). */
export type IssueToken = (current?: IssuedToken) => Promise<IssuedToken>;

/** How long before expiry a token is renewed: a tenth of its life, at most a minute. */
export function renewalMarginMs(lifetimeMs: number): number {
  return Math.min(60_000, Math.max(0, lifetimeMs) / 10);
}

/**
 * `Credentials` for one user: the token is reused until shortly before it expires (the earlier of
 * `expires_in` and its `exp` claim), then renewed; concurrent callers share one renewal. A token
 * issued for another `sub` is refused. After `signOut`, every call rejects with `SignedOutError`.
 */
export class UserTokens implements Credentials {
  private current?: IssuedToken;
  private renewAt = 0;
  private renewing: Promise<string> | null = null;
  private signedOut = false;

  constructor(
    readonly subject: string,
    private issue: IssueToken,
    private wallNow: () => number = Date.now,
    initial?: IssuedToken,
  ) {
    if (initial) this.accept(initial, wallNow());
  }

  async token(): Promise<string> {
    if (this.signedOut) throw new SignedOutError(this.subject);
    if (this.current && this.wallNow() < this.renewAt) return this.current.accessToken;
    return this.renew();
  }

  renew(): Promise<string> {
    if (this.signedOut) return Promise.reject(new SignedOutError(this.subject));
    if (!this.renewing) {
      const issuedAt = this.wallNow();
      this.renewing = this.issue(this.current)
        .then((t) => {
          if (this.signedOut) throw new SignedOutError(this.subject);
          this.accept(t, issuedAt);
          return t.accessToken;
        })
        .finally(() => {
          this.renewing = null;
        });
    }
    return this.renewing;
  }

  /** The last token's issuer response (to keep it across a reload), or undefined. */
  get issued(): IssuedToken | undefined {
    return this.current;
  }

  signOut(): void {
    this.signedOut = true;
    this.current = undefined;
  }

  private accept(t: IssuedToken, issuedAt: number) {
    const sub = jwtSubject(t.accessToken);
    if (sub !== this.subject) throw new TokenResponseError(`the token is for ${sub}, not ${this.subject}`);
    const byExpiresIn = t.expiresInS !== undefined ? issuedAt + t.expiresInS * 1000 : undefined;
    const byExp = jwtExpiresAtMs(t.accessToken);
    const expiresAt = Math.min(byExpiresIn ?? Infinity, byExp ?? Infinity);
    // Neither says: use it until the API refuses it (401 renews it).
    this.renewAt = Number.isFinite(expiresAt) ? expiresAt - renewalMarginMs(expiresAt - issuedAt) : Infinity;
    this.current = { ...t, refreshToken: t.refreshToken ?? this.current?.refreshToken };
  }
}

/**
 * Tokens from an access token pasted by hand: used until it expires (or the API refuses it), then
 * the user is signed out (their requests wait in their queue until they paste a new one).
 */
export function pastedTokens(accessToken: string, wallNow?: () => number): UserTokens {
  const token = accessToken.trim();
  const sub = jwtSubject(token);
  return new UserTokens(sub, () => Promise.reject(new SignedOutError(sub)), wallNow, { accessToken: token });
}

/** Checks a pasted token's `iss` (no signature check: the API does that); answers its tokens. */
export function pastedIssuerTokens(accessToken: string, issuer: string, wallNow?: () => number): UserTokens {
  const iss = jwtClaims(accessToken.trim()).iss;
  const trim = (s: string) => s.replace(/\/+$/, '');
  if (typeof iss !== 'string' || trim(iss) !== trim(issuer))
    throw new TokenResponseError(`the token's iss is ${JSON.stringify(iss)}, expected ${issuer}`);
  return pastedTokens(accessToken, wallNow);
}

/** POSTs to an issuer with a time bound; answers its parsed token response or throws naming the status. */
export async function postForToken(
  fetchFn: (input: string, init: RequestInit) => Promise<Response>,
  url: string,
  init: RequestInit,
  timeoutMs: number,
): Promise<IssuedToken> {
  const res = await fetchFn(url, { ...init, method: 'POST', signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${url} answered ${res.status}: ${text.slice(0, 200)}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new TokenResponseError(`${url} answered text that is not JSON`);
  }
  return parseTokenResponse(json);
}
