/** The sign-in bar: a user picker with the local issuer; with Cognito the hosted UI, or email + password; a pasted token for other issuers. */
import { useEffect, useMemo, useState } from 'react';
import {
  CognitoSignIn,
  LOCAL_USERS,
  pastedIssuerTokens,
  signInLocally,
  type AuthConfig,
  type UserTokens,
} from './auth';

export interface AuthBarProps {
  auth: Exclude<AuthConfig, { mode: 'none' }>;
  user: UserTokens | null;
  /** A user signed in (the previous one, if any, is signed out by the page). */
  onSignIn: (tokens: UserTokens) => void;
  onSignOut: () => void;
}

export function AuthBar({ auth, user, onSignIn, onSignOut }: AuthBarProps) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [pasted, setPasted] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const cognito = useMemo(
    () =>
      auth.mode === 'cognito'
        ? new CognitoSignIn(
            { issuer: auth.issuer, clientId: auth.clientId, base: auth.base, endpoint: auth.endpoint },
            { storage: window.sessionStorage },
          )
        : null,
    [auth],
  );
  const here = () => window.location.origin + window.location.pathname;

  // Cognito: finish the hosted UI's redirect back, or take up the session this tab had before a reload.
  useEffect(() => {
    if (!cognito) return;
    let cancelled = false;
    const url = new URL(window.location.href);
    if (url.searchParams.has('code') || url.searchParams.has('error')) window.history.replaceState(null, '', here());
    cognito
      .resume(url)
      .then((t) => {
        if (t && !cancelled) onSignIn(t);
      })
      .catch((e: unknown) => !cancelled && setError(e instanceof Error ? e.message : String(e)));
    return () => {
      cancelled = true;
    };
    // Once per page load (onSignIn is a new function on every render of the page).
  }, [cognito]);

  const run = async (what: () => Promise<void> | void) => {
    setBusy(true);
    setError('');
    try {
      await what();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  const pickLocal = (sub: string) =>
    run(async () => {
      if (!sub) return onSignOut();
      if (auth.mode === 'local' && sub !== user?.subject) onSignIn(await signInLocally(sub, { issuer: auth.issuer }));
    });

  const signInWithPassword = () =>
    run(async () => {
      const tokens = await cognito!.signInWithPassword(email, password);
      setPassword('');
      onSignIn(tokens);
    });

  const pasteForm = (
    <label>
      Access token <input data-testid="token-input" value={pasted} onChange={(e) => setPasted(e.target.value)} />{' '}
      <button
        type="button"
        data-testid="sign-in"
        disabled={busy || !pasted.trim()}
        onClick={() =>
          void run(() => onSignIn(cognito ? cognito.fromAccessToken(pasted) : pastedIssuerTokens(pasted, auth.issuer)))
        }
      >
        Use token
      </button>
    </label>
  );

  const signOut = () => {
    if (cognito && user) {
      const logout = cognito.signOut(user, here());
      onSignOut();
      if (logout) window.location.assign(logout);
    } else onSignOut();
  };

  return (
    <div className="auth" data-testid="auth" data-mode={auth.mode}>
      {auth.mode === 'local' ? (
        <label>
          User{' '}
          <select
            data-testid="user-picker"
            value={user?.subject ?? ''}
            disabled={busy}
            onChange={(e) => void pickLocal(e.target.value)}
          >
            <option value="">(signed out)</option>
            {LOCAL_USERS.map((u) => (
              <option key={u} value={u}>
                {u}
              </option>
            ))}
          </select>
        </label>
      ) : user ? null : auth.mode === 'cognito' && auth.base ? (
        <button
          type="button"
          data-testid="sign-in"
          disabled={busy}
          onClick={() => void run(async () => window.location.assign(await cognito!.signInUrl(here())))}
        >
          Sign in
        </button>
      ) : auth.mode === 'cognito' ? (
        <>
          <form
            className="password-sign-in"
            onSubmit={(e) => {
              e.preventDefault();
              void signInWithPassword();
            }}
          >
            <input
              data-testid="cognito-email"
              type="email"
              autoComplete="username"
              placeholder="email"
              value={email}
              onChange={(e) => setEmail(e.target.value)}
            />{' '}
            <input
              data-testid="cognito-password"
              type="password"
              autoComplete="current-password"
              placeholder="password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />{' '}
            <button type="submit" data-testid="cognito-sign-in" disabled={busy || !email.trim() || !password}>
              Sign in
            </button>
          </form>
          <details>
            <summary>or use an access token</summary>
            {pasteForm}
          </details>
        </>
      ) : (
        pasteForm
      )}{' '}
      <span data-testid="signed-in-as" data-subject={user?.subject ?? ''}>
        {user ? `signed in as ${user.subject}` : 'not signed in'}
      </span>{' '}
      {user ? (
        <button type="button" data-testid="sign-out" onClick={signOut}>
          Sign out
        </button>
      ) : null}
      {error ? (
        <span data-testid="auth-error" className="error">
          {' '}
          {error}
        </span>
      ) : null}
    </div>
  );
}
