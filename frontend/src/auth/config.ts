/** The page's auth mode, read from `VITE_AUTH_*` (absent or `none`: no sign-in, as before auth existed). */
import { cognitoIdpEndpoint } from './cognitoIdp';
import { hostedUiBase } from './pkce';

export type AuthConfig =
  | { mode: 'none' }
  /** `up --local`'s issuer: a user picker, tokens from `POST {issuer}/token`. */
  | { mode: 'local'; issuer: string }
  /**
   * A Cognito user pool: hosted UI sign-in when `base` (from `VITE_AUTH_DOMAIN`) is set, else email +
   * password through `endpoint` (the pool's `cognito-idp` API, or `VITE_AUTH_COGNITO_ENDPOINT`).
   */
  | { mode: 'cognito'; issuer: string; clientId: string; base?: string; endpoint?: string }
  /** Any OIDC issuer (`api.auth.jwt`): an access token from that issuer is pasted. */
  | { mode: 'jwt'; issuer: string };

/** A `VITE_AUTH_*` setting that is missing or wrong, named. */
export class AuthConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuthConfigError';
  }
}

export interface AuthEnv {
  VITE_AUTH_MODE?: string;
  VITE_AUTH_ISSUER?: string;
  VITE_AUTH_CLIENT_ID?: string;
  VITE_AUTH_DOMAIN?: string;
  VITE_AUTH_COGNITO_ENDPOINT?: string;
}

function httpUrl(name: string, value: string | undefined, mode: string, what = "the issuer's URL"): string {
  if (!value?.trim()) throw new AuthConfigError(`VITE_AUTH_MODE=${mode} needs ${name} (${what})`);
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new AuthConfigError(`${name}=${value} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new AuthConfigError(`${name}=${value} is not an http(s) URL`);
  return value.trim().replace(/\/+$/, '');
}

/** The auth mode from the build's environment (`import.meta.env`); throws `AuthConfigError` naming the bad setting. */
export function readAuthConfig(env: AuthEnv): AuthConfig {
  const mode = (env.VITE_AUTH_MODE ?? '').trim();
  switch (mode) {
    case '':
    case 'none':
      return { mode: 'none' };
    case 'local':
      return { mode: 'local', issuer: httpUrl('VITE_AUTH_ISSUER', env.VITE_AUTH_ISSUER, mode) };
    case 'jwt':
      return { mode: 'jwt', issuer: httpUrl('VITE_AUTH_ISSUER', env.VITE_AUTH_ISSUER, mode) };
    case 'cognito': {
      const issuer = httpUrl('VITE_AUTH_ISSUER', env.VITE_AUTH_ISSUER, mode);
      const clientId = env.VITE_AUTH_CLIENT_ID?.trim();
      if (!clientId) throw new AuthConfigError('VITE_AUTH_MODE=cognito needs VITE_AUTH_CLIENT_ID (the app client id)');
      const domain = env.VITE_AUTH_DOMAIN?.trim();
      let base: string | undefined;
      if (domain) {
        try {
          base = hostedUiBase(domain);
        } catch (e) {
          throw new AuthConfigError(e instanceof Error ? e.message : String(e));
        }
      }
      const override = env.VITE_AUTH_COGNITO_ENDPOINT?.trim();
      const endpoint = override
        ? httpUrl('VITE_AUTH_COGNITO_ENDPOINT', override, mode, "the cognito-idp API's URL") + '/'
        : cognitoIdpEndpoint(issuer);
      if (!base && !endpoint)
        throw new AuthConfigError(
          `VITE_AUTH_ISSUER=${issuer} is not https://cognito-idp.<region>.amazonaws.com/<user pool id>, so the ` +
            'sign-in endpoint is unknown: fix it, or set VITE_AUTH_COGNITO_ENDPOINT (or VITE_AUTH_DOMAIN for the hosted UI)',
        );
      return { mode: 'cognito', issuer, clientId, base, endpoint };
    }
    default:
      throw new AuthConfigError(`VITE_AUTH_MODE=${mode}: expected none, local, cognito or jwt`);
  }
}
