// The Powertools side of `scripts/bench`: reads one JSON command a line on stdin, calls the
// orders handler in-process with API Gateway v2 events built before the clock starts (a few
// requests at a time), and answers each command with one JSON line of latencies on stdout.
import { createInterface } from 'node:readline';
import { createHandler } from './orders.mjs';

const BODY = '{"item":"book","quantity":2,"customer":"ann"}';
const handlers = new Map();

/** One handler per endpoint, table and cache setting, kept across commands (a warm function). */
function handlerFor({ endpoint, table, cache, keyId }) {
  const name = `${endpoint}|${table}|${cache}`;
  if (!handlers.has(name)) {
    const clientConfig = {
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: keyId, secretAccessKey: 'test' },
    };
    handlers.set(name, createHandler({ tableName: table, clientConfig, localCache: cache }));
  }
  return handlers.get(name);
}

function event(key, i) {
  return {
    version: '2.0',
    routeKey: 'POST /orders',
    rawPath: '/orders',
    rawQueryString: '',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    requestContext: {
      accountId: '123456789012',
      apiId: 'bench',
      domainName: 'bench.local',
      http: {
        method: 'POST',
        path: '/orders',
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'bench',
      },
      requestId: `r${i}`,
      routeKey: 'POST /orders',
      stage: '$default',
      time: '01/Jan/2026:00:00:00 +0000',
      timeEpoch: 0,
    },
    body: BODY,
    isBase64Encoded: false,
  };
}

function context(i) {
  return {
    functionName: 'bench-orders',
    awsRequestId: `r${i}`,
    getRemainingTimeInMillis: () => 15000,
  };
}

/** Runs `keys` (one request each), `concurrency` at a time; latencies in microseconds. */
async function run(command) {
  const handler = handlerFor(command);
  const events = command.keys.map(event);
  const contexts = command.keys.map((_, i) => context(i));
  const latencies = new Array(events.length);
  const statuses = {};
  let next = 0;
  const worker = async () => {
    while (next < events.length) {
      const i = next++;
      const start = process.hrtime.bigint();
      const response = await handler(events[i], contexts[i]);
      latencies[i] = Number(process.hrtime.bigint() - start) / 1000;
      statuses[response.statusCode] = (statuses[response.statusCode] ?? 0) + 1;
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: command.concurrency }, worker));
  const wall = Number(process.hrtime.bigint() - start) / 1000;
  return { latencies_us: latencies, wall_us: wall, statuses };
}

console.log(JSON.stringify({ ready: true }));
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  try {
    console.log(JSON.stringify(await run(JSON.parse(line))));
  } catch (error) {
    console.log(JSON.stringify({ error: String(error?.stack ?? error) }));
  }
}
