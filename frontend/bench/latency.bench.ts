/**
 * Latency of one answer, measured side by side in one run against a real `cargo run -- up --local`:
 * the client cache (IndexedDB) against the network (a server-side replay, and a first request).
 * The seed's target is "< 500 ms for cached requests"; this prints the numbers and the ratios.
 *
 *   cd frontend && npm run bench         (ONCELY_BENCH_API_URL=http://... to use a running stack)
 */
import 'fake-indexeddb/auto';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, bench, describe } from 'vitest';
import { createBrowserClient, type IdempotencyClient, type Intent } from '../src/idempotency';

const repo = fileURLToPath(new URL('../..', import.meta.url));
let stack: ChildProcess | undefined;
let client: IdempotencyClient;
let cached: Intent;
let replayed: Intent;
let n = 0;

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

async function startStack(): Promise<string> {
  if (process.env.ONCELY_BENCH_API_URL) return process.env.ONCELY_BENCH_API_URL;
  const dir = mkdtempSync(join(tmpdir(), 'oncely-bench-'));
  const envFile = join(dir, '.env.local');
  const config = join(dir, 'stack.yaml');
  // The highest `api.throttle` the config allows: the local gateway enforces it (burst 100, 50/s by
  // default), and the bench measures answers, not the throttle.
  const api = 'api:\n  throttle: { burst: 5000, rate: 10000 }\n';
  writeFileSync(config, `app: oncely-bench\nstage: bench\n${api}frontend:\n  env_file: ${envFile}\n`);
  const port = await freePort();
  stack = spawn('cargo', ['run', '-q', '--', 'up', '--local', '--quiet', '--config', config, '--port', String(port)], {
    cwd: repo,
    stdio: 'ignore',
  });
  const deadline = Date.now() + 30 * 60_000; // the first run builds bootstrap
  while (Date.now() < deadline) {
    if (stack.exitCode !== null) throw new Error(`up --local exited with ${stack.exitCode}`);
    if (existsSync(envFile) && /VITE_API_URL=/.test(readFileSync(envFile, 'utf8'))) {
      const url = `http://127.0.0.1:${port}`;
      if ((await fetch(`${url}/orders/none`).catch(() => null))?.status === 404) return url;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('up --local did not come up');
}

const order = (item: string) => ({
  method: 'POST',
  path: '/orders',
  body: JSON.stringify({ item, quantity: 1 }),
  headers: { 'content-type': 'application/json' },
});

beforeAll(async () => {
  const baseUrl = await startStack();
  ({ client } = await createBrowserClient({ baseUrl }));
  cached = await client.createIntent(order('bench-cached'), 'fingerprint');
  replayed = await client.createIntent(order('bench-replayed'), 'uuid');
  for (const i of [cached, replayed]) {
    const r = await client.send(i);
    if (r.status !== 201) throw new Error(`setup request answered ${r.status}`);
  }
}, 30 * 60_000);

afterAll(() => {
  stack?.kill('SIGINT');
});

describe('one POST /orders answer', () => {
  bench('client cache (IndexedDB), no network', async () => {
    const r = await client.send(cached);
    if (r.source !== 'cache') throw new Error(`expected a cache answer, got ${r.source}`);
  });
  bench('network: server replay of the same key', async () => {
    const r = await client.send(replayed, { useCache: false, shareInFlight: false });
    if (!r.replayed) throw new Error(`expected a replay, got ${r.status}`);
  });
  bench('network: first request of a new key', async () => {
    const r = await client.send(await client.createIntent(order(`bench-new-${n++}`), 'uuid'), { useCache: false });
    if (r.status !== 201) throw new Error(`expected 201, got ${r.status}`);
  });
});
