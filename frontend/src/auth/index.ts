/** Sign-in for the page: the auth mode, tokens that renew themselves, the local issuer and Cognito. */
export { AuthConfigError, readAuthConfig, type AuthConfig, type AuthEnv } from './config';
export { CognitoSignIn, WrongTokenError, checkAccessToken, type CognitoOptions, type CognitoSettings } from './cognito';
export {
  CognitoError,
  cognitoIdpEndpoint,
  passwordAuth,
  refreshAuth,
  revokeToken,
  type CognitoErrorKind,
  type CognitoIdpOptions,
} from './cognitoIdp';
export { LOCAL_USERS, localIssue, signInLocally, type LocalIssuerOptions } from './local';
export {
  authorizeUrl,
  codeChallengeS256,
  codeExchangeRequest,
  createCodeVerifier,
  hostedUiBase,
  logoutUrl,
  refreshRequest,
  type TokenRequest,
} from './pkce';
export {
  TokenResponseError,
  UserTokens,
  parseTokenResponse,
  pastedIssuerTokens,
  pastedTokens,
  renewalMarginMs,
  type IssueToken,
  type IssuedToken,
} from './tokens';
