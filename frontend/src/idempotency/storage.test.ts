import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { IndexedDbStore, openIndexedDb } from './storage';

/**
 * The database as it behaves when a write fails at commit (a quota error): the put request
 * succeeds, then its transaction aborts.
 */
function failingAtCommit(db: IDBDatabase): IDBDatabase {
  return new Proxy(db, {
    get(target, prop) {
      if (prop !== 'transaction') return Reflect.get(target, prop, target);
      return (names: string | string[], mode?: IDBTransactionMode) => {
        const tx = target.transaction(names, mode);
        if (mode !== 'readwrite') return tx;
        const store = tx.objectStore(typeof names === 'string' ? names : names[0]);
        const put = store.put.bind(store);
        store.put = (value: unknown, key?: IDBValidKey) => {
          const request = put(value, key);
          request.addEventListener('success', () => tx.abort());
          return request;
        };
        tx.objectStore = () => store;
        return tx;
      };
    },
  });
}

describe('IndexedDbStore', () => {
  it('a write resolves once committed, and reads back', async () => {
    const store = new IndexedDbStore<string>(await openIndexedDb(new IDBFactory(), 'commits', ['queue']), 'queue');
    await store.set('k', 'v');
    expect(await store.get('k')).toBe('v');
    await store.delete('k');
    expect(await store.get('k')).toBeUndefined();
  });

  it('a write that fails at commit is an error for the caller, not a silent loss', async () => {
    const db = await openIndexedDb(new IDBFactory(), 'aborts', ['queue']);
    const store = new IndexedDbStore<string>(failingAtCommit(db), 'queue');
    await expect(store.set('queued-intent', 'v')).rejects.toThrow();
    expect(await new IndexedDbStore<string>(db, 'queue').get('queued-intent')).toBeUndefined();
  });
});
