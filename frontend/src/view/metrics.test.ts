import { describe, expect, test } from 'vitest';
import { numbersOf, readMetrics } from './metrics';

const doc = {
  total: {
    requests: 25,
    counts: { Executed: 2, Replayed: 18, ReplayedFromCache: 1, Conflict: 3, Mismatch: 1, Failed: 0, Rejected: 0 },
    stats: { HandlerLatency: { count: 4, sum: 10, max: 6, unit: 'Milliseconds' } },
  },
  routes: {},
  invalid_lines: 0,
};

describe('the stack numbers', () => {
  test('are the EMF sums of the local metrics document', () => {
    expect(numbersOf(doc)).toEqual({
      requests: 25,
      created: 2,
      replayed: 19,
      conflicts: 3,
      mismatches: 1,
      failures: 0,
      rejected: 0,
      latency: { count: 4, avgMs: 2.5, maxMs: 6 },
    });
    expect(numbersOf({ total: { requests: 0 } }).latency).toBeNull();
    expect(() => numbersOf({ message: 'Not Found' })).toThrow('total.requests');
  });

  test('are absent where the path is not answered (a deployed stack)', async () => {
    const answer = (status: number, body: unknown) => async () =>
      new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
    expect(await readMetrics(answer(200, doc), 'http://x/')).toMatchObject({ kind: 'live' });
    expect(await readMetrics(answer(404, { message: 'Not Found' }), 'http://x')).toEqual({
      kind: 'absent',
      why: '/_oncely/metrics answered 404',
    });
    expect(await readMetrics(answer(200, { message: 'hi' }), 'http://x')).toMatchObject({ kind: 'absent' });
    const down = async () => {
      throw new TypeError('Failed to fetch');
    };
    expect(await readMetrics(down, 'http://x')).toEqual({ kind: 'unreachable', why: 'no answer (Failed to fetch)' });
    let asked = '';
    await readMetrics(async (url) => ((asked = url), new Response('{}', { status: 404 })), 'http://x/');
    expect(asked).toBe('http://x/_oncely/metrics');
  });
});
