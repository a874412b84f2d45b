import { describe, expect, test } from 'vitest';
import { countOutcomes, describe as describeLine, lanesOf, outcomeOf, startMs, type LogLine } from './attempts';

const line = (n: number, over: Partial<LogLine>): LogLine => ({
  n,
  at: '12:00:00.000',
  endMs: 1000 + n,
  key: 'k1',
  source: 'network',
  status: 201,
  replayed: false,
  latencyMs: 10,
  attempt: 1,
  ...over,
});

describe('attempt outcomes', () => {
  test('each source, status and replay header has one outcome', () => {
    expect(outcomeOf({ source: 'network', status: 201, replayed: false })).toBe('created');
    expect(outcomeOf({ source: 'queue', status: 201, replayed: false })).toBe('created');
    expect(outcomeOf({ source: 'network', status: 201, replayed: true })).toBe('replayed');
    expect(outcomeOf({ source: 'shared', status: 201, replayed: false })).toBe('shared');
    expect(outcomeOf({ source: 'cache', status: 201, replayed: true })).toBe('cache');
    expect(outcomeOf({ source: 'network', status: 409, replayed: false })).toBe('conflict');
    expect(outcomeOf({ source: 'network', status: 422, replayed: false })).toBe('mismatch');
    expect(outcomeOf({ source: 'network', status: 401, replayed: false })).toBe('client-error');
    expect(outcomeOf({ source: 'network', status: 503, replayed: false })).toBe('server-error');
    expect(outcomeOf({ source: 'queue', status: 0, replayed: false })).toBe('queued');
    expect(outcomeOf({ source: 'network', status: 0, replayed: false })).toBe('network-error');
  });

  test('a race reads as one lane: one created, the rest replayed or retried', () => {
    const log = [
      line(1, { status: 409, retryInMs: 100 }),
      line(2, { status: 201 }),
      line(3, { key: 'k2', source: 'queue', status: 0, attempt: 0, latencyMs: 0 }),
      line(4, { status: 201, replayed: true }),
      line(5, { key: 'k2', source: 'queue', status: 201 }),
    ];
    const lanes = lanesOf(log);
    expect(lanes.map((l) => [l.key, l.lines.map((x) => x.n)])).toEqual([
      ['k1', [1, 2, 4]],
      ['k2', [3, 5]],
    ]);
    expect(Object.fromEntries(countOutcomes(lanes[0].lines))).toEqual({ conflict: 1, created: 1, replayed: 1 });
    expect(Object.fromEntries(countOutcomes(lanes[1].lines))).toEqual({ queued: 1, created: 1 });
    expect(startMs(log[0])).toBe(1001 - 10);
    expect(describeLine(log[0])).toBe(
      '#1, in flight elsewhere (409), retried, status 409, key k1, 10.0 ms, attempt 1, retry in 100 ms, answered at 12:00:00.000',
    );
  });
});
