/** Tokens from `up --local`'s issuer: `POST {issuer}/token` with `{"sub", "ttl_s"}`. */
import { UserTokens, postForToken, type IssueToken } from './tokens';

/** The users the local page offers (any `sub` works with the local issuer). */
export const LOCAL_USERS = ['alice', 'bob'] as const;

export interface LocalIssuerOptions {
  /** The issuer's base URL (`VITE_AUTH_ISSUER`), e.g. `http://127.0.0.1:3001`. */
  issuer: string;
  /** Lifetime asked for each token (default one hour). */
  ttlS?: number;
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
  wallNow?: () => number;
  /** Time bound of each token request (default 10 s). */
  timeoutMs?: number;
}

/** How a token for `sub` is asked of the local issuer. */
export function localIssue(sub: string, opts: LocalIssuerOptions): IssueToken {
  const url = `${opts.issuer.replace(/\/+$/, '')}/token`;
  const fetchFn = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
  return () =>
    postForToken(
      fetchFn,
      url,
      { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ sub, ttl_s: opts.ttlS ?? 3600 }) },
      opts.timeoutMs ?? 10_000,
    );
}

/** Signs `sub` in with the local issuer: their first token is fetched now (so a dead issuer shows at once). */
export async function signInLocally(sub: string, opts: LocalIssuerOptions): Promise<UserTokens> {
  const tokens = new UserTokens(sub, localIssue(sub, opts), opts.wallNow);
  await tokens.token();
  return tokens;
}
