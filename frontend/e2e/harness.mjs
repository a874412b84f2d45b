// Starts what the browser tests need and stops it again: `up --local` on port 0 (a free one) with a temp
// config (it starts its own DynamoDB Local and prints its endpoint, which we scan to count orders),
// the page built with the endpoint `up --local` wrote and served from a port held from the start
// (`pageServer`), and Debian's Chromium.
//
// ONCELY_DEPLOYER_BIN=<path to target/debug/deployer> runs that binary instead of `cargo run`
// (scripts/test sets it, so the browser tests do not build the deployer again).
// ONCELY_E2E_API_URL=<url> skips `up --local` and uses that API instead (it must allow the
// page's origin in CORS); orders are then counted from the responses only.
// ONCELY_E2E_STORE=redis keeps the idempotency records in a local redis-server (`--store redis`).
// startStack({ auth: true }) sets `api.auth: { cognito: {} }`: `up --local` then runs its local
// issuer, and the page is built with VITE_AUTH_MODE=local and that issuer (`stack.authIssuer`;
// null when this deployer has no auth support: it printed no issuer).
import { spawn, spawnSync } from 'node:child_process';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  statSync,
  writeFileSync,
  rmSync,
} from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const frontendDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const repoDir = resolve(frontendDir, '..');
// Each suite (a test file, with the store it runs on) has a results folder of its own, so suites
// can run side by side: `test-results/orders/`, `test-results/orders-redis/`, ...
const suite =
  basename(process.argv[1] ?? 'e2e', '.test.mjs') +
  (process.env.ONCELY_E2E_STORE ? `-${process.env.ONCELY_E2E_STORE}` : '');
