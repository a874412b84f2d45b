import { describe, expect, it } from 'vitest';
import {
  authorizeUrl,
  codeChallengeS256,
  codeExchangeRequest,
  createCodeVerifier,
  hostedUiBase,
  logoutUrl,
  refreshRequest,
} from './pkce';

describe('PKCE (RFC 7636, S256) with Web Crypto', () => {
  it("matches RFC 7636 appendix B's example", async () => {
    expect(await codeChallengeS256('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe(
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
  });

  it('verifiers are 43 unreserved characters, each one new', async () => {
    const a = createCodeVerifier();
    const b = createCodeVerifier();
    expect(a).toMatch(/^[A-Za-z0-9\-._~]{43}$/);
    expect(a).not.toBe(b);
    expect(await codeChallengeS256(a)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('refuses a verifier RFC 7636 does not allow, naming the rule', async () => {
    await expect(codeChallengeS256('too-short')).rejects.toThrow(/43 to 128 characters/);
    await expect(codeChallengeS256('a'.repeat(42) + '+')).rejects.toThrow(/43 to 128/);
  });
});

describe('hosted UI URLs and token requests', () => {
  const base = hostedUiBase('oncely-dev.auth.eu-west-1.amazoncognito.com');

  it('the domain may be a host or an https URL; http only for localhost', () => {
    expect(base).toBe('https://oncely-dev.auth.eu-west-1.amazoncognito.com');
    expect(hostedUiBase('https://auth.example.com/')).toBe('https://auth.example.com');
    expect(hostedUiBase('http://localhost:9229')).toBe('http://localhost:9229');
    expect(() => hostedUiBase('http://auth.example.com')).toThrow(/must be https/);
    expect(() => hostedUiBase('https://')).toThrow(/neither a URL nor a host name/);
  });

  it('authorize: code flow with the S256 challenge, state and redirect', async () => {
    const challenge = await codeChallengeS256('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk');
    const url = new URL(
      authorizeUrl({
        base,
        clientId: 'client123',
        redirectUri: 'http://localhost:5173/',
        state: 'st&ate',
        codeChallenge: challenge,
      }),
    );
    expect(url.origin + url.pathname).toBe(`${base}/oauth2/authorize`);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code',
      client_id: 'client123',
      redirect_uri: 'http://localhost:5173/',
      state: 'st&ate',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      scope: 'openid',
    });
  });

  it('the code exchange and the refresh are form posts to /oauth2/token, without a secret', () => {
    const x = codeExchangeRequest({
      base,
      clientId: 'client123',
      code: 'c0de',
      redirectUri: 'http://localhost:5173/',
      codeVerifier: 'v'.repeat(43),
    });
    expect(x.url).toBe(`${base}/oauth2/token`);
    expect(x.headers).toEqual({ 'Content-Type': 'application/x-www-form-urlencoded' });
    expect(Object.fromEntries(new URLSearchParams(x.body))).toEqual({
      grant_type: 'authorization_code',
      client_id: 'client123',
      code: 'c0de',
      redirect_uri: 'http://localhost:5173/',
      code_verifier: 'v'.repeat(43),
    });
    const r = refreshRequest({ base, clientId: 'client123', refreshToken: 'r/t+=' });
    expect(Object.fromEntries(new URLSearchParams(r.body))).toEqual({
      grant_type: 'refresh_token',
      client_id: 'client123',
      refresh_token: 'r/t+=',
    });
  });

  it('logout goes back to the page', () => {
    const url = new URL(logoutUrl({ base, clientId: 'client123', logoutUri: 'http://localhost:5173/' }));
    expect(url.pathname).toBe('/logout');
    expect(url.searchParams.get('logout_uri')).toBe('http://localhost:5173/');
  });
});
