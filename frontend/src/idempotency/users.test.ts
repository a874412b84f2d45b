import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { UserTokens } from '../auth/tokens';
import { jwtSubject, type Credentials } from './credentials';
import { FakeClock, MemoryStorage, unsignedJwt } from './testkit';
import type { FetchLike } from './types';
import { createBrowserClient, type IdempotencyClient } from './index';

const req = { method: 'POST', path: '/orders', body: '{"item":"pen","quantity":2}' };

/**
 * An API whose keys are scoped per caller, as the server's are with auth on: one order per
 * (sub, key), replayed to that caller only; 401 without a bearer token or with a refused one.
 */
function callerScopedApi(opts: { refuse?: (token: string) => boolean; onRequest?: (n: number) => void } = {}) {
  const orders = new Map<string, string>();
  const calls: Array<{ sub: string | null; key: string; body: string }> = [];
  const fetch: FetchLike = async (_url, init) => {
    const h = init.headers as Record<string, string>;
    const token = /^Bearer (.+)$/.exec(h.Authorization ?? '')?.[1];
    const sub = token ? jwtSubject(token) : null;
    calls.push({ sub, key: h['Idempotency-Key'], body: String(init.body) });
    opts.onRequest?.(calls.length);
    if (token && opts.refuse?.(token)) return new Response('{"title":"Unauthorized"}', { status: 401 });
    const scoped = `${sub ?? '(anonymous)'} ${h['Idempotency-Key']}`;
    const known = orders.get(scoped);
    const id = known ?? `order-${orders.size + 1}-for-${sub ?? 'anonymous'}`;
    orders.set(scoped, id);
    return new Response(JSON.stringify({ id }), {
      status: 201,
      headers: known ? { 'idempotent-replayed': 'true' } : {},
    });
  };
  return { fetch, calls };
}

/** A local-issuer-like session: tokens for `sub`, numbered so renewals are visible. */
function tokensFor(sub: string, clock: FakeClock) {
  let n = 0;
  return new UserTokens(
    sub,
    async () => ({ accessToken: unsignedJwt({ sub, n: ++n }), expiresInS: 3600 }),
    () => clock.wallNow(),
  );
}

const orderId = (r: { response?: { body: string } }) => (JSON.parse(r.response!.body) as { id: string }).id;

type StoreKind = 'indexeddb' | 'localstorage';

function browser(kind: StoreKind) {
  const idb = new IDBFactory();
  const ls = new MemoryStorage();
  return {
    ls,
    /** A page load's client for `credentials` (or anonymous), on this browser's stores. */
    open: async (
      fetch: FetchLike,
      clock: FakeClock,
      credentials?: Credentials,
      isOnline: () => boolean = () => true,
    ): Promise<IdempotencyClient> => {
      const { client, storage } = await createBrowserClient({
        baseUrl: 'http://api.test',
        fetch,
        clock,
        random: () => 0.5,
        retry: { maxAttempts: 2, baseMs: 10 },
        isOnline,
        credentials,
        indexedDB: kind === 'indexeddb' ? idb : null,
        localStorage: ls,
      });
      expect(storage).toBe(kind);
      return client;
    },
  };
}

