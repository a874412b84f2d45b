import type { KvStore } from './storage';
import type { Intent } from './types';

export interface QueuedItem {
  intent: Intent;
  /** Wall-clock ms when the intent's first attempt was sent or queued. */
  sentAt: number;
  enqueuedAt: number;
  /** Order of arrival, so replays keep it. */
  seq: number;
}

/**
 * Requests waiting for the network, stored durably by idempotency key: queueing the same intent
 * twice keeps one item, and a replay after a reload sends it with the same key.
 */
export class OfflineQueue {
  private seq = 0;
  constructor(
    private store: KvStore<QueuedItem>,
    private wallNow: () => number,
  ) {}

  async add(intent: Intent, sentAt: number): Promise<void> {
    const existing = await this.store.get(intent.key);
    if (existing) return;
    const items = await this.list();
    this.seq = Math.max(this.seq, ...items.map((i) => i.seq)) + 1;
    await this.store.set(intent.key, { intent, sentAt, enqueuedAt: this.wallNow(), seq: this.seq });
  }

  async remove(key: string): Promise<void> {
    await this.store.delete(key);
  }

  /** Items in arrival order. */
  async list(): Promise<QueuedItem[]> {
    return (await this.store.entries()).map(([, v]) => v).sort((a, b) => a.seq - b.seq);
  }

  async has(key: string): Promise<boolean> {
    return (await this.store.get(key)) !== undefined;
  }
}
