export * from './types';
export { canonicalJson, canonicalBody, canonicalRequest, fingerprint } from './fingerprint';
export { NonCanonicalJsonError, canonicalizeText, canonicalizeValue, type Loss } from './jcs';
export { sha256Hex, sha256Bytes } from './sha256';
export { ResponseCache, DAY_MS, DEFAULT_CACHE_LIMITS, type CacheEntry, type CacheLimits } from './cache';
export { OfflineQueue, type QueuedItem } from './queue';
export { DEFAULT_RETRY, backoffDelay, isRetryableStatus, nextDelay, parseRetryAfter, type RetryPolicy } from './retry';
export {
  ANONYMOUS_STORE,
  IndexedDbStore,
  MemoryStore,
  WebStorageStore,
  openStores,
  storeNameFor,
  type KvStore,
  type WebStorageLike,
} from './storage';
export { IdempotencyClient, randomUuid, systemClock, type ClientOptions, type SendOptions } from './client';
export {
  MalformedTokenError,
  SignedOutError,
  jwtClaims,
  jwtExpiresAtMs,
  jwtSubject,
  type Credentials,
} from './credentials';

import { ResponseCache, type CacheEntry, type CacheLimits } from './cache';
import { IdempotencyClient, systemClock, type ClientOptions } from './client';
import { OfflineQueue, type QueuedItem } from './queue';
import { openStores, type WebStorageLike } from './storage';

/**
 * A client on the browser's durable stores (IndexedDB, else localStorage, else memory): with
 * `credentials`, that user's own stores (named by their `sub`), else the anonymous ones.
 */
export async function createBrowserClient(
  opts: Omit<ClientOptions, 'cache' | 'queue'> & {
    cacheLimits?: Partial<CacheLimits>;
    indexedDB?: IDBFactory | null;
    localStorage?: WebStorageLike | null;
  },
): Promise<{ client: IdempotencyClient; storage: string }> {
  const stores = await openStores<CacheEntry, QueuedItem>({
    indexedDB: opts.indexedDB,
    localStorage: opts.localStorage,
    subject: opts.credentials?.subject,
  });
  const clock = opts.clock ?? systemClock;
  const cache = new ResponseCache(stores.responses, () => clock.wallNow(), opts.cacheLimits);
  const queue = new OfflineQueue(stores.queue, () => clock.wallNow());
  return { client: new IdempotencyClient({ ...opts, clock, cache, queue }), storage: stores.responses.kind };
}
