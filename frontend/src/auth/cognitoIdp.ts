/** Cognito's user pool API (`cognito-idp`), as a browser calls it: `InitiateAuth` with a password or a refresh token, `RevokeToken`. */
import type { IssuedToken } from './tokens';

export type FetchFn = (input: string, init: RequestInit) => Promise<Response>;

/** What went wrong, from Cognito's error code (`__type`) or challenge, never from its message text. */
export type CognitoErrorKind =
  /** `NotAuthorizedException` on a password sign-in: wrong email or password. */
  | 'wrong-password'
  /** `NotAuthorizedException` on a refresh: the refresh token expired or was revoked. */
  | 'session-ended'
  | 'user-not-found'
  | 'user-not-confirmed'
  | 'password-reset-required'
  | 'too-many-requests'
  /** `NEW_PASSWORD_REQUIRED`: the user has a temporary password. */
  | 'new-password-required'
  /** Any other challenge (MFA, …), which this page does not answer. */
  | 'challenge'
  /** `ResourceNotFoundException`: the app client (or pool) does not exist. */
  | 'unknown-client'
  /** `InvalidParameterException`, e.g. the app client does not allow this flow. */
  | 'invalid-request'
  /** No answer in time, the endpoint out of reach, or an answer that is not Cognito's. */
  | 'unreachable'
  | 'other';

/** A Cognito request that did not give tokens: `kind` says why, `code` is Cognito's `__type` (or the challenge). */
export class CognitoError extends Error {
  constructor(
    readonly kind: CognitoErrorKind,
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'CognitoError';
  }
}

/** The `cognito-idp` endpoint of an issuer `https://cognito-idp.<region>.amazonaws.com/<user pool id>`, or undefined. */
export function cognitoIdpEndpoint(issuer: string): string | undefined {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    return undefined;
  }
  const region = /^cognito-idp\.([a-z0-9-]+)\.amazonaws\.com$/.exec(url.hostname)?.[1];
  if (url.protocol !== 'https:' || !region || !/^\/[\w-]+_[0-9A-Za-z]+\/?$/.test(url.pathname)) return undefined;
  return `https://cognito-idp.${region}.amazonaws.com/`;
}

export interface CognitoIdpOptions {
  /** `https://cognito-idp.<region>.amazonaws.com/` (or an emulator's URL). */
  endpoint: string;
  clientId: string;
  fetch?: FetchFn;
  /** Time bound of each request (default 10 s). */
  timeoutMs?: number;
}

/** Cognito's error code from `__type` (`NotAuthorizedException`, also as `ns#NotAuthorizedException`). */
function errorCode(json: unknown): string | undefined {
  const t = (json as { __type?: unknown } | null)?.__type;
  if (typeof t !== 'string' || t === '') return undefined;
  return t.slice(t.lastIndexOf('#') + 1).split(':')[0];
}

function challengeError(name: string): CognitoError {
  if (name === 'NEW_PASSWORD_REQUIRED')
    return new CognitoError(
      'new-password-required',
      'This account still has its temporary password, which this page cannot change: ask an administrator to ' +
        'set a permanent one (aws cognito-idp admin-set-user-password --permanent), then sign in with it.',
      name,
    );
  return new CognitoError(
    'challenge',
    `Cognito asks for ${name} (e.g. MFA), which this page does not support: sign in with a user that needs only ` +
      'a password, or turn that requirement off for this user.',
    name,
  );
}

function failure(code: string | undefined, status: number, flow: 'password' | 'refresh', clientId: string) {
  switch (code) {
    case 'NotAuthorizedException':
      return flow === 'password'
        ? new CognitoError('wrong-password', 'Incorrect email or password: check both and try again.', code)
        : new CognitoError(
            'session-ended',
            'Your session has ended (refresh token expired or revoked): sign in again.',
            code,
          );
    case 'UserNotFoundException':
      return new CognitoError(
        'user-not-found',
        'No user with this email in the user pool: check the email, or ask an administrator to create the user.',
        code,
      );
    case 'UserNotConfirmedException':
      return new CognitoError(
        'user-not-confirmed',
        'This account is not confirmed yet: confirm it (the code Cognito sent, or an administrator: ' +
          'aws cognito-idp admin-confirm-sign-up), then sign in.',
        code,
      );
    case 'PasswordResetRequiredException':
      return new CognitoError(
        'password-reset-required',
        'A password reset is required for this account: reset the password (or ask an administrator to set ' +
          'a new one), then sign in with it.',
        code,
      );
    case 'TooManyRequestsException':
    case 'LimitExceededException':
    case 'TooManyFailedAttemptsException':
      return new CognitoError('too-many-requests', 'Too many sign-in attempts: wait a minute, then try again.', code);
    case 'ResourceNotFoundException':
      return new CognitoError(
        'unknown-client',
        `The app client ${clientId} (VITE_AUTH_CLIENT_ID) is not known to Cognito: check it and VITE_AUTH_ISSUER.`,
        code,
      );
    case 'InvalidParameterException':
      return new CognitoError(
        'invalid-request',
        `Cognito refused the request (InvalidParameterException): the app client ${clientId} must allow ` +
          'ALLOW_USER_PASSWORD_AUTH and ALLOW_REFRESH_TOKEN_AUTH, and have no client secret.',
        code,
      );
    case undefined:
      return new CognitoError('unreachable', `Cognito answered HTTP ${status} without an error code.`);
    default:
      return new CognitoError('other', `Cognito refused the sign-in (${code}, HTTP ${status}).`, code);
  }
}

