/** Retry policy: exponential backoff with full jitter, bounded attempts, honouring Retry-After. */
export interface RetryPolicy {
  /** Total attempts, the first included (>= 1). */
  maxAttempts: number;
  /** Backoff base in ms: the cap before jitter for retry n (0-based) is min(maxDelayMs, baseMs * 2^n). */
  baseMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, baseMs: 200, maxDelayMs: 5_000 };

/** Statuses worth retrying with the same key: 409 (the first is still running) and every 5xx. */
export function isRetryableStatus(status: number): boolean {
  return status === 409 || (status >= 500 && status <= 599);
}

/**
 * Delay before retry number `retry` (0 = the first retry): full jitter, a uniform draw in
 * [0, min(maxDelayMs, baseMs * 2^retry)).
 */
export function backoffDelay(policy: RetryPolicy, retry: number, random: () => number): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseMs * 2 ** retry);
  return Math.floor(random() * cap);
}

/** `Retry-After` in ms: delta-seconds or an HTTP date; undefined when absent or unparsable. */
export function parseRetryAfter(value: string | null | undefined, wallNow: number): number | undefined {
  if (value == null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - wallNow);
}

/**
 * The delay before the next attempt: the server's Retry-After when it gave one (capped at
 * maxDelayMs, so a hostile value cannot stall the page), else the jittered backoff.
 */
export function nextDelay(policy: RetryPolicy, retry: number, random: () => number, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxDelayMs);
  return backoffDelay(policy, retry, random);
}
