import { describe, expect, it } from 'vitest';
import { SignedOutError } from '../idempotency/credentials';
import { MemoryStorage, scriptedFetch, unsignedJwt } from '../idempotency/testkit';
import { CognitoSignIn, WrongTokenError, checkAccessToken } from './cognito';
import { codeChallengeS256 } from './pkce';

const issuer = 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC';
const clientId = 'client123';
const base = 'https://oncely.auth.eu-west-1.amazoncognito.com';
const page = 'http://localhost:5173/';
const access = (claims: Record<string, unknown> = {}) =>
  unsignedJwt({ sub: 'u-1', iss: issuer, client_id: clientId, token_use: 'access', exp: 2_000_000_000, ...claims });
const tokenAnswer = (accessToken: string, extra: Record<string, unknown> = {}) => ({
  status: 200,
  body: JSON.stringify({ access_token: accessToken, token_type: 'Bearer', expires_in: 3600, ...extra }),
});

describe('Cognito access tokens', () => {
  it("answers the sub of this pool's access token for this app client", () => {
    expect(checkAccessToken(access(), { issuer, clientId })).toBe('u-1');
  });

  it('refuses another pool, another client, or an id token, saying which', () => {
    expect(() => checkAccessToken(access({ iss: 'https://elsewhere' }), { issuer, clientId })).toThrow(/iss is/);
    expect(() => checkAccessToken(access({ client_id: 'other' }), { issuer, clientId })).toThrow(/client_id is/);
    expect(() => checkAccessToken(access({ token_use: 'id' }), { issuer, clientId })).toThrow(WrongTokenError);
  });
});

describe('hosted UI sign-in (code flow + PKCE)', () => {
  it('the redirect back is exchanged with the verifier whose S256 challenge went out', async () => {
    const storage = new MemoryStorage();
    const refresh = 'refresh-1';
    const { fetch, calls } = scriptedFetch([tokenAnswer(access(), { refresh_token: refresh, id_token: 'i.d.t' })]);
    const signIn = new CognitoSignIn({ issuer, clientId, base }, { storage, fetch });
    const out = new URL(await signIn.signInUrl(page));
    const state = out.searchParams.get('state')!;
    expect(out.searchParams.get('code_challenge_method')).toBe('S256');

    const tokens = await signIn.complete(new URL(`${page}?code=c0de&state=${encodeURIComponent(state)}`));
    expect(tokens?.subject).toBe('u-1');
    expect(await tokens!.token()).toBe(access());
    expect(calls).toHaveLength(1);
    expect(calls[0].url).toBe(`${base}/oauth2/token`);
    const form = new URLSearchParams(calls[0].init.body as string);
    expect(form.get('grant_type')).toBe('authorization_code');
    expect(form.get('code')).toBe('c0de');
    expect(form.get('redirect_uri')).toBe(page);
    expect(await codeChallengeS256(form.get('code_verifier')!)).toBe(out.searchParams.get('code_challenge'));
    // The session survives a reload of this tab.
    const again = new CognitoSignIn({ issuer, clientId, base }, { storage, fetch }).restore();
    expect(again?.subject).toBe('u-1');
  });

  it('a redirect whose state this tab did not start is refused, with nothing exchanged', async () => {
    const storage = new MemoryStorage();
    const { fetch, calls } = scriptedFetch([tokenAnswer(access())]);
    const signIn = new CognitoSignIn({ issuer, clientId, base }, { storage, fetch });
    await signIn.signInUrl(page);
    await expect(signIn.complete(new URL(`${page}?code=c0de&state=forged`))).rejects.toThrow(/state mismatch/);
    expect(calls).toHaveLength(0);
  });

  it("the hosted UI's error is shown; a page without code is no redirect", async () => {
    const signIn = new CognitoSignIn({ issuer, clientId, base }, { storage: new MemoryStorage() });
    await expect(
      signIn.complete(new URL(`${page}?error=access_denied&error_description=User+cancelled`)),
    ).rejects.toThrow(/access_denied User cancelled/);
    expect(await signIn.complete(new URL(page))).toBeUndefined();
  });

  it('renewal uses the refresh token', async () => {
    const renewed = access({ n: 2 });
    const { fetch, calls } = scriptedFetch([tokenAnswer(access(), { refresh_token: 'r1' }), tokenAnswer(renewed)]);
    const signIn = new CognitoSignIn({ issuer, clientId, base }, { storage: new MemoryStorage(), fetch });
    const state = new URL(await signIn.signInUrl(page)).searchParams.get('state')!;
    const tokens = (await signIn.complete(new URL(`${page}?code=c&state=${state}`)))!;
    expect(await tokens.renew()).toBe(renewed);
    const form = new URLSearchParams(calls[1].init.body as string);
    expect(form.get('grant_type')).toBe('refresh_token');
    expect(form.get('refresh_token')).toBe('r1');
  });

  it('a pasted token (no domain) is used until it expires, then the user is signed out', async () => {
    const signIn = new CognitoSignIn({ issuer, clientId }, { storage: new MemoryStorage() });
    await expect(signIn.signInUrl(page)).rejects.toThrow(/needs VITE_AUTH_DOMAIN/);
    const tokens = signIn.fromAccessToken(` ${access()} `);
    expect(await tokens.token()).toBe(access());
    await expect(tokens.renew()).rejects.toBeInstanceOf(SignedOutError);
    expect(() => signIn.fromAccessToken(access({ client_id: 'other' }))).toThrow(WrongTokenError);
  });
});