/** One time-bounded call of the `AWSCognitoIdentityProviderService` JSON API; answers the parsed JSON. */
async function call(
  opts: CognitoIdpOptions,
  action: string,
  body: unknown,
  flow: 'password' | 'refresh',
): Promise<Record<string, unknown>> {
  const fetchFn = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const timeoutMs = opts.timeoutMs ?? 10_000;
  let res: Response;
  let text: string;
  try {
    res = await fetchFn(opts.endpoint, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-amz-json-1.1',
        'X-Amz-Target': `AWSCognitoIdentityProviderService.${action}`,
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = await res.text();
  } catch (e) {
    const timedOut = e instanceof DOMException && (e.name === 'TimeoutError' || e.name === 'AbortError');
    throw new CognitoError(
      'unreachable',
      timedOut
        ? `Cognito (${opts.endpoint}) did not answer within ${timeoutMs / 1000} s: try again.`
        : `Cognito (${opts.endpoint}) is out of reach (${e instanceof Error ? e.message : String(e)}): try again.`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!res.ok) throw failure(errorCode(json), res.status, flow, opts.clientId);
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new CognitoError('unreachable', `Cognito's ${action} answer (HTTP ${res.status}) is not a JSON object.`);
  return json as Record<string, unknown>;
}

/** Reads `InitiateAuth`'s answer: `AuthenticationResult`'s tokens, or the challenge as a `CognitoError`. */
function authenticationResult(json: Record<string, unknown>): IssuedToken {
  if (typeof json.ChallengeName === 'string' && json.ChallengeName !== '') throw challengeError(json.ChallengeName);
  const r = json.AuthenticationResult as Record<string, unknown> | undefined;
  if (typeof r !== 'object' || r === null || typeof r.AccessToken !== 'string' || r.AccessToken === '')
    throw new CognitoError('other', "Cognito's answer has neither a challenge nor AuthenticationResult.AccessToken.");
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  return {
    accessToken: r.AccessToken,
    expiresInS: typeof r.ExpiresIn === 'number' && r.ExpiresIn > 0 ? r.ExpiresIn : undefined,
    refreshToken: str(r.RefreshToken),
    idToken: str(r.IdToken),
  };
}

/** `InitiateAuth` with `USER_PASSWORD_AUTH`: the user's tokens, or a `CognitoError` naming what to do. */
export async function passwordAuth(opts: CognitoIdpOptions, email: string, password: string): Promise<IssuedToken> {
  const json = await call(
    opts,
    'InitiateAuth',
    {
      AuthFlow: 'USER_PASSWORD_AUTH',
      ClientId: opts.clientId,
      AuthParameters: { USERNAME: email, PASSWORD: password },
    },
    'password',
  );
  return authenticationResult(json);
}

/** `InitiateAuth` with `REFRESH_TOKEN_AUTH`: new access and id tokens (the refresh token stays the same). */
export async function refreshAuth(opts: CognitoIdpOptions, refreshToken: string): Promise<IssuedToken> {
  const json = await call(
    opts,
    'InitiateAuth',
    { AuthFlow: 'REFRESH_TOKEN_AUTH', ClientId: opts.clientId, AuthParameters: { REFRESH_TOKEN: refreshToken } },
    'refresh',
  );
  return authenticationResult(json);
}

/** `RevokeToken`: ends the refresh token (and the tokens issued with it) at Cognito. */
export async function revokeToken(opts: CognitoIdpOptions, refreshToken: string): Promise<void> {
  await call(opts, 'RevokeToken', { ClientId: opts.clientId, Token: refreshToken }, 'refresh');
}
