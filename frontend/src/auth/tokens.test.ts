import { describe, expect, it } from 'vitest';
import { SignedOutError, jwtClaims, jwtSubject, MalformedTokenError } from '../idempotency/credentials';
import { scriptedFetch, unsignedJwt } from '../idempotency/testkit';
import { localIssue, signInLocally } from './local';
import { TokenResponseError, UserTokens, parseTokenResponse, pastedIssuerTokens, type IssuedToken } from './tokens';

const HOUR_S = 3600;

describe('JWT claims (no signature check on the client)', () => {
  it('reads sub and exp from the payload', () => {
    const t = unsignedJwt({ sub: 'alice', exp: 1_800_000_000, name: 'Ålice ✓' });
    expect(jwtSubject(t)).toBe('alice');
    expect(jwtClaims(t).name).toBe('Ålice ✓');
  });

  it('names what is wrong with a malformed token', () => {
    expect(() => jwtSubject('a.b')).toThrow(/2 parts instead of 3/);
    expect(() => jwtSubject('a.b*c.d')).toThrow(/not base64url/);
    expect(() => jwtSubject(`x.${btoa('[1]')}.y`)).toThrow(/not a JSON object/);
    expect(() => jwtSubject(unsignedJwt({ name: 'nobody' }))).toThrow(MalformedTokenError);
    expect(() => jwtSubject(unsignedJwt({ sub: '' }))).toThrow(/no `sub` claim/);
  });
});

describe('token responses', () => {
  it('takes a Bearer access token with its lifetime', () => {
    expect(parseTokenResponse({ access_token: 'x.y.z', token_type: 'Bearer', expires_in: 3600 })).toEqual({
      accessToken: 'x.y.z',
      expiresInS: 3600,
      refreshToken: undefined,
      idToken: undefined,
    });
  });

  it('refuses anything else, naming the field', () => {
    expect(() => parseTokenResponse([])).toThrow(TokenResponseError);
    expect(() => parseTokenResponse({ token_type: 'Bearer' })).toThrow(/no `access_token`/);
    expect(() => parseTokenResponse({ access_token: 'a', token_type: 'mac' })).toThrow(/token_type/);
    expect(() => parseTokenResponse({ access_token: 'a', token_type: 'Bearer', expires_in: -1 })).toThrow(/expires_in/);
  });
});

describe('UserTokens', () => {
  function issuer(sub = 'alice', expiresInS = HOUR_S) {
    let n = 0;
    const issue = async (): Promise<IssuedToken> => ({
      accessToken: unsignedJwt({ sub, n: ++n }),
      expiresInS,
    });
    return { issue, count: () => n };
  }

  it('reuses the token, and renews it shortly before it expires', async () => {
    let now = 1_000_000;
    const { issue, count } = issuer();
    const t = new UserTokens('alice', issue, () => now);
    const first = await t.token();
    now += (HOUR_S - 61) * 1000;
    expect(await t.token()).toBe(first);
    expect(count()).toBe(1);
    now += 2000; // within a minute of expiry
    const second = await t.token();
    expect(second).not.toBe(first);
    expect(jwtClaims(second).n).toBe(2);
  });

  it('the earlier of expires_in and exp decides', async () => {
    let now = Date.UTC(2026, 0, 1);
    const t = new UserTokens(
      'alice',
      async () => ({ accessToken: unsignedJwt({ sub: 'alice', exp: now / 1000 + 100 }), expiresInS: HOUR_S }),
      () => now,
    );
    const first = await t.token();
    now += 95_000; // 100 s token: renewed 10 s before its exp
    expect(await t.token()).not.toBe(first);
  });

  it('concurrent callers share one renewal', async () => {
    const { issue, count } = issuer();
    const t = new UserTokens('alice', issue);
    const got = await Promise.all([t.token(), t.token(), t.renew()]);
    expect(new Set(got).size).toBe(1);
    expect(count()).toBe(1);
  });

  it("refuses a token issued for someone else's sub", async () => {
    const t = new UserTokens('alice', issuer('bob').issue);
    await expect(t.token()).rejects.toThrow(/for bob, not alice/);
  });

  it('after sign-out nothing is handed out, even a renewal under way', async () => {
    const { issue } = issuer();
    const t = new UserTokens('alice', issue);
    await t.token();
    const renewing = t.renew();
    t.signOut();
    await expect(renewing).rejects.toBeInstanceOf(SignedOutError);
    await expect(t.token()).rejects.toBeInstanceOf(SignedOutError);
  });
});

describe('a pasted token (api.auth.jwt: any OIDC issuer)', () => {
  it("is used for its sub until it expires, then the user is signed out; another issuer's is refused", async () => {
    let now = Date.UTC(2026, 0, 1);
    const token = unsignedJwt({ sub: 'carol', iss: 'https://id.example.com/', exp: now / 1000 + 600 });
    const t = pastedIssuerTokens(`${token}\n`, 'https://id.example.com', () => now);
    expect(t.subject).toBe('carol');
    expect(await t.token()).toBe(token);
    now += 600_000;
    await expect(t.token()).rejects.toBeInstanceOf(SignedOutError);
    expect(() => pastedIssuerTokens(token, 'https://other.example.com')).toThrow(/iss is "https:\/\/id.example.com\/"/);
  });
});

describe('the local issuer contract', () => {
  it('POST {issuer}/token with {sub, ttl_s}; the answer is a Bearer token for that sub', async () => {
    const token = unsignedJwt({ sub: 'bob', exp: 2_000_000_000 });
    const { fetch, calls } = scriptedFetch([
      { status: 200, body: JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: 3600 }) },
    ]);
    const t = await signInLocally('bob', { issuer: 'http://127.0.0.1:4010/', fetch });
    expect(await t.token()).toBe(token);
    expect(calls).toHaveLength(1);
    expect(calls[0].url).toBe('http://127.0.0.1:4010/token');
    expect(calls[0].init.method).toBe('POST');
    expect(calls[0].headers['Content-Type']).toBe('application/json');
    expect(JSON.parse(calls[0].init.body as string)).toEqual({ sub: 'bob', ttl_s: 3600 });
    expect(calls[0].init.signal).toBeInstanceOf(AbortSignal); // time-bounded
  });

  it('an issuer error names the status', async () => {
    const { fetch } = scriptedFetch([{ status: 400, body: '{"error":"bad sub"}' }]);
    await expect(localIssue('bob', { issuer: 'http://127.0.0.1:4010', fetch })()).rejects.toThrow(
      /answered 400: {"error":"bad sub"}/,
    );
  });
});