export const resultsDir = join(frontendDir, 'test-results', suite);
export const CHROMIUM = process.env.ONCELY_CHROMIUM ?? '/usr/bin/chromium';
// Flags for a closed network: no background connections, no sandbox (root), no GPU.
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const children = [];
const tempDirs = [];
const servers = [];

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Spawns a child in its own process group, its output prefixed into a log file and kept in memory. */
function start(name, cmd, args, opts = {}) {
  mkdirSync(resultsDir, { recursive: true });
  const child = spawn(cmd, args, {
    cwd: opts.cwd ?? frontendDir,
    env: { ...process.env, ...opts.env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = { name, child, output: '', exited: null };
  const log = join(resultsDir, `${name}.log`);
  writeFileSync(log, '');
  const take = (chunk) => {
    const text = chunk.toString();
    proc.output += text;
    if (proc.output.length > 2_000_000) proc.output = proc.output.slice(-1_000_000);
    try {
      writeFileSync(log, text, { flag: 'a' });
    } catch {
      /* results dir removed */
    }
    if (process.env.ONCELY_E2E_VERBOSE) process.stderr.write(text.replace(/^/gm, `[${name}] `));
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  proc.done = new Promise((r) => child.on('exit', (code, signal) => r((proc.exited = { code, signal }))));
  children.push(proc);
  return proc;
}

/** Stops a child's whole process group: SIGINT (Ctrl-C), then SIGKILL after `graceMs`. */
async function stop(proc, graceMs = 10_000) {
  if (proc.exited) return;
  try {
    process.kill(-proc.child.pid, 'SIGINT');
  } catch {
    return;
  }
  const t = setTimeout(() => {
    try {
      process.kill(-proc.child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, graceMs);
  await proc.done;
  clearTimeout(t);
}

export async function stopAll() {
  for (const p of children.reverse()) await stop(p);
  children.length = 0;
  for (const server of servers.splice(0)) await server.close();
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

async function waitFor(what, proc, timeoutMs, check) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (proc?.exited)
      throw new Error(
        `${proc.name} exited (${JSON.stringify(proc.exited)}) before ${what}. Its output ends:\n${proc.output.slice(-4000)}`,
      );
    try {
      if (await check()) return;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e); // not yet
    }
    await sleep(250);
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}${proc ? `; ${proc.name} said:\n${proc.output.slice(-4000)}` : ''}`,
  );
}

// --- DynamoDB ----------------------------------------------------------------------------------

// The local stack's credentials and region (deployer::local::LOCAL_ACCESS_KEY_ID, DEFAULT_REGION):
// DynamoDB Local keeps a separate set of tables per key id and region, so we must use the same.
const LOCAL_ACCESS_KEY_ID = 'oncelylocal';
const REGION = 'us-east-1';

/**
 * A DynamoDB JSON call. DynamoDB Local wants an Authorization header but does not check
 * signatures; the key id and region in it choose whose tables we see.
 */
export async function dynamo(endpoint, target, body) {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-amz-json-1.0',
      'X-Amz-Target': `DynamoDB_20120810.${target}`,
      Authorization: `AWS4-HMAC-SHA256 Credential=${LOCAL_ACCESS_KEY_ID}/20260101/${REGION}/dynamodb/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`DynamoDB ${target}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** `deployer up --local <args>`: the prebuilt ONCELY_DEPLOYER_BIN, else `cargo run`. */
function startUpLocal(args) {
  const bin = process.env.ONCELY_DEPLOYER_BIN;
  if (bin) return start('up-local', resolve(bin), ['up', '--local', ...args], { cwd: repoDir });
  return start('up-local', 'cargo', ['run', '-q', '--', 'up', '--local', ...args], { cwd: repoDir });
}

// --- The stack --------------------------------------------------------------------------------

/** The local issuer `up --local` announced ("Auth: local issuer <url> ...") or wrote (VITE_AUTH_ISSUER), or null. */
function localIssuer(output, envText) {
  const mode = /^VITE_AUTH_MODE=(.*)$/m.exec(envText)?.[1].trim();
  const fromFile = /^VITE_AUTH_ISSUER=(.+)$/m.exec(envText)?.[1].trim();
  if (mode === 'local' && fromFile) return fromFile;
  return /^Auth: local issuer (\S+)/m.exec(output)?.[1] ?? null;
}

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webmanifest': 'application/manifest+json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * A server for the built page on a port of 127.0.0.1 it holds from the start (`origin`): the
 * origin goes into the stack's CORS settings before the page is built, and a port only found free
 * then could be taken by another process (the Rust tests run beside these) before a server bound
 * it. It answers 503 until `serve(dir)`, then a file of `dir`, or `index.html` for any other path.
 */
export async function pageServer() {
  let root = null;
  const server = createHttpServer((req, res) => {
    if (!root) return res.writeHead(503).end();
    let path;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://page').pathname);
    } catch {
      return res.writeHead(400).end();
    }
    let file = join(root, normalize(path));
    if (!file.startsWith(root + sep) || !statSync(file, { throwIfNoEntry: false })?.isFile())
      file = join(root, 'index.html');
    res.writeHead(200, { 'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  await new Promise((res, rej) => {
    server.once('error', rej);
    server.listen(0, '127.0.0.1', res);
  });
  const page = {
    origin: `http://127.0.0.1:${server.address().port}`,
    serve: (dir) => (root = resolve(dir)),
    close: () =>
      new Promise((res) => {
        server.close(() => res());
        server.closeAllConnections(); // a browser's kept-alive ones too
      }),
  };
  servers.push(page);
  return page;
}

/**
 * Builds the page with these `VITE_*` settings (Vite reads them from the environment before .env
 * files), serves it from `page` (a `pageServer()`), and launches Chromium.
 */
export async function servePage(page, env) {
  mkdirSync(resultsDir, { recursive: true });
  const outDir = join(resultsDir, 'dist');
  const build = spawnSync(
    join(frontendDir, 'node_modules', '.bin', 'vite'),
    ['build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'],
    {
      cwd: frontendDir,
      env: { ...process.env, ...env },
      encoding: 'utf8',
    },
  );
  if (build.status !== 0) throw new Error(`vite build failed:\n${build.stdout}${build.stderr}`);
  page.serve(outDir); // listening since pageServer(): it answers from now on

  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

export async function startStack({ auth = false } = {}) {
  rmSync(resultsDir, { recursive: true, force: true });
  mkdirSync(resultsDir, { recursive: true });
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (scripts/test does this)`);

  const page = await pageServer();
  const origin = page.origin;
  let apiUrl = process.env.ONCELY_E2E_API_URL;
  let dynamoEndpoint = null;
  let table = null;
  let authIssuer = null;
  if (auth && apiUrl) throw new Error('the auth browser tests need `up --local` (unset ONCELY_E2E_API_URL)');

  if (!apiUrl) {
    const tmp = mkdtempSync(join(tmpdir(), 'oncely-e2e-'));
    tempDirs.push(tmp);
    const envFile = join(tmp, 'frontend.env.local');
    const config = join(tmp, 'stack.yaml');
    writeFileSync(
      config,
      [
        '# Written by frontend/e2e/harness.mjs for the browser tests.',
        'app: oncely-e2e',
        'stage: e2e',
        `region: ${REGION}`,
        'function:',
        '  package: orders',
        '  timeout_s: 15',
        '  environment: { ORDERS_SIMULATED_WORK_MAX_MS: "3000" }',
        'api:',
        '  routes: ["POST /orders", "GET /orders/{id}"]',
        `  cors: { allow_origins: ["${origin}"], allow_headers: ["content-type", "idempotency-key", "if-none-match", "x-simulate-work-ms"${auth ? ', "authorization"' : ''}] }`,
        ...(auth ? ['  auth: { cognito: {} }'] : []),
        'frontend:',
        `  env_file: ${envFile}`,
        'local:',
        '  concurrency: 4',
        '',
      ].join('\n'),
    );
    // ONCELY_E2E_STORE=redis: the idempotency records in a local redis-server (`--store redis`).
    const store = process.env.ONCELY_E2E_STORE ? ['--store', process.env.ONCELY_E2E_STORE] : [];
    // Port 0: `up --local` binds a free port at once and writes its URL into the env file.
    const up = startUpLocal(['--config', config, '--port', '0', ...store]);
    const startupMs = Number(process.env.ONCELY_E2E_STARTUP_MS ?? 30 * 60_000); // the first run builds bootstrap
    await waitFor('`up --local` to say it is up, write VITE_API_URL and answer', up, startupMs, async () => {
      // "Local stack <name> is up: <url> (routes: ...; DynamoDB: <endpoint>, table <table>). Ctrl-C stops it."
      const line = /is up: .*; DynamoDB: (\S+), table ([^\s)]+)\)/.exec(up.output);
      if (!line) return false;
      const envText = readFileSync(envFile, 'utf8');
      const m = /^VITE_API_URL=(.+)$/m.exec(envText);
      if (!m) return false;
      const res = await fetch(`${m[1].trim().replace(/\/+$/, '')}/orders/00000000-0000-0000-0000-000000000000`);
      apiUrl = m[1].trim();
      [, dynamoEndpoint, table] = line;
      authIssuer = auth ? localIssuer(up.output, envText) : null;
      return res.status === 404 || (authIssuer !== null && res.status === 401);
    }).catch((e) => {
      throw new Error(
        `The browser tests run against \`${process.env.ONCELY_DEPLOYER_BIN ?? 'cargo run --'} up --local\`, and it did not come up: ${e.message}`,
      );
    });
  }

  // The auth settings are always given, so a developer's frontend/.env.local cannot change the page.
  const browser = await servePage(page, {
    VITE_API_URL: apiUrl,
    VITE_AUTH_MODE: authIssuer ? 'local' : 'none',
    VITE_AUTH_ISSUER: authIssuer ?? '',
  });
  return {
    apiUrl,
    authIssuer,
    origin,
    dynamoEndpoint,
    browser,
    /** Orders for `item` in the stack's table, or null when we have no DynamoDB to scan. */
    async countOrders(item) {
      if (!dynamoEndpoint) return null;
      let n = 0;
      let start;
      do {
        const page = await dynamo(dynamoEndpoint, 'Scan', {
          TableName: table,
          FilterExpression: 'begins_with(id, :p) AND #i = :item',
          ExpressionAttributeNames: { '#i': 'item' },
          ExpressionAttributeValues: { ':p': { S: 'order#' }, ':item': { S: item } },
          ...(start ? { ExclusiveStartKey: start } : {}),
        });
        n += page.Count;
        start = page.LastEvaluatedKey;
      } while (start);
      return n;
    },
    serverLog: () => children.find((c) => c.name === 'up-local')?.output ?? '',
    async close() {
      await browser.close().catch(() => {});
      await stopAll();
    },
  };
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    for (const p of children) {
      try {
        process.kill(-p.child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    process.exit(130);
  });
}
