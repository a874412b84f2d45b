/** Everything the library takes from its environment, injected so tests can drive it. */

/** Time: `now` in milliseconds (monotonic is fine), `sleep` waits. */
export interface Clock {
  now(): number;
  /** Wall-clock milliseconds since the epoch, for expiry across page loads. */
  wallNow(): number;
  sleep(ms: number): Promise<void>;
}

/** A uniform random number in [0, 1). */
export type Random = () => number;

/** The subset of `fetch` the client uses. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** A request the client can send and replay: everything needed is plain data (it is stored). */
export interface IdempotentRequest {
  method: string;
  /** Path relative to the API base URL, e.g. `/orders`. */
  path: string;
  /** The JSON body as text, or undefined. */
  body?: string;
  /** Extra headers (not the idempotency key). */
  headers?: Record<string, string>;
}

/** How an intent's idempotency key is chosen. */
export type KeyMode = 'uuid' | 'fingerprint';

/** One user intent: its key is reused by every retry of it. */
export interface Intent {
  key: string;
  mode: KeyMode;
  /** SHA-256 (hex) of the canonical request. */
  fingerprint: string;
  request: IdempotentRequest;
}

/** Where an answer came from. `shared`: it joined an identical request already in flight. */
export type Source = 'network' | 'cache' | 'queue' | 'shared';

/** A stored response. */
export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The outcome of one send. */
export interface SendResult {
  key: string;
  source: Source;
  /** HTTP status, or 0 when there is none (queued, or gave up on network errors). */
  status: number;
  /** The server said `Idempotent-Replayed: true` (or the cached answer was such a replay). */
  replayed: boolean;
  /** The request was stored in the offline queue; it will be sent when the browser is online. */
  queued: boolean;
  response?: StoredResponse;
  /** Milliseconds from the call to the answer. */
  latencyMs: number;
  /** Network attempts made by this call. */
  attempts: number;
  error?: string;
}

/** One line of the attempt log. */
export interface AttemptEvent {
  key: string;
  source: Source;
  /** HTTP status, 0 for a network error or a queued request. */
  status: number;
  replayed: boolean;
  latencyMs: number;
  /** 1-based attempt number within the call (0 for cache answers and queueing). */
  attempt: number;
  /** Delay before the next attempt, when one follows. */
  retryInMs?: number;
  note?: string;
}
