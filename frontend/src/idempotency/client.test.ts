import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { ResponseCache, type CacheEntry } from './cache';
import { IdempotencyClient, type ClientOptions } from './client';
import { OfflineQueue, type QueuedItem } from './queue';
import { MemoryStore, openStores, type KvStore } from './storage';
import { FakeClock, scriptedFetch, type Reply } from './testkit';
import type { AttemptEvent, SendResult } from './types';

const order = {
  status: 201,
  headers: { 'content-type': 'application/json', location: '/orders/o1' },
  body: '{"id":"o1","item":"pen","quantity":2}',
};
const replay = { ...order, headers: { ...order.headers, 'idempotent-replayed': 'true' } };
const req = (body = '{"item":"pen","quantity":2}') => ({ method: 'POST', path: '/orders', body });

function setup(
  replies: Reply[],
  extra: Partial<ClientOptions> & { responses?: KvStore<CacheEntry>; queueStore?: KvStore<QueuedItem> } = {},
) {
  const clock = new FakeClock();
  const { fetch, calls } = scriptedFetch(replies);
  const events: AttemptEvent[] = [];
  let uuids = 0;
  const cache = new ResponseCache(extra.responses ?? new MemoryStore<CacheEntry>(), () => clock.wallNow());
  const queue = new OfflineQueue(extra.queueStore ?? new MemoryStore<QueuedItem>(), () => clock.wallNow());
  const client = new IdempotencyClient({
    baseUrl: 'http://api.test/',
    fetch,
    clock,
    random: () => 0.5,
    uuid: () => `uuid-${++uuids}`,
    cache,
    queue,
    retry: { maxAttempts: 4, baseMs: 100, maxDelayMs: 2_000 },
    onAttempt: (e) => events.push(e),
    ...extra,
  });
  return { client, clock, calls, events, cache, queue };
}

describe('keys', () => {
  it('uuid mode: a fresh key per intent, the same key on every retry of it', async () => {
    const { client, calls } = setup([{ status: 503 }, 'network-error', order]);
    const a = await client.createIntent(req(), 'uuid');
    const b = await client.createIntent(req(), 'uuid');
    expect(a.key).not.toBe(b.key);
    const r = await client.send(a);
    expect(r.status).toBe(201);
    expect(calls).toHaveLength(3);
    expect(calls.map((c) => c.headers['Idempotency-Key'])).toEqual([a.key, a.key, a.key]);
    expect(calls[0].url).toBe('http://api.test/orders');
  });

  it('fingerprint mode: identical payloads (any key order or spacing) share one key', async () => {
    const { client } = setup([order]);
    const a = await client.createIntent(req('{"item":"pen","quantity":2}'), 'fingerprint');
    const b = await client.createIntent(req('{ "quantity": 2,\n "item": "pen" }'), 'fingerprint');
    const c = await client.createIntent(req('{"item":"pen","quantity":3}'), 'fingerprint');
    expect(a.key).toBe(b.key);
    expect(a.key).toBe(a.fingerprint);
    expect(c.key).not.toBe(a.key);
  });
});

describe('client cache', () => {
  it('a repeated intent is answered from the cache with no request, and says so', async () => {
    const { client, calls, events } = setup([order]);
    const i = await client.createIntent(req(), 'fingerprint');
    const first = await client.send(i);
    expect(first).toMatchObject({ source: 'network', status: 201, replayed: false });
    const again = await client.send(await client.createIntent(req('{"quantity":2,"item":"pen"}'), 'fingerprint'));
    expect(again).toMatchObject({ source: 'cache', status: 201, attempts: 0 });
    expect(again.response?.body).toBe(order.body);
    expect(calls).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ source: 'cache', status: 201 });
  });

  it('errors are not cached: a 422 is sent again next time', async () => {
    const { client, calls } = setup([{ status: 422 }]);
    const i = await client.createIntent(req(), 'uuid');
    await client.send(i);
    await client.send(i);
    expect(calls).toHaveLength(2);
  });

  it('useCache: false always goes to the network', async () => {
    const { client, calls } = setup([order, replay]);
    const i = await client.createIntent(req(), 'uuid');
    await client.send(i);
    const r = await client.send(i, { useCache: false });
    expect(r).toMatchObject({ source: 'network', replayed: true });
    expect(calls).toHaveLength(2);
  });
});

describe('retries', () => {
  it('backs off with full jitter on 5xx and network errors, up to maxAttempts', async () => {
    const { client, clock, calls, events } = setup([
      { status: 500 },
      { status: 502 },
      'network-error',
      { status: 503 },
    ]);
    const r = await client.send(await client.createIntent(req(), 'uuid'));
    expect(calls).toHaveLength(4);
    expect(clock.sleeps).toEqual([50, 100, 200]); // random 0.5 × 100·2^n
    expect(r).toMatchObject({ status: 503, queued: false, attempts: 4 });
    expect(events.map((e) => e.status)).toEqual([500, 502, 0, 503]);
  });

  it('honours Retry-After on 409 and then gets the replay', async () => {
    const { client, clock, calls } = setup([{ status: 409, headers: { 'retry-after': '1' } }, replay]);
    const r = await client.send(await client.createIntent(req(), 'uuid'));
    expect(clock.sleeps).toEqual([1_000]);
    expect(calls).toHaveLength(2);
    expect(r).toMatchObject({ status: 201, replayed: true });
  });

  it('never retries other 4xx', async () => {
    for (const status of [400, 404, 422, 429]) {
      const { client, calls, clock } = setup([{ status }, order]);
      const r = await client.send(await client.createIntent(req(), 'uuid'));
      expect(r.status).toBe(status);
      expect(calls).toHaveLength(1);
      expect(clock.sleeps).toEqual([]);
    }
  });
});

