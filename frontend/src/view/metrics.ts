// The stack's own numbers: `up --local` sums the function's EMF lines and serves them at
// `GET /_oncely/metrics`; a deployed stack has no such path (API Gateway answers 404, or 401/403
// with auth), and then the page says where the numbers are instead.
import type { FetchLike } from '../idempotency';

/** The local metrics path (answered by `up --local`'s gateway only). */
export const METRICS_PATH = '/_oncely/metrics';

/** The outcome counts and handler latency over every route, as the EMF lines report them. */
export interface StackNumbers {
  /** EMF lines counted (requests that reached the function). */
  requests: number;
  created: number;
  /** From the store and from the in-process cache. */
  replayed: number;
  conflicts: number;
  mismatches: number;
  failures: number;
  rejected: number;
  /** `HandlerLatency`, when any request reported it. */
  latency: { count: number; avgMs: number; maxMs: number } | null;
}

/**
 * One reading: the numbers; `absent` when the API answered that it has no such path (a deployed
 * stack: asking again will not change that); `unreachable` when there was no answer (offline, or
 * the stack is busy or stopped: ask again later).
 */
export type MetricsReading =
  { kind: 'live'; numbers: StackNumbers } | { kind: 'absent'; why: string } | { kind: 'unreachable'; why: string };

/** Why a metrics document is not one. */
export class MetricsShapeError extends Error {}

const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);

/** The numbers of a `/_oncely/metrics` document. */
export function numbersOf(doc: unknown): StackNumbers {
  const total = (doc as { total?: unknown } | null)?.total as
    { requests?: unknown; counts?: Record<string, unknown>; stats?: Record<string, unknown> } | undefined;
  if (!total || typeof total !== 'object' || typeof total.requests !== 'number') {
    throw new MetricsShapeError('the document has no `total.requests` number');
  }
  const c = total.counts ?? {};
  const stat = total.stats?.HandlerLatency as { count?: unknown; sum?: unknown; max?: unknown } | undefined;
  const n = count(stat?.count);
  return {
    requests: count(total.requests),
    created: count(c.Executed),
    replayed: count(c.Replayed) + count(c.ReplayedFromCache),
    conflicts: count(c.Conflict),
    mismatches: count(c.Mismatch),
    failures: count(c.Failed),
    rejected: count(c.Rejected),
    latency: n > 0 ? { count: n, avgMs: count(stat?.sum) / n, maxMs: count(stat?.max) } : null,
  };
}

/** Reads the numbers once, within `timeoutMs`: live, or absent with the reason. */
export async function readMetrics(fetchLike: FetchLike, apiUrl: string, timeoutMs = 2000): Promise<MetricsReading> {
  let res: Response;
  try {
    res = await fetchLike(`${apiUrl.replace(/\/$/, '')}${METRICS_PATH}`, {
      method: 'GET',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    return { kind: 'unreachable', why: `no answer (${e instanceof Error ? e.message : String(e)})` };
  }
  if (!res.ok) return { kind: 'absent', why: `${METRICS_PATH} answered ${res.status}` };
  try {
    return { kind: 'live', numbers: numbersOf(await res.json()) };
  } catch (e) {
    return { kind: 'absent', why: `${METRICS_PATH} is not the local metrics: ${(e as Error).message}` };
  }
}
