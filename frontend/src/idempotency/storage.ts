/**
 * Durable key-value stores for the response cache and the offline queue: IndexedDB when the
 * browser has it, else localStorage, else memory (lost on reload; tests and odd browsers).
 */
export interface KvStore<T> {
  readonly kind: 'indexeddb' | 'localstorage' | 'memory';
  get(key: string): Promise<T | undefined>;
  set(key: string, value: T): Promise<void>;
  delete(key: string): Promise<void>;
  /** Every entry, in no particular order. */
  entries(): Promise<Array<[string, T]>>;
}

export class MemoryStore<T> implements KvStore<T> {
  readonly kind = 'memory' as const;
  private map = new Map<string, T>();
  async get(key: string) {
    const v = this.map.get(key);
    return v === undefined ? undefined : structuredClone(v);
  }
  async set(key: string, value: T) {
    this.map.set(key, structuredClone(value));
  }
  async delete(key: string) {
    this.map.delete(key);
  }
  async entries() {
    return [...this.map.entries()].map(([k, v]) => [k, structuredClone(v)] as [string, T]);
  }
}

/** The part of the Web Storage API used (localStorage, or a test double). */
export interface WebStorageLike {
  readonly length: number;
  key(index: number): string | null;
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** One Web Storage item per entry, named `<prefix><key>`, holding JSON. */
export class WebStorageStore<T> implements KvStore<T> {
  readonly kind = 'localstorage' as const;
  constructor(
    private storage: WebStorageLike,
    private prefix: string,
  ) {}
  async get(key: string) {
    const raw = this.storage.getItem(this.prefix + key);
    if (raw === null) return undefined;
    try {
      return JSON.parse(raw) as T;
    } catch {
      this.storage.removeItem(this.prefix + key);
      return undefined;
    }
  }
  async set(key: string, value: T) {
    // QuotaExceededError propagates: the cache treats a failed write as "not cached".
    this.storage.setItem(this.prefix + key, JSON.stringify(value));
  }
  async delete(key: string) {
    this.storage.removeItem(this.prefix + key);
  }
  async entries() {
    const out: Array<[string, T]> = [];
    const names: string[] = [];
    for (let i = 0; i < this.storage.length; i++) {
      const name = this.storage.key(i);
      if (name !== null && name.startsWith(this.prefix)) names.push(name);
    }
    for (const name of names) {
      const key = name.slice(this.prefix.length);
      const v = await this.get(key);
      if (v !== undefined) out.push([key, v]);
    }
    return out;
  }
}

function promisify<R>(req: IDBRequest<R>): Promise<R> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** Opens (creating when needed) a database whose object stores hold `{key, value}` records. */
export function openIndexedDb(factory: IDBFactory, name: string, stores: string[]): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = factory.open(name, 1);
    req.onupgradeneeded = () => {
      for (const s of stores) if (!req.result.objectStoreNames.contains(s)) req.result.createObjectStore(s);
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error(`IndexedDB ${name} is blocked by another tab`));
  });
}

export class IndexedDbStore<T> implements KvStore<T> {
  readonly kind = 'indexeddb' as const;
  constructor(
    private db: IDBDatabase,
    private store: string,
  ) {}
  private tx(mode: IDBTransactionMode) {
    return this.db.transaction(this.store, mode).objectStore(this.store);
  }
  async get(key: string) {
    return (await promisify(this.tx('readonly').get(key))) as T | undefined;
  }
  async set(key: string, value: T) {
    await this.write((store) => store.put(value, key));
  }
  async delete(key: string) {
    await this.write((store) => store.delete(key));
  }
  /**
   * One write, resolved when its transaction commits (`complete`), not when the request succeeds:
   * a write can still fail at commit (a quota error aborts the transaction), and an offline-queue
   * entry the caller believes stored would then be lost without a word.
   */
  private write(request: (store: IDBObjectStore) => IDBRequest): Promise<void> {
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction(this.store, 'readwrite');
      request(tx.objectStore(this.store));
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB write failed'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB write aborted'));
    });
  }
  async entries() {
    const store = this.tx('readonly');
    const [keys, values] = await Promise.all([promisify(store.getAllKeys()), promisify(store.getAll())]);
    return keys.map((k, i) => [String(k), values[i] as T] as [string, T]);
  }
}

/** The anonymous stores' name: the one used before users existed, so nothing changes without auth. */
export const ANONYMOUS_STORE = 'oncely-idempotency';

/**
 * The stores' name for a user (`sub`), or the anonymous one. Users' names never share a prefix
 * with the anonymous name's Web Storage items (`oncely-idempotency:`), nor with each other's.
 */
export function storeNameFor(subject?: string): string {
  return subject === undefined ? ANONYMOUS_STORE : `${ANONYMOUS_STORE}@${encodeURIComponent(subject)}`;
}

export interface Stores<C, Q> {
  responses: KvStore<C>;
  queue: KvStore<Q>;
}

/**
 * The best stores this environment offers. `indexedDB` and `localStorage` may be injected
 * (tests); by default they are the browser's. Falls back when IndexedDB fails to open
 * (private modes of some browsers), and to memory when neither works.
 */
export async function openStores<C, Q>(
  opts: {
    indexedDB?: IDBFactory | null;
    localStorage?: WebStorageLike | null;
    /** Whose stores: a user's `sub` (each user has their own), or undefined for the anonymous ones. */
    subject?: string;
    dbName?: string;
  } = {},
): Promise<Stores<C, Q>> {
  const dbName = opts.dbName ?? storeNameFor(opts.subject);
  const factory = opts.indexedDB !== undefined ? opts.indexedDB : (globalThis.indexedDB ?? null);
  if (factory) {
    try {
      const db = await openIndexedDb(factory, dbName, ['responses', 'queue']);
      return { responses: new IndexedDbStore<C>(db, 'responses'), queue: new IndexedDbStore<Q>(db, 'queue') };
    } catch {
      /* fall through */
    }
  }
  let ls: WebStorageLike | null = null;
  try {
    ls = opts.localStorage !== undefined ? opts.localStorage : (globalThis.localStorage ?? null);
  } catch {
    ls = null; // access can throw when storage is disabled
  }
  if (ls) {
    return {
      responses: new WebStorageStore<C>(ls, `${dbName}:responses:`),
      queue: new WebStorageStore<Q>(ls, `${dbName}:queue:`),
    };
  }
  return { responses: new MemoryStore<C>(), queue: new MemoryStore<Q>() };
}