describe.each<StoreKind>(['indexeddb', 'localstorage'])('per-user cache and queue (%s)', (kind) => {
  it('two users, the same intent key: each gets, and is answered from, their own cached order', async () => {
    const clock = new FakeClock();
    const b = browser(kind);
    const api = callerScopedApi();
    const alice = await b.open(api.fetch, clock, tokensFor('alice', clock));
    const bob = await b.open(api.fetch, clock, tokensFor('bob', clock));
    const anonymous = await b.open(api.fetch, clock);

    const ia = await alice.createIntent(req, 'fingerprint');
    const ib = await bob.createIntent(req, 'fingerprint');
    expect(ib.key).toBe(ia.key); // the same payload, the same key

    const a1 = await alice.send(ia);
    expect(a1).toMatchObject({ source: 'network', status: 201 });
    const b1 = await bob.send(ib);
    expect(b1).toMatchObject({ source: 'network', status: 201, replayed: false }); // not alice's cached answer
    expect(orderId(b1)).not.toBe(orderId(a1));
    expect(api.calls.map((c) => [c.sub, c.key])).toEqual([
      ['alice', ia.key],
      ['bob', ia.key],
    ]);

    // Again: each from their own cache, with their own order, and no request.
    const a2 = await alice.send(ia);
    const b2 = await bob.send(ib);
    expect([a2.source, orderId(a2)]).toEqual(['cache', orderId(a1)]);
    expect([b2.source, orderId(b2)]).toEqual(['cache', orderId(b1)]);
    expect(api.calls).toHaveLength(2);

    // Anonymous (auth off) sees neither, and sends without a token.
    const n = await anonymous.send(await anonymous.createIntent(req, 'fingerprint'));
    expect(n.source).toBe('network');
    expect(api.calls.at(-1)?.sub).toBeNull();

    // A reload: each user's cache is still theirs.
    const aliceAgain = await b.open(api.fetch, clock, tokensFor('alice', clock));
    expect(orderId(await aliceAgain.send(ia))).toBe(orderId(a1));
    expect(api.calls).toHaveLength(3);
  });

  it("user B never sees, nor sends, A's queued request", async () => {
    const clock = new FakeClock();
    const b = browser(kind);
    const api = callerScopedApi();
    let online = false;
    const alice = await b.open(api.fetch, clock, tokensFor('alice', clock), () => online);
    const queued = await alice.send(await alice.createIntent(req, 'uuid'));
    expect(queued.queued).toBe(true);
    expect(await alice.queue.list()).toHaveLength(1);

    online = true;
    const bob = await b.open(api.fetch, clock, tokensFor('bob', clock), () => online);
    expect(await bob.queue.list()).toEqual([]);
    expect(await bob.flushQueue()).toEqual([]);
    expect(api.calls).toEqual([]);

    // Alice, back (a reload), replays hers, as herself.
    const aliceAgain = await b.open(api.fetch, clock, tokensFor('alice', clock), () => online);
    const out = await aliceAgain.flushQueue();
    expect(out.map((r) => r.status)).toEqual([201]);
    expect(api.calls.map((c) => c.sub)).toEqual(['alice']);
  });

  it("switching users mid-queue: A's remaining requests are not sent with B's token, and wait for A", async () => {
    const clock = new FakeClock();
    const b = browser(kind);
    let online = false;
    const aliceTokens = tokensFor('alice', clock);
    const bobTokens = tokensFor('bob', clock);
    // While the first queued request is on the wire, the page switches to bob (as App does: alice signed out).
    const api = callerScopedApi({ onRequest: (n) => n === 1 && aliceTokens.signOut() });
    const alice = await b.open(api.fetch, clock, aliceTokens, () => online);
    for (const item of ['a', 'b', 'c'])
      await alice.send(await alice.createIntent({ ...req, body: `{"item":"${item}","quantity":1}` }, 'uuid'));
    expect(await alice.queue.list()).toHaveLength(3);

    online = true;
    const flushing = alice.flushQueue();
    const bob = await b.open(api.fetch, clock, bobTokens, () => online);
    const out = await flushing;
    await bob.flushQueue();
    expect(out.map((r) => [r.status, r.queued])).toEqual([
      [201, false],
      [0, true],
    ]);
    expect(out[1].error).toMatch(/alice is signed out: kept in alice's queue/);
    expect(api.calls.map((c) => c.sub)).toEqual(['alice']);
    expect((await alice.queue.list()).map((q) => JSON.parse(q.intent.request.body!).item)).toEqual(['b', 'c']);

    // Alice signs in again: the rest goes, as alice.
    const aliceAgain = await b.open(api.fetch, clock, tokensFor('alice', clock), () => online);
    expect((await aliceAgain.flushQueue()).map((r) => r.status)).toEqual([201, 201]);
    expect(api.calls.map((c) => c.sub)).toEqual(['alice', 'alice', 'alice']);
  });

  it("a client never sends with a token for another sub, even when handed one (it keeps the request in its user's queue)", async () => {
    const clock = new FakeClock();
    const b = browser(kind);
    let current = unsignedJwt({ sub: 'alice' });
    // A careless app: one "current token" for whoever is signed in.
    const shared: Credentials = { subject: 'alice', token: async () => current, renew: async () => current };
    const api = callerScopedApi({ onRequest: () => (current = unsignedJwt({ sub: 'bob' })) });
    let online = false;
    const alice = await b.open(api.fetch, clock, shared, () => online);
    await alice.send(await alice.createIntent({ ...req, body: '{"item":"a","quantity":1}' }, 'uuid'));
    await alice.send(await alice.createIntent({ ...req, body: '{"item":"b","quantity":1}' }, 'uuid'));
    online = true;
    const out = await alice.flushQueue();
    expect(out.map((r) => r.status)).toEqual([201, 0]);
    expect(out[1].error).toMatch(/the token is bob's, not alice's/);
    expect(api.calls.map((c) => c.sub)).toEqual(['alice']);
    expect(await alice.queue.list()).toHaveLength(1);
  });
});

describe('Authorization', () => {
  it('every request carries the bearer token; a 401 renews it once and retries', async () => {
    const clock = new FakeClock();
    const tokens = tokensFor('alice', clock);
    const refused = new Set<string>();
    const api = callerScopedApi({ refuse: (t) => refused.has(t) });
    const client = await browser('indexeddb').open(api.fetch, clock, tokens);
    refused.add(await tokens.token()); // e.g. the issuer's key rotated
    const r = await client.send(await client.createIntent(req, 'uuid'));
    expect(r).toMatchObject({ status: 201, attempts: 2 });
    expect(api.calls.map((c) => c.sub)).toEqual(['alice', 'alice']);
    expect(clock.sleeps).toEqual([]); // no backoff for a renewed token
  });

  it('a second 401 is the answer (renewed once per request, no loop), not cached', async () => {
    const clock = new FakeClock();
    const api = callerScopedApi({ refuse: () => true });
    const client = await browser('localstorage').open(api.fetch, clock, tokensFor('alice', clock));
    const i = await client.createIntent(req, 'uuid');
    expect(await client.send(i)).toMatchObject({ status: 401, queued: false, attempts: 2 });
    expect(await client.send(i)).toMatchObject({ status: 401, source: 'network' });
    expect(api.calls).toHaveLength(4);
  });

  it('anonymous (auth off): no Authorization header, and the stores are named as before auth', async () => {
    const clock = new FakeClock();
    const b = browser('localstorage');
    const seen: Array<Record<string, string>> = [];
    const api = callerScopedApi();
    const client = await b.open((url, init) => {
      seen.push(init.headers as Record<string, string>);
      return api.fetch(url, init);
    }, clock);
    await client.send(await client.createIntent(req, 'uuid'));
    expect(Object.keys(seen[0])).not.toContain('Authorization');
    const names = Array.from({ length: b.ls.length }, (_, i) => b.ls.key(i));
    expect(names).toEqual([expect.stringMatching(/^oncely-idempotency:responses:/)]);
  });
});
