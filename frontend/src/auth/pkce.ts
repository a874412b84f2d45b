/** OAuth 2.0 authorization code flow with PKCE (RFC 7636, S256) for the Cognito hosted UI: URLs and request bodies. */

function base64Url(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A random string of `bytes` random bytes, base64url (32 bytes: 43 characters, as RFC 7636 suggests). */
export function randomUrlSafe(bytes = 32): string {
  return base64Url(globalThis.crypto.getRandomValues(new Uint8Array(bytes)));
}

/** A PKCE code verifier: 43 to 128 characters of `[A-Za-z0-9-._~]` (RFC 7636 §4.1). */
export function createCodeVerifier(): string {
  return randomUrlSafe(32);
}

/** `BASE64URL(SHA256(ASCII(verifier)))`: the S256 code challenge (RFC 7636 §4.2), through Web Crypto. */
export async function codeChallengeS256(verifier: string): Promise<string> {
  if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(verifier))
    throw new Error('a PKCE code verifier is 43 to 128 characters of A-Z a-z 0-9 - . _ ~');
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new Error('PKCE needs Web Crypto (crypto.subtle): serve the page over https or from localhost');
  const digest = await subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64Url(new Uint8Array(digest));
}

/**
 * The hosted UI's base URL from `VITE_AUTH_DOMAIN`: a URL (`https://x.auth.eu-west-1.amazoncognito.com`)
 * or a bare host (`x.auth.eu-west-1.amazoncognito.com`, given https). Plain http only for localhost.
 */
export function hostedUiBase(domain: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(domain) ? domain : `https://${domain}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`VITE_AUTH_DOMAIN=${domain} is neither a URL nor a host name`);
  }
  const local = url.hostname === 'localhost' || url.hostname === '127.0.0.1';
  if (url.protocol !== 'https:' && !(local && url.protocol === 'http:'))
    throw new Error(`VITE_AUTH_DOMAIN=${domain} must be https (http only for localhost)`);
  return url.origin + url.pathname.replace(/\/+$/, '');
}

export interface AuthorizeParams {
  /** `hostedUiBase(VITE_AUTH_DOMAIN)`. */
  base: string;
  clientId: string;
  redirectUri: string;
  state: string;
  codeChallenge: string;
  scopes?: string[];
}

/** The hosted UI's `/oauth2/authorize` URL that starts sign-in (code flow, S256 challenge). */
export function authorizeUrl(p: AuthorizeParams): string {
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: p.clientId,
    redirect_uri: p.redirectUri,
    state: p.state,
    code_challenge: p.codeChallenge,
    code_challenge_method: 'S256',
    scope: (p.scopes ?? ['openid']).join(' '),
  });
  return `${p.base}/oauth2/authorize?${q}`;
}

/** A form POST to the hosted UI's `/oauth2/token`. */
export interface TokenRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

function tokenRequest(base: string, form: Record<string, string>): TokenRequest {
  return {
    url: `${base}/oauth2/token`,
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  };
}

/** Exchanges the code the hosted UI redirected back with, proving the verifier (public client: no secret). */
export function codeExchangeRequest(p: {
  base: string;
  clientId: string;
  code: string;
  redirectUri: string;
  codeVerifier: string;
}): TokenRequest {
  return tokenRequest(p.base, {
    grant_type: 'authorization_code',
    client_id: p.clientId,
    code: p.code,
    redirect_uri: p.redirectUri,
    code_verifier: p.codeVerifier,
  });
}

/** Gets a new access token with the refresh token. */
export function refreshRequest(p: { base: string; clientId: string; refreshToken: string }): TokenRequest {
  return tokenRequest(p.base, { grant_type: 'refresh_token', client_id: p.clientId, refresh_token: p.refreshToken });
}

/** The hosted UI's `/logout` URL, back to `logoutUri` (one of the app client's sign-out URLs). */
export function logoutUrl(p: { base: string; clientId: string; logoutUri: string }): string {
  return `${p.base}/logout?${new URLSearchParams({ client_id: p.clientId, logout_uri: p.logoutUri })}`;
}