describe('concurrency', () => {
  it('a double submit shares the request in flight', async () => {
    const { client, calls } = setup([order]);
    const i = await client.createIntent(req(), 'uuid');
    const [a, b] = await Promise.all([client.send(i), client.send(i)]);
    expect(calls).toHaveLength(1);
    expect(a.source).toBe('network');
    expect(b.source).toBe('shared');
    expect(b.response?.body).toBe(a.response?.body);
  });

  it('a race (no sharing, no cache) sends N requests with one key', async () => {
    const { client, calls } = setup([order, replay]);
    const i = await client.createIntent(req(), 'uuid');
    const rs = await Promise.all(
      Array.from({ length: 5 }, () => client.send(i, { useCache: false, shareInFlight: false })),
    );
    expect(calls).toHaveLength(5);
    expect(new Set(calls.map((c) => c.headers['Idempotency-Key']))).toEqual(new Set([i.key]));
    expect(rs.filter((r) => r.replayed)).toHaveLength(4);
  });
});

describe('offline queue', () => {
  it('offline: queued without a request, replayed with the same key when online', async () => {
    let online = false;
    const results: SendResult[] = [];
    const { client, calls, queue, events } = setup([order], {
      isOnline: () => online,
      onQueueResult: (r) => results.push(r),
    });
    const i = await client.createIntent(req(), 'uuid');
    const r = await client.send(i);
    expect(r).toMatchObject({ queued: true, status: 0 });
    expect(calls).toHaveLength(0);
    expect(events.at(-1)).toMatchObject({ source: 'queue', status: 0 });
    expect(await queue.list()).toHaveLength(1);

    online = true;
    const target = new EventTarget();
    const stop = client.autoReplay(target);
    await client.flushQueue();
    expect(calls).toHaveLength(1);
    expect(calls[0].headers['Idempotency-Key']).toBe(i.key);
    expect(results).toEqual([expect.objectContaining({ source: 'queue', status: 201 })]);
    expect(await queue.list()).toHaveLength(0);
    // The answer is cached: submitting the intent again needs no request.
    expect(await client.send(i)).toMatchObject({ source: 'cache' });
    expect(calls).toHaveLength(1);
    stop();
  });

  it('the online event triggers the replay', async () => {
    let online = false;
    const { client, calls } = setup([order], { isOnline: () => online });
    await client.send(await client.createIntent(req(), 'uuid'));
    const target = new EventTarget();
    client.autoReplay(target);
    expect(calls).toHaveLength(0);
    online = true;
    target.dispatchEvent(new Event('online'));
    await client.flushQueue();
    expect(calls).toHaveLength(1);
  });

  it('autoReplay replays what an earlier page load queued, at once when online', async () => {
    const queueStore = new MemoryStore<QueuedItem>();
    const first = setup([order], { isOnline: () => false, queueStore });
    const i = await first.client.createIntent(req(), 'uuid');
    await first.client.send(i);
    const results: SendResult[] = [];
    const second = setup([order], { queueStore, onQueueResult: (r) => results.push(r) });
    const stop = second.client.autoReplay(new EventTarget());
    await second.client.flushQueue();
    expect(second.calls.map((c) => c.headers['Idempotency-Key'])).toEqual([i.key]);
    expect(results.map((r) => r.status)).toEqual([201]);
    stop();
  });

  it('network failures past the retry budget queue the request; it survives a reload (IndexedDB)', async () => {
    const idb = new IDBFactory();
    const s1 = await openStores<CacheEntry, QueuedItem>({ indexedDB: idb });
    const first = setup(['network-error'], { responses: s1.responses, queueStore: s1.queue });
    const i = await first.client.createIntent(req(), 'uuid');
    const r = await first.client.send(i);
    expect(first.calls).toHaveLength(4);
    expect(r.queued).toBe(true);

    // A new page load: a new client on the same database replays the queued request.
    const s2 = await openStores<CacheEntry, QueuedItem>({ indexedDB: idb });
    const second = setup([order], { responses: s2.responses, queueStore: s2.queue });
    const out = await second.client.flushQueue();
    expect(out.map((o) => o.status)).toEqual([201]);
    expect(second.calls[0].headers['Idempotency-Key']).toBe(i.key);
    expect(await second.queue.list()).toHaveLength(0);
  });

  it('replays in order and stops while the network still fails, keeping the rest', async () => {
    let online = false;
    const { client, calls, queue } = setup(['network-error'], { isOnline: () => online, retry: { maxAttempts: 1 } });
    const a = await client.createIntent(req('{"item":"a","quantity":1}'), 'uuid');
    const b = await client.createIntent(req('{"item":"b","quantity":1}'), 'uuid');
    await client.send(a);
    await client.send(b);
    await client.send(a); // queued twice: kept once
    expect((await queue.list()).map((q) => q.intent.key)).toEqual([a.key, b.key]);
    online = true;
    const out = await client.flushQueue();
    expect(out).toHaveLength(1);
    expect(calls).toHaveLength(1);
    expect((await queue.list()).map((q) => q.intent.key)).toEqual([a.key, b.key]);
  });
});
