import { describe, expect, it } from 'vitest';
import { AuthConfigError, readAuthConfig } from './config';

describe('VITE_AUTH_* settings', () => {
  it('absent or none: no sign-in', () => {
    expect(readAuthConfig({})).toEqual({ mode: 'none' });
    expect(readAuthConfig({ VITE_AUTH_MODE: 'none', VITE_AUTH_ISSUER: 'http://x' })).toEqual({ mode: 'none' });
  });

  it('local: the issuer URL', () => {
    expect(readAuthConfig({ VITE_AUTH_MODE: 'local', VITE_AUTH_ISSUER: 'http://127.0.0.1:4010/' })).toEqual({
      mode: 'local',
      issuer: 'http://127.0.0.1:4010',
    });
  });

  it('jwt (any OIDC issuer): the issuer URL, a token is pasted', () => {
    expect(readAuthConfig({ VITE_AUTH_MODE: 'jwt', VITE_AUTH_ISSUER: 'https://id.example.com' })).toEqual({
      mode: 'jwt',
      issuer: 'https://id.example.com',
    });
  });

  it('cognito: issuer, client id and the optional hosted UI domain', () => {
    const issuer = 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC';
    expect(readAuthConfig({ VITE_AUTH_MODE: 'cognito', VITE_AUTH_ISSUER: issuer, VITE_AUTH_CLIENT_ID: 'c1' })).toEqual({
      mode: 'cognito',
      issuer,
      clientId: 'c1',
      base: undefined,
      endpoint: 'https://cognito-idp.eu-west-1.amazonaws.com/',
    });
    expect(
      readAuthConfig({
        VITE_AUTH_MODE: 'cognito',
        VITE_AUTH_ISSUER: issuer,
        VITE_AUTH_CLIENT_ID: 'c1',
        VITE_AUTH_DOMAIN: 'oncely.auth.eu-west-1.amazoncognito.com',
      }),
    ).toMatchObject({ base: 'https://oncely.auth.eu-west-1.amazoncognito.com' });
  });

  it('names the missing or bad setting', () => {
    expect(() => readAuthConfig({ VITE_AUTH_MODE: 'oidc' })).toThrow(
      /VITE_AUTH_MODE=oidc: expected none, local, cognito or jwt/,
    );
    expect(() => readAuthConfig({ VITE_AUTH_MODE: 'local' })).toThrow(/needs VITE_AUTH_ISSUER/);
    expect(() => readAuthConfig({ VITE_AUTH_MODE: 'local', VITE_AUTH_ISSUER: 'ftp://x' })).toThrow(
      /not an http\(s\) URL/,
    );
    expect(() => readAuthConfig({ VITE_AUTH_MODE: 'cognito', VITE_AUTH_ISSUER: 'https://x' })).toThrow(
      /needs VITE_AUTH_CLIENT_ID/,
    );
    expect(() =>
      readAuthConfig({
        VITE_AUTH_MODE: 'cognito',
        VITE_AUTH_ISSUER: 'https://x',
        VITE_AUTH_CLIENT_ID: 'c',
        VITE_AUTH_DOMAIN: 'http://x.example',
      }),
    ).toThrow(AuthConfigError);
  });
});
