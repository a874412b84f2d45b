import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { DAY_MS, ResponseCache } from './cache';
import { MemoryStore, openStores, WebStorageStore, type KvStore } from './storage';
import { FakeClock, MemoryStorage } from './testkit';
import type { CacheEntry } from './cache';

const response = (body: string) => ({ status: 201, headers: { 'content-type': 'application/json' }, body });

function backends(): Array<[string, () => Promise<KvStore<CacheEntry>>]> {
  return [
    ['memory', async () => new MemoryStore<CacheEntry>()],
    ['localStorage', async () => new WebStorageStore<CacheEntry>(new MemoryStorage(), 't:')],
    ['IndexedDB', async () => (await openStores<CacheEntry, never>({ indexedDB: new IDBFactory() })).responses],
  ];
}

describe.each(backends())('response cache on %s', (_name, make) => {
  it('answers the same key and fingerprint, not another fingerprint', async () => {
    const clock = new FakeClock();
    const cache = new ResponseCache(await make(), () => clock.wallNow());
    expect(
      await cache.put({
        key: 'k1',
        fingerprint: 'f1',
        response: response('{"id":"1"}'),
        replayed: false,
        sentAt: clock.wallNow(),
      }),
    ).toBe(true);
    expect((await cache.get('k1', 'f1'))?.response.body).toBe('{"id":"1"}');
    expect(await cache.get('k1', 'other')).toBeUndefined();
    expect(await cache.get('k2', 'f1')).toBeUndefined();
  });

  it('expires 24 h after the request was first sent', async () => {
    const clock = new FakeClock();
    const store = await make();
    const cache = new ResponseCache(store, () => clock.wallNow());
    const sentAt = clock.wallNow();
    clock.advance(5_000); // the answer arrived 5 s later
    await cache.put({ key: 'k', fingerprint: 'f', response: response('{}'), replayed: false, sentAt });
    clock.advance(DAY_MS - 5_001);
    expect(await cache.get('k', 'f')).toBeDefined();
    clock.advance(1);
    expect(await cache.get('k', 'f')).toBeUndefined();
    expect(await store.get('k')).toBeUndefined(); // removed, not only hidden
  });

  it('keeps at most maxEntries, evicting the least recently used', async () => {
    const clock = new FakeClock();
    const cache = new ResponseCache(await make(), () => clock.wallNow(), { maxEntries: 3 });
    for (const k of ['a', 'b', 'c']) {
      await cache.put({ key: k, fingerprint: 'f', response: response(k), replayed: false, sentAt: clock.wallNow() });
      clock.advance(10);
    }
    await cache.get('a', 'f'); // a is now the most recently used
    clock.advance(10);
    await cache.put({ key: 'd', fingerprint: 'f', response: response('d'), replayed: false, sentAt: clock.wallNow() });
    expect((await cache.size()).entries).toBe(3);
    expect(await cache.get('b', 'f')).toBeUndefined();
    for (const k of ['a', 'c', 'd']) expect(await cache.get(k, 'f')).toBeDefined();
  });

  it('keeps at most maxBytes and refuses an entry bigger than the whole budget', async () => {
    const clock = new FakeClock();
    const cache = new ResponseCache(await make(), () => clock.wallNow(), { maxBytes: 3_000 });
    const big = 'x'.repeat(500); // about 1.4 kB per entry with its metadata
    for (const k of ['a', 'b', 'c']) {
      expect(
        await cache.put({
          key: k,
          fingerprint: 'f',
          response: response(big),
          replayed: false,
          sentAt: clock.wallNow(),
        }),
      ).toBe(true);
      clock.advance(10);
    }
    const { entries, bytes } = await cache.size();
    expect(bytes).toBeLessThanOrEqual(3_000);
    expect(entries).toBe(2);
    expect(await cache.get('a', 'f')).toBeUndefined();
    expect(
      await cache.put({
        key: 'huge',
        fingerprint: 'f',
        response: response('y'.repeat(2_000)),
        replayed: false,
        sentAt: clock.wallNow(),
      }),
    ).toBe(false);
    expect(await cache.get('huge', 'f')).toBeUndefined();
  });

  it('drops expired entries when making room', async () => {
    const clock = new FakeClock();
    const store = await make();
    const cache = new ResponseCache(store, () => clock.wallNow(), { maxEntries: 10 });
    await cache.put({
      key: 'old',
      fingerprint: 'f',
      response: response('o'),
      replayed: false,
      sentAt: clock.wallNow(),
    });
    clock.advance(DAY_MS + 1);
    await cache.put({
      key: 'new',
      fingerprint: 'f',
      response: response('n'),
      replayed: false,
      sentAt: clock.wallNow(),
    });
    expect((await store.entries()).map(([k]) => k)).toEqual(['new']);
  });
});

describe('storage selection', () => {
  it('uses IndexedDB when present, localStorage when not, memory when neither', async () => {
    expect((await openStores({ indexedDB: new IDBFactory() })).responses.kind).toBe('indexeddb');
    expect((await openStores({ indexedDB: null, localStorage: new MemoryStorage() })).responses.kind).toBe(
      'localstorage',
    );
    expect((await openStores({ indexedDB: null, localStorage: null })).responses.kind).toBe('memory');
  });

  it('falls back to localStorage when IndexedDB fails to open', async () => {
    const broken = {
      open: () => {
        throw new Error('disabled');
      },
    } as unknown as IDBFactory;
    await expect(
      openStores({ indexedDB: broken, localStorage: new MemoryStorage() }).then((s) => s.queue.kind),
    ).resolves.toBe('localstorage');
  });

  it('a full localStorage means "not cached", not an error', async () => {
    const clock = new FakeClock();
    const ls = new MemoryStorage();
    ls.quotaChars = 100;
    const cache = new ResponseCache(new WebStorageStore<CacheEntry>(ls, 'c:'), () => clock.wallNow());
    expect(
      await cache.put({
        key: 'k',
        fingerprint: 'f',
        response: response('z'.repeat(200)),
        replayed: false,
        sentAt: clock.wallNow(),
      }),
    ).toBe(false);
  });
});
