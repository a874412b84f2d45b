import { describe, expect, it } from 'vitest';
import { backoffDelay, isRetryableStatus, nextDelay, parseRetryAfter, type RetryPolicy } from './retry';

const policy: RetryPolicy = { maxAttempts: 6, baseMs: 100, maxDelayMs: 1_000 };

describe('backoff', () => {
  it('doubles the cap each retry up to maxDelayMs (random just below 1 shows the cap)', () => {
    const top = () => 0.999999;
    expect([0, 1, 2, 3, 4, 5].map((n) => backoffDelay(policy, n, top))).toEqual([99, 199, 399, 799, 999, 999]);
  });

  it('is full jitter: uniform in [0, cap)', () => {
    expect(backoffDelay(policy, 3, () => 0)).toBe(0);
    expect(backoffDelay(policy, 3, () => 0.5)).toBe(400);
    expect(backoffDelay(policy, 3, () => 0.25)).toBe(200);
  });

  it('prefers Retry-After, capped at maxDelayMs', () => {
    expect(nextDelay(policy, 0, () => 0.5, 700)).toBe(700);
    expect(nextDelay(policy, 0, () => 0.5, 60_000)).toBe(1_000);
    expect(nextDelay(policy, 0, () => 0.5, undefined)).toBe(50);
  });
});

describe('Retry-After', () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);
  it('reads delta-seconds and HTTP dates', () => {
    expect(parseRetryAfter('1', now)).toBe(1_000);
    expect(parseRetryAfter(' 3 ', now)).toBe(3_000);
    expect(parseRetryAfter(new Date(now + 5_000).toUTCString(), now)).toBe(5_000);
    expect(parseRetryAfter(new Date(now - 5_000).toUTCString(), now)).toBe(0);
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });
});

describe('what is retried', () => {
  it('409 and 5xx, never other 4xx or success', () => {
    for (const s of [409, 500, 502, 503, 504]) expect(isRetryableStatus(s)).toBe(true);
    for (const s of [200, 201, 400, 401, 403, 404, 422, 429]) expect(isRetryableStatus(s)).toBe(false);
  });
});
