/** Cognito sign-in for the page: the hosted UI (code flow + PKCE) when a domain is set, else email + password (`InitiateAuth`). */
import { SignedOutError, jwtClaims, jwtSubject } from '../idempotency/credentials';
import type { WebStorageLike } from '../idempotency/storage';
import {
  authorizeUrl,
  codeChallengeS256,
  codeExchangeRequest,
  createCodeVerifier,
  logoutUrl,
  randomUrlSafe,
  refreshRequest,
  type TokenRequest,
} from './pkce';
import { CognitoError, passwordAuth, refreshAuth, revokeToken, type CognitoIdpOptions } from './cognitoIdp';
import { UserTokens, postForToken, type IssuedToken } from './tokens';

export interface CognitoSettings {
  /** `VITE_AUTH_ISSUER`: `https://cognito-idp.<region>.amazonaws.com/<user pool id>`. */
  issuer: string;
  /** `VITE_AUTH_CLIENT_ID`: the app client (public, no secret). */
  clientId: string;
  /** `hostedUiBase(VITE_AUTH_DOMAIN)`, or undefined: then email + password through `endpoint`. */
  base?: string;
  /** The `cognito-idp` API (`https://cognito-idp.<region>.amazonaws.com/`, or `VITE_AUTH_COGNITO_ENDPOINT`). */
  endpoint?: string;
}

/** A token that is not one of this user pool's access tokens for this app client. */
export class WrongTokenError extends Error {
  constructor(detail: string) {
    super(`not an access token of this user pool and app client: ${detail}`);
    this.name = 'WrongTokenError';
  }
}

const trimSlash = (s: string) => s.replace(/\/+$/, '');

/**
 * Checks (without the signature, which the API checks) that `token` is an access token of the
 * configured pool (`iss`) for the configured app client (`client_id`), and answers its `sub`.
 */
export function checkAccessToken(token: string, s: Pick<CognitoSettings, 'issuer' | 'clientId'>): string {
  const claims = jwtClaims(token);
  if (typeof claims.iss !== 'string' || trimSlash(claims.iss) !== trimSlash(s.issuer))
    throw new WrongTokenError(`iss is ${JSON.stringify(claims.iss)}, expected ${s.issuer}`);
  if (claims.token_use !== undefined && claims.token_use !== 'access')
    throw new WrongTokenError(
      `token_use is ${JSON.stringify(claims.token_use)} (send the access token, not the id token)`,
    );
  if (claims.client_id !== s.clientId)
    throw new WrongTokenError(`client_id is ${JSON.stringify(claims.client_id)}, expected ${s.clientId}`);
  return jwtSubject(token);
}

const PENDING = 'oncely-auth:cognito-pending';
const SESSION = 'oncely-auth:cognito-session';

interface Pending {
  state: string;
  verifier: string;
  redirectUri: string;
}

export interface CognitoOptions {
  /** Where the PKCE verifier and the tokens are kept across the redirect: `sessionStorage`. */
  storage: WebStorageLike;
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
  wallNow?: () => number;
  /** Time bound of each token request (default 10 s). */
  timeoutMs?: number;
}

