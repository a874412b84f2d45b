/** Test doubles: a fake clock whose sleeps advance time at once, a scripted fetch, a Storage. */
import type { Clock, FetchLike } from './types';
import type { WebStorageLike } from './storage';

export class FakeClock implements Clock {
  t = 0;
  wall = Date.UTC(2026, 0, 1);
  sleeps: number[] = [];
  now() {
    return this.t;
  }
  wallNow() {
    return this.wall;
  }
  advance(ms: number) {
    this.t += ms;
    this.wall += ms;
  }
  async sleep(ms: number) {
    this.sleeps.push(ms);
    this.advance(ms);
  }
}

export type Reply = { status: number; headers?: Record<string, string>; body?: string } | 'network-error';

/** Answers each call with the next scripted reply (the last one repeats); records the requests. */
export function scriptedFetch(replies: Reply[]) {
  const calls: Array<{ url: string; init: RequestInit; headers: Record<string, string> }> = [];
  let i = 0;
  const fetch: FetchLike = async (url, init) => {
    calls.push({ url, init, headers: { ...(init.headers as Record<string, string>) } });
    const r = replies[Math.min(i++, replies.length - 1)];
    if (r === 'network-error') throw new TypeError('Failed to fetch');
    return new Response(r.body ?? '{}', { status: r.status, headers: r.headers });
  };
  return { fetch, calls };
}

export class MemoryStorage implements WebStorageLike {
  private m = new Map<string, string>();
  quotaChars = Infinity;
  get length() {
    return this.m.size;
  }
  key(i: number) {
    return [...this.m.keys()][i] ?? null;
  }
  getItem(k: string) {
    return this.m.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    const used = [...this.m.entries()].reduce((n, [kk, vv]) => (kk === k ? n : n + kk.length + vv.length), 0);
    if (used + k.length + v.length > this.quotaChars) throw new DOMException('quota', 'QuotaExceededError');
    this.m.set(k, v);
  }
  removeItem(k: string) {
    this.m.delete(k);
  }
}

/** An unsigned JWT with these claims (the client reads claims; it never checks signatures). */
export function unsignedJwt(claims: Record<string, unknown>): string {
  const part = (o: unknown) =>
    btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify(o))))
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
      .replace(/=+$/, '');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.c2lnbmF0dXJl`;
}
