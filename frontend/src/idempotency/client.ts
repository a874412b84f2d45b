import { ResponseCache } from './cache';
import { SignedOutError, jwtSubject, type Credentials } from './credentials';
import { fingerprint } from './fingerprint';
import { OfflineQueue } from './queue';
import { DEFAULT_RETRY, isRetryableStatus, nextDelay, parseRetryAfter, type RetryPolicy } from './retry';
import type {
  AttemptEvent,
  Clock,
  FetchLike,
  IdempotentRequest,
  Intent,
  KeyMode,
  Random,
  SendResult,
  Source,
  StoredResponse,
} from './types';

export const systemClock: Clock = {
  now: () => (globalThis.performance ? performance.now() : Date.now()),
  wallNow: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** A random (version 4) UUID, from Web Crypto. */
export function randomUuid(): string {
  const c = globalThis.crypto;
  if (c?.randomUUID) return c.randomUUID();
  const b = new Uint8Array(16);
  c.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export interface ClientOptions {
  /** The API base URL, e.g. `import.meta.env.VITE_API_URL`. */
  baseUrl: string;
  cache: ResponseCache;
  queue: OfflineQueue;
  fetch?: FetchLike;
  clock?: Clock;
  random?: Random;
  uuid?: () => string;
  retry?: Partial<RetryPolicy>;
  /** Whether the browser believes it is online (`navigator.onLine`). */
  isOnline?: () => boolean;
  /** The key header (the server's `IDEMPOTENCY_HEADER`). */
  keyHeader?: string;
  /** Every attempt, cache answer and queueing, as it happens. */
  onAttempt?: (e: AttemptEvent) => void;
  /** The final answer of each request replayed from the offline queue. */
  onQueueResult?: (r: SendResult, intent: Intent) => void;
  /**
   * The signed-in user to send as (`Authorization: Bearer`), or none (anonymous). The cache and
   * queue given must be this user's own (`createBrowserClient` opens them by subject).
   */
  credentials?: Credentials;
}

export interface SendOptions {
  /** Answer a repeated intent from the client cache (default true). */
  useCache?: boolean;
  /** Join an identical request already in flight instead of sending another (default true). */
  shareInFlight?: boolean;
  /** Extra headers for this call only (not stored with queued requests). */
  headers?: Record<string, string>;
}

/** Network errors are what `fetch` rejects with (TypeError); aborts and the like count too. */
class NetworkError extends Error {}

/** The request may not be sent as the client's user (signed out, or a token for someone else). */
class NotSendable extends Error {}

/**
 * Sends requests with an idempotency key per intent, answers repeated intents from the client
 * cache, retries what is safe to retry, and queues requests the network could not take.
 */
export class IdempotencyClient {
  readonly retry: RetryPolicy;
  private fetchFn: FetchLike;
  private clock: Clock;
  private random: Random;
  private uuid: () => string;
  private isOnline: () => boolean;
  private keyHeader: string;
  private inFlight = new Map<string, Promise<SendResult>>();
  private flushing: Promise<SendResult[]> | null = null;
  private closed = false;

  constructor(private opts: ClientOptions) {
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.fetchFn = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.uuid = opts.uuid ?? randomUuid;
    this.isOnline = opts.isOnline ?? (() => (typeof navigator === 'undefined' ? true : navigator.onLine));
    this.keyHeader = opts.keyHeader ?? 'Idempotency-Key';
  }

  get cache(): ResponseCache {
    return this.opts.cache;
  }
  get queue(): OfflineQueue {
    return this.opts.queue;
  }
  /** The user this client sends as, or undefined when anonymous. */
  get subject(): string | undefined {
    return this.opts.credentials?.subject;
  }

  /** Stops replaying the queue (e.g. its user signed out): a flush under way stops before its next item. */
  close(): void {
    this.closed = true;
  }

  /**
   * A new intent. `uuid`: a fresh random key, to be reused by every retry of this intent.
   * `fingerprint`: the key is the SHA-256 of the canonical request, so identical payloads share it.
   * Rejects with `NonCanonicalJsonError` (naming the member) for a JSON body without an exact
   * RFC 8785 form (duplicate name, inexact number, lone surrogate), which the server refuses with 400.
   */
  async createIntent(request: IdempotentRequest, mode: KeyMode): Promise<Intent> {
    const fp = await fingerprint(request);
    return { key: mode === 'fingerprint' ? fp : this.uuid(), mode, fingerprint: fp, request };
  }

  /** Sends an intent (or answers it from the cache, or queues it). Never throws for HTTP or network trouble. */
  async send(intent: Intent, options: SendOptions = {}): Promise<SendResult> {
    const start = this.clock.now();
    const { useCache = true, shareInFlight = true } = options;

    // Checked and registered synchronously, so two calls in the same tick cannot both miss.
    if (shareInFlight) {
      const pending = this.inFlight.get(intent.key);
      if (pending) {
        const r = await pending;
        const latencyMs = this.clock.now() - start;
        this.emit({
          key: intent.key,
          source: 'shared',
          status: r.status,
          replayed: r.replayed,
          latencyMs,
          attempt: 0,
          note: 'joined the identical request in flight',
        });
        return { ...r, source: 'shared', latencyMs, attempts: 0 };
      }
    }
    const run = this.answer(intent, useCache, start, options.headers);
    if (shareInFlight) {
      this.inFlight.set(intent.key, run);
      void run
        .finally(() => {
          if (this.inFlight.get(intent.key) === run) this.inFlight.delete(intent.key);
        })
        .catch(() => undefined); // the caller sees any rejection through `run`
    }
    return run;
  }

  /** From the client cache when allowed and present, else over the network. */
  private async answer(
    intent: Intent,
    useCache: boolean,
    start: number,
    headers?: Record<string, string>,
  ): Promise<SendResult> {
    const sentAt = this.clock.wallNow();
    if (useCache) {
      const hit = await this.opts.cache.get(intent.key, intent.fingerprint);
      if (hit) {
        const latencyMs = this.clock.now() - start;
        this.emit({
          key: intent.key,
          source: 'cache',
          status: hit.response.status,
          replayed: hit.replayed,
          latencyMs,
          attempt: 0,
          note: 'answered from the client cache, no request sent',
        });
        return {
          key: intent.key,
          source: 'cache',
          status: hit.response.status,
          replayed: hit.replayed,
          queued: false,
          response: hit.response,
          latencyMs,
          attempts: 0,
        };
      }
    }
    return this.deliver(intent, 'network', sentAt, start, headers);
  }

  /** Replays the offline queue in order (one flush at a time); stops at the first request that fails on the network again. */
  flushQueue(): Promise<SendResult[]> {
    if (!this.flushing) {
      this.flushing = this.doFlush().finally(() => {
        this.flushing = null;
      });
    }
    return this.flushing;
  }

  /** Replays the queue now (when online) and on every `online` event of `target`; returns the unsubscribe. */
  autoReplay(target: EventTarget = globalThis as unknown as EventTarget): () => void {
    const handler = () => {
      void this.flushQueue();
    };
    target.addEventListener('online', handler);
    if (this.isOnline()) handler();
    return () => target.removeEventListener('online', handler);
  }

  private async doFlush(): Promise<SendResult[]> {
    const results: SendResult[] = [];
    for (const item of await this.opts.queue.list()) {
      if (!this.isOnline() || this.closed) break;
      const start = this.clock.now();
      const run = this.deliver(item.intent, 'queue', item.sentAt, start);
      this.inFlight.set(item.intent.key, run);
      const r = await run.finally(() => this.inFlight.delete(item.intent.key));
      results.push(r);
      this.opts.onQueueResult?.(r, item.intent);
      if (r.queued) break;
    }
    return results;
  }

  /** The network part: attempts with backoff; queues on network failure; caches 2xx answers. */
  private async deliver(
    intent: Intent,
    source: Source,
    sentAt: number,
    start: number,
    extraHeaders?: Record<string, string>,
  ): Promise<SendResult> {
    const base = { key: intent.key, source };
    if (!this.isOnline())
      return this.enqueue(intent, source, sentAt, start, 0, 'offline: queued until the browser is online');

    const url = this.opts.baseUrl.replace(/\/+$/, '') + intent.request.path;
    const headers: Record<string, string> = {
      ...intent.request.headers,
      ...extraHeaders,
      [this.keyHeader]: intent.key,
    };
    if (intent.request.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
      headers['Content-Type'] = 'application/json';
    }

    let renewed = false; // a 401 renews the token once per call
    let renewNext = false;
    for (let attempt = 1; ; attempt++) {
      const t0 = this.clock.now();
      let response: StoredResponse;
      let replayed = false;
      try {
        const authorization = await this.authorization(renewNext);
        renewNext = false;
        const sent = authorization ? { ...headers, Authorization: authorization } : headers;
        response = await this.fetchOnce(url, {
          method: intent.request.method,
          headers: sent,
          body: intent.request.body,
        });
        replayed = response.headers['idempotent-replayed'] === 'true';
      } catch (e) {
        if (e instanceof NotSendable) return this.enqueue(intent, source, sentAt, start, attempt - 1, e.message);
        const latencyMs = this.clock.now() - t0;
        const error = e instanceof Error ? e.message : String(e);
        if (!this.isOnline() || attempt >= this.retry.maxAttempts) {
          this.emit({ ...base, status: 0, replayed: false, latencyMs, attempt, note: `network error: ${error}` });
          const why = this.isOnline() ? `gave up after ${attempt} network errors: queued` : 'went offline: queued';
          return this.enqueue(intent, source, sentAt, start, attempt, why);
        }
        const delay = nextDelay(this.retry, attempt - 1, this.random);
        this.emit({
          ...base,
          status: 0,
          replayed: false,
          latencyMs,
          attempt,
          retryInMs: delay,
          note: `network error: ${error}`,
        });
        await this.clock.sleep(delay);
        continue;
      }

      const latencyMs = this.clock.now() - t0;
      const { status } = response;
      if (status === 401 && this.opts.credentials && !renewed) {
        renewed = renewNext = true;
        this.emit({ ...base, status, replayed, latencyMs, attempt, note: 'token refused: renewing it and retrying' });
        continue;
      }
      if (isRetryableStatus(status) && attempt < this.retry.maxAttempts) {
        const retryAfter = parseRetryAfter(response.headers['retry-after'], this.clock.wallNow());
        const delay = nextDelay(this.retry, attempt - 1, this.random, retryAfter);
        this.emit({ ...base, status, replayed, latencyMs, attempt, retryInMs: delay });
        await this.clock.sleep(delay);
        continue;
      }
      if (status >= 200 && status < 300) {
        await this.opts.cache
          .put({ key: intent.key, fingerprint: intent.fingerprint, response, replayed, sentAt })
          .catch(() => false);
      }
      if (source === 'queue') await this.opts.queue.remove(intent.key);
      this.emit({ ...base, status, replayed, latencyMs, attempt });
      return {
        ...base,
        status,
        replayed,
        queued: false,
        response,
        latencyMs: this.clock.now() - start,
        attempts: attempt,
      };
    }
  }

  /**
   * The `Authorization` header for the client's user (none when anonymous). Throws `NotSendable`
   * when the user signed out or the token is someone else's; other failures (the issuer out of
   * reach) are network errors, retried like the API's.
   */
  private async authorization(renew: boolean): Promise<string | undefined> {
    const creds = this.opts.credentials;
    if (!creds) return undefined;
    let token: string;
    try {
      token = await (renew ? creds.renew() : creds.token());
    } catch (e) {
      if (e instanceof SignedOutError)
        throw new NotSendable(`${creds.subject} is signed out: kept in ${creds.subject}'s queue`);
      throw new NetworkError(`no token: ${e instanceof Error ? e.message : String(e)}`);
    }
    let sub: string;
    try {
      sub = jwtSubject(token);
    } catch (e) {
      throw new NotSendable(`unreadable token (${e instanceof Error ? e.message : String(e)}): kept in the queue`);
    }
    if (sub !== creds.subject)
      throw new NotSendable(`the token is ${sub}'s, not ${creds.subject}'s: kept in ${creds.subject}'s queue`);
    return `Bearer ${token}`;
  }

  private async enqueue(
    intent: Intent,
    source: Source,
    sentAt: number,
    start: number,
    attempts: number,
    note: string,
  ): Promise<SendResult> {
    await this.opts.queue.add(intent, sentAt);
    const latencyMs = this.clock.now() - start;
    this.emit({ key: intent.key, source: 'queue', status: 0, replayed: false, latencyMs, attempt: 0, note });
    return { key: intent.key, source, status: 0, replayed: false, queued: true, latencyMs, attempts, error: note };
  }

  private async fetchOnce(url: string, init: RequestInit): Promise<StoredResponse> {
    let res: Response;
    try {
      res = await this.fetchFn(url, init);
    } catch (e) {
      throw new NetworkError(e instanceof Error ? e.message : String(e));
    }
    const headers: Record<string, string> = {};
    res.headers.forEach((v, k) => {
      headers[k.toLowerCase()] = v;
    });
    let body: string;
    try {
      body = await res.text();
    } catch (e) {
      throw new NetworkError(e instanceof Error ? e.message : String(e));
    }
    return { status: res.status, headers, body };
  }

  private emit(e: AttemptEvent) {
    this.opts.onAttempt?.(e);
  }
}