/** The hosted UI sign-in (authorization code + PKCE S256), its refresh, and sign-out. */
export class CognitoSignIn {
  private fetchFn: (input: string, init: RequestInit) => Promise<Response>;
  private resuming?: Promise<UserTokens | undefined>;
  constructor(
    readonly settings: CognitoSettings,
    private opts: CognitoOptions,
  ) {
    this.fetchFn = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** The URL to send the browser to; the verifier and state wait in storage for the redirect back. */
  async signInUrl(redirectUri: string): Promise<string> {
    const base = this.requireBase();
    const pending: Pending = { state: randomUrlSafe(16), verifier: createCodeVerifier(), redirectUri };
    this.opts.storage.setItem(PENDING, JSON.stringify(pending));
    return authorizeUrl({
      base,
      clientId: this.settings.clientId,
      redirectUri,
      state: pending.state,
      codeChallenge: await codeChallengeS256(pending.verifier),
    });
  }

  /**
   * Finishes a sign-in when `url` is the hosted UI's redirect back (`?code&state`, or `?error`):
   * exchanges the code (with the verifier) for tokens. Undefined when `url` is no such redirect.
   */
  async complete(url: URL): Promise<UserTokens | undefined> {
    const error = url.searchParams.get('error');
    const code = url.searchParams.get('code');
    if (!error && !code) return undefined;
    const raw = this.opts.storage.getItem(PENDING);
    this.opts.storage.removeItem(PENDING);
    if (error) throw new Error(`sign-in failed: ${error} ${url.searchParams.get('error_description') ?? ''}`.trim());
    const pending = raw ? (JSON.parse(raw) as Pending) : undefined;
    if (!pending || pending.state !== url.searchParams.get('state'))
      throw new Error('sign-in failed: the redirect does not answer the sign-in this tab started (state mismatch)');
    const issued = await this.post(
      codeExchangeRequest({
        base: this.requireBase(),
        clientId: this.settings.clientId,
        code: code!,
        redirectUri: pending.redirectUri,
        codeVerifier: pending.verifier,
      }),
    );
    return this.accept(issued);
  }

  /**
   * At page load: the sign-in `url` completes (the hosted UI's redirect back), else the session this
   * tab had before a reload. Runs once per instance (a second call gets the same answer), since a
   * code can be exchanged only once.
   */
  resume(url: URL): Promise<UserTokens | undefined> {
    this.resuming ??= this.complete(url).then((t) => t ?? this.restore());
    return this.resuming;
  }

  /**
   * Signs in with email and password (`InitiateAuth` `USER_PASSWORD_AUTH`); the tokens renew with
   * the refresh token. Rejects with a `CognitoError` whose message says what to do.
   */
  async signInWithPassword(email: string, password: string): Promise<UserTokens> {
    if (!email.trim() || !password) throw new CognitoError('other', 'Enter your email and password.');
    return this.accept(await passwordAuth(this.idp(), email.trim(), password));
  }

  /** Tokens from an access token pasted by hand: used until it expires (it cannot be renewed). */
  fromAccessToken(accessToken: string): UserTokens {
    return this.accept({ accessToken: accessToken.trim() });
  }

  /** The tokens this tab signed in with before a reload, if any. */
  restore(): UserTokens | undefined {
    const raw = this.opts.storage.getItem(SESSION);
    if (!raw) return undefined;
    try {
      return this.accept(JSON.parse(raw) as IssuedToken);
    } catch {
      this.opts.storage.removeItem(SESSION);
      return undefined;
    }
  }

  /**
   * The last password sign-out's `RevokeToken`, which runs in the background: true when Cognito
   * revoked the refresh token, false when it could not (the tokens are forgotten either way).
   */
  revocation?: Promise<boolean>;

  /**
   * Forgets the tokens; answers the hosted UI's logout URL (to end its session too) when there is
   * one. Signed in with a password, the refresh token is also revoked at Cognito (see `revocation`).
   */
  signOut(tokens: UserTokens, logoutUri: string): string | undefined {
    const refreshToken = tokens.issued?.refreshToken;
    tokens.signOut();
    this.opts.storage.removeItem(SESSION);
    const base = this.settings.base;
    if (base) return logoutUrl({ base, clientId: this.settings.clientId, logoutUri });
    if (refreshToken && this.settings.endpoint)
      this.revocation = revokeToken(this.idp(), refreshToken).then(
        () => true,
        () => false,
      );
    return undefined;
  }

  private accept(issued: IssuedToken): UserTokens {
    const sub = checkAccessToken(issued.accessToken, this.settings);
    const tokens = new UserTokens(
      sub,
      async (current) => {
        const { base, endpoint } = this.settings;
        if (!current?.refreshToken || (!base && !endpoint)) throw new SignedOutError(sub); // a pasted token cannot be renewed
        const next = base
          ? await this.post(
              refreshRequest({ base, clientId: this.settings.clientId, refreshToken: current.refreshToken }),
            )
          : await this.refresh(sub, current.refreshToken);
        checkAccessToken(next.accessToken, this.settings);
        this.save({ ...next, refreshToken: next.refreshToken ?? current.refreshToken });
        return next;
      },
      this.opts.wallNow,
      issued,
    );
    this.save(issued);
    return tokens;
  }

  /** `REFRESH_TOKEN_AUTH`; a refresh token Cognito no longer takes signs the user out (their requests stay queued). */
  private async refresh(sub: string, refreshToken: string): Promise<IssuedToken> {
    try {
      return await refreshAuth(this.idp(), refreshToken);
    } catch (e) {
      if (e instanceof CognitoError && e.kind === 'session-ended') {
        this.opts.storage.removeItem(SESSION);
        throw new SignedOutError(sub);
      }
      throw e;
    }
  }

  private idp(): CognitoIdpOptions {
    const endpoint = this.settings.endpoint;
    if (!endpoint) throw new Error('password sign-in needs the cognito-idp endpoint (from VITE_AUTH_ISSUER)');
    return { endpoint, clientId: this.settings.clientId, fetch: this.fetchFn, timeoutMs: this.opts.timeoutMs };
  }

  private save(issued: IssuedToken) {
    this.opts.storage.setItem(SESSION, JSON.stringify(issued));
  }

  private post(r: TokenRequest): Promise<IssuedToken> {
    return postForToken(this.fetchFn, r.url, { headers: r.headers, body: r.body }, this.opts.timeoutMs ?? 10_000);
  }

  private requireBase(): string {
    if (!this.settings.base) throw new Error('the hosted UI needs VITE_AUTH_DOMAIN');
    return this.settings.base;
  }
}
