// Moto's server for tests (the Python that `ONCELY_PYTHON` names, as the Rust `emulators` crate
// starts it) on a 127.0.0.1 port it chooses itself (port 0: none is free only for a moment), and plain calls of its Cognito user pool API to set up a
// pool, an app client and users. Moto exits when the test process does (its stdin closes). Used by
// src/auth/cognitoPassword.test.ts (Vitest; types in moto.d.mts) and cognito.test.mjs (browser).
import { spawn } from 'node:child_process';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';

/** Why moto cannot run here (no `ONCELY_PYTHON`), or undefined when it can. */
export function motoUnavailable() {
  return process.env.ONCELY_PYTHON
    ? undefined
    : 'ONCELY_PYTHON is not set (scripts/test sets it to the .venv Python that has moto[server])';
}

// moto.server's `main`, stopped as soon as stdin closes (the test process ended, or `stop()`).
const LAUNCHER = `
import os, sys, threading
def watch():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
from moto.server import main
main(sys.argv[1:])
`;

/** Starts moto and waits (at most `readyMs`) until it answers `/moto-api/`; answers `{ endpoint, stop }`. */
export async function startMoto(readyMs = 60_000) {
  const python = process.env.ONCELY_PYTHON;
  if (!python) throw new Error(motoUnavailable());
  // Port 0: moto's server binds a free port itself and names it (" * Running on http://…:PORT").
  const child = spawn(python, ['-c', LAUNCHER, '-H', '127.0.0.1', '-p', '0'], {
    stdio: ['pipe', 'ignore', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  let log = '';
  child.stderr.on('data', (d) => (log = (log + d.toString()).slice(-4000)));
  let exited;
  const gone = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      exited = `exited (${signal ?? code})`;
      resolve();
    }),
  );
  child.once('error', (e) => (exited = `could not start ${python}: ${e.message}`));
  let endpoint;
  const stop = async () => {
    child.stdin.end();
    await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))]);
    if (!exited) child.kill('SIGKILL');
  };
  const deadline = Date.now() + readyMs;
  for (;;) {
    if (exited) throw new Error(`moto ${exited} before it was ready; its log:\n${log}`);
    try {
      const port = /Running on http:\/\/127\.0\.0\.1:(\d+)/.exec(log)?.[1];
      if (!port) throw new Error('no port named yet');
      endpoint = `http://127.0.0.1:${port}/`;
      const res = await fetch(`${endpoint}moto-api/`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      return { endpoint, stop };
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(
          `moto did not answer on ${endpoint ?? 'a port it named'} within ${readyMs} ms; its log:\n${log}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * A front for a browser in front of moto's Cognito API that answers cross-origin requests the way
 * `cognito-idp.<region>.amazonaws.com` does: a preflight (`OPTIONS` with
 * `Access-Control-Request-Method`) gets `204` allowing any origin, `POST` and the headers asked
 * for, without reaching moto; every other request goes to moto and its answer gains
 * `Access-Control-Allow-Origin: *` and the exposed `x-amzn-*` headers. The page's calls then do
 * not depend on how a moto version routes `OPTIONS /` (5.2 sends it to S3, which answers 500).
 * Answers `{ endpoint, close }`.
 */
export async function cognitoCorsFront(motoEndpoint) {
  const target = new URL(motoEndpoint);
  const server = createHttpServer((req, res) => {
    const cors = { 'access-control-allow-origin': '*' };
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method']) {
      res.writeHead(204, {
        ...cors,
        'access-control-allow-methods': 'POST',
        'access-control-allow-headers': req.headers['access-control-request-headers'] ?? '',
        'access-control-max-age': '86400',
      });
      res.end();
      return;
    }
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, {
          ...answer.headers,
          ...cors,
          'access-control-expose-headers': 'x-amzn-requestid,x-amzn-errortype,x-amzn-errormessage,date',
        });
        answer.pipe(res);
      },
    );
    upstream.on('error', (e) => {
      res.writeHead(502, cors);
      res.end(`moto did not answer: ${e.message}`);
    });
    req.pipe(upstream);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const close = () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections(); // the browser's kept-alive ones too
    });
  return { endpoint: `http://127.0.0.1:${server.address().port}/`, close };
}

/** One call of moto's Cognito user pool API (any credentials do: moto does not check signatures). */
export async function cognitoAdmin(endpoint, action, body) {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-amz-json-1.1',
      'X-Amz-Target': `AWSCognitoIdentityProviderService.${action}`,
      Authorization:
        'AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/cognito-idp/aws4_request, SignedHeaders=host, Signature=0',
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${action} answered ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/**
 * A user pool and app client like the ones `up` creates for `api.auth: { cognito: {} }` (email as
 * the username, a public client with the password and refresh flows), and a confirmed user per
 * `users` entry (`email` -> permanent password). Answers the pool id, client id, the issuer its
 * tokens carry, and each user's `sub`.
 */
export async function cognitoPool(endpoint, users = {}) {
  // moto ignores PreventUserExistenceErrors: on AWS an unknown user then gets NotAuthorizedException.
  const pool = await cognitoAdmin(endpoint, 'CreateUserPool', {
    PoolName: 'oncely-test',
    UsernameAttributes: ['email'],
    AutoVerifiedAttributes: ['email'],
  });
  const poolId = pool.UserPool.Id;
  const client = await cognitoAdmin(endpoint, 'CreateUserPoolClient', {
    UserPoolId: poolId,
    ClientName: 'oncely-web',
    ExplicitAuthFlows: ['ALLOW_USER_SRP_AUTH', 'ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
    PreventUserExistenceErrors: 'ENABLED',
    EnableTokenRevocation: true,
  });
  const subs = {};
  for (const [email, password] of Object.entries(users)) {
    subs[email] = await cognitoUser(endpoint, poolId, email, password, true);
  }
  return {
    poolId,
    clientId: client.UserPoolClient.ClientId,
    // The issuer as Cognito (and moto) writes it into the tokens; requests go to moto.
    issuer: `https://cognito-idp.${poolId.split('_')[0]}.amazonaws.com/${poolId}`,
    subs,
  };
}

/** Creates a user (a permanent password, or a temporary one: NEW_PASSWORD_REQUIRED); answers its `sub`. */
export async function cognitoUser(endpoint, poolId, email, password, permanent) {
  const created = await cognitoAdmin(endpoint, 'AdminCreateUser', {
    UserPoolId: poolId,
    Username: email,
    UserAttributes: [{ Name: 'email', Value: email }],
    ...(permanent ? {} : { TemporaryPassword: password }),
    MessageAction: 'SUPPRESS',
  });
  if (permanent)
    await cognitoAdmin(endpoint, 'AdminSetUserPassword', {
      UserPoolId: poolId,
      Username: email,
      Password: password,
      Permanent: true,
    });
  return created.User.Attributes.find((a) => a.Name === 'sub').Value;
}
