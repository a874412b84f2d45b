/**
 * For tests: moto's server (the Python that `ONCELY_PYTHON` names) on a free 127.0.0.1 port, as
 * the Rust `emulators` crate starts it, and plain calls of its Cognito user pool API to set up a
 * pool, an app client and users. Moto exits when the test process does (its stdin closes).
 */
/// <reference types="node" />
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/** Why moto cannot run here (no `ONCELY_PYTHON`), or undefined when it can. */
export function motoUnavailable(): string | undefined {
  return process.env.ONCELY_PYTHON
    ? undefined
    : 'ONCELY_PYTHON is not set (scripts/test sets it to the .venv Python that has moto[server])';
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
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

export interface MotoServer {
  /** `http://127.0.0.1:<port>/` */
  endpoint: string;
  stop(): Promise<void>;
}

/** Starts moto and waits (at most `readyMs`) until it answers `/moto-api/`. */
export async function startMoto(readyMs = 60_000): Promise<MotoServer> {
  const python = process.env.ONCELY_PYTHON;
  if (!python) throw new Error(motoUnavailable());
  const port = await freePort();
  const child: ChildProcess = spawn(python, ['-c', LAUNCHER, '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['pipe', 'ignore', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  let exited: string | undefined;
  const gone = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = `exited (${signal ?? code})`;
      resolve();
    }),
  );
  child.once('error', (e) => (exited = `could not start ${python}: ${e.message}`));
  const endpoint = `http://127.0.0.1:${port}/`;
  const stop = async () => {
    child.stdin?.end();
    await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))]);
    if (!exited) child.kill('SIGKILL');
  };
  const deadline = Date.now() + readyMs;
  for (;;) {
    if (exited) throw new Error(`moto ${exited} before it was ready; its log:\n${log}`);
    try {
      const res = await fetch(`${endpoint}moto-api/`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      return { endpoint, stop };
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`moto did not answer on ${endpoint} within ${readyMs} ms; its log:\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** One call of moto's Cognito user pool API (any credentials do: moto does not check signatures). */
export async function cognitoAdmin(endpoint: string, action: string, body: unknown): Promise<Record<string, unknown>> {
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
  return JSON.parse(text) as Record<string, unknown>;
}
