import type { KvStore } from './storage';
import type { StoredResponse } from './types';

/** The server's idempotency window: a completed request is replayed for 24 hours. */
export const DAY_MS = 24 * 60 * 60 * 1000;

export interface CacheEntry {
  key: string;
  /** Fingerprint of the request that produced the response: a different payload never hits. */
  fingerprint: string;
  response: StoredResponse;
  /** The server replayed it (`Idempotent-Replayed: true`) when it was stored. */
  replayed: boolean;
  /** Wall-clock ms when the first attempt was sent: the server's window starts no earlier. */
  sentAt: number;
  expiresAt: number;
  /** Wall-clock ms of the last read or write (least recently used goes first). */
  usedAt: number;
  /** Approximate size in bytes (UTF-16 of its JSON). */
  bytes: number;
}

export interface CacheLimits {
  maxEntries: number;
  maxBytes: number;
  ttlMs: number;
}

export const DEFAULT_CACHE_LIMITS: CacheLimits = { maxEntries: 200, maxBytes: 1_000_000, ttlMs: DAY_MS };

function sizeOf(e: Omit<CacheEntry, 'bytes'>): number {
  return JSON.stringify(e).length * 2;
}

/**
 * Completed responses by idempotency key, bounded in entries and bytes (least recently used
 * evicted first), each expiring `ttlMs` after its request was first sent.
 */
export class ResponseCache {
  readonly limits: CacheLimits;
  constructor(
    private store: KvStore<CacheEntry>,
    private wallNow: () => number,
    limits: Partial<CacheLimits> = {},
  ) {
    this.limits = { ...DEFAULT_CACHE_LIMITS, ...limits };
  }

  /** The live entry for `key` whose request had `fingerprint`, or undefined. */
  async get(key: string, fingerprint: string): Promise<CacheEntry | undefined> {
    const e = await this.store.get(key);
    if (!e) return undefined;
    const now = this.wallNow();
    if (e.expiresAt <= now) {
      await this.store.delete(key);
      return undefined;
    }
    if (e.fingerprint !== fingerprint) return undefined;
    e.usedAt = now;
    await this.store.set(key, e).catch(() => undefined);
    return e;
  }

  /** Stores a completed response; returns false when it is too big to keep or the store refused. */
  async put(input: {
    key: string;
    fingerprint: string;
    response: StoredResponse;
    replayed: boolean;
    sentAt: number;
  }): Promise<boolean> {
    const now = this.wallNow();
    const base = { ...input, expiresAt: input.sentAt + this.limits.ttlMs, usedAt: now };
    const entry: CacheEntry = { ...base, bytes: sizeOf(base) };
    if (entry.bytes > this.limits.maxBytes || entry.expiresAt <= now) return false;
    await this.evict(entry);
    try {
      await this.store.set(entry.key, entry);
      return true;
    } catch {
      return false;
    }
  }

  /** Removes expired entries, then least recently used ones until `incoming` fits. */
  private async evict(incoming: CacheEntry) {
    const now = this.wallNow();
    const live: CacheEntry[] = [];
    for (const [k, e] of await this.store.entries()) {
      if (k === incoming.key) continue;
      if (e.expiresAt <= now) await this.store.delete(k);
      else live.push(e);
    }
    live.sort((a, b) => a.usedAt - b.usedAt);
    let bytes = live.reduce((n, e) => n + e.bytes, 0) + incoming.bytes;
    while (live.length > 0 && (live.length + 1 > this.limits.maxEntries || bytes > this.limits.maxBytes)) {
      const victim = live.shift()!;
      bytes -= victim.bytes;
      await this.store.delete(victim.key);
    }
  }

  /** Entries currently stored (expired ones included until the next write or read). */
  async size(): Promise<{ entries: number; bytes: number }> {
    const all = await this.store.entries();
    return { entries: all.length, bytes: all.reduce((n, [, e]) => n + e.bytes, 0) };
  }

  async clear(): Promise<void> {
    for (const [k] of await this.store.entries()) await this.store.delete(k);
  }
}
