/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** The API endpoint, written into .env.local by `cargo run -- up --local` or `sync-endpoint`. */
  readonly VITE_API_URL?: string;
  /** `none` (or absent): no sign-in. `local`: `up --local`'s issuer. `cognito`: a Cognito user pool. */
  readonly VITE_AUTH_MODE?: string;
  /** The issuer's URL: the local issuer's base, or `https://cognito-idp.<region>.amazonaws.com/<pool id>`. */
  readonly VITE_AUTH_ISSUER?: string;
  /** Cognito: the app client id. */
  readonly VITE_AUTH_CLIENT_ID?: string;
  /** Cognito: the hosted UI domain; without it, email + password (`InitiateAuth`). */
  readonly VITE_AUTH_DOMAIN?: string;
  /** Cognito without a domain: the `cognito-idp` API's URL when not the issuer's region's (an emulator). */
  readonly VITE_AUTH_COGNITO_ENDPOINT?: string;
}
