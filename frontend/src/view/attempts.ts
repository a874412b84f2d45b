// What the page makes of its attempt log: each attempt's outcome (one kind, with a label for
// people and a colour), and the log grouped into one lane per intent (key) for the timeline.
import type { AttemptEvent } from '../idempotency';

/** One line of the attempt log: an attempt and when its answer came (`endMs`, page clock). */
export interface LogLine extends AttemptEvent {
  /** 1-based, in the order the answers came. */
  n: number;
  /** The answer's wall-clock time, `HH:MM:SS.mmm`. */
  at: string;
  /** When the answer came, in `performance.now()` milliseconds. */
  endMs: number;
}

/** What happened to one attempt. */
export type Outcome =
  | 'created'
  | 'replayed'
  | 'shared'
  | 'cache'
  | 'conflict'
  | 'mismatch'
  | 'client-error'
  | 'server-error'
  | 'queued'
  | 'network-error';

/** Every outcome, in the legend's order, with its label and colour. */
export const OUTCOMES: readonly { outcome: Outcome; label: string; color: string }[] = [
  { outcome: 'created', label: 'created', color: '#1a7f37' },
  { outcome: 'replayed', label: 'replayed by the server', color: '#0969da' },
  { outcome: 'shared', label: 'shared an identical request in flight', color: '#54aeff' },
  { outcome: 'cache', label: 'answered from the client cache', color: '#8250df' },
  { outcome: 'conflict', label: 'in flight elsewhere (409), retried', color: '#bf8700' },
  { outcome: 'mismatch', label: 'key reused with another payload (422)', color: '#cf222e' },
  { outcome: 'client-error', label: 'other 4xx', color: '#d1242f' },
  { outcome: 'server-error', label: '5xx', color: '#82071e' },
  { outcome: 'queued', label: 'queued offline', color: '#6e7781' },
  { outcome: 'network-error', label: 'network error', color: '#24292f' },
];

const byOutcome = new Map(OUTCOMES.map((o) => [o.outcome, o]));

export function outcomeLabel(o: Outcome): string {
  return byOutcome.get(o)!.label;
}

export function outcomeColor(o: Outcome): string {
  return byOutcome.get(o)!.color;
}

/** The outcome of one attempt, from its source, status and the replay header. */
export function outcomeOf(a: Pick<AttemptEvent, 'source' | 'status' | 'replayed'>): Outcome {
  if (a.source === 'cache') return 'cache';
  if (a.status === 0) return a.source === 'queue' ? 'queued' : 'network-error';
  if (a.status >= 200 && a.status < 300) {
    if (a.source === 'shared') return 'shared';
    return a.replayed ? 'replayed' : 'created';
  }
  if (a.status === 409) return 'conflict';
  if (a.status === 422) return 'mismatch';
  if (a.status >= 500) return 'server-error';
  return 'client-error';
}

/** When an attempt was sent, on the page clock. */
export function startMs(l: LogLine): number {
  return l.endMs - l.latencyMs;
}

/** One intent's attempts, in the order they were answered. */
export interface Lane {
  key: string;
  lines: LogLine[];
}

/** The log as lanes: one per key, in the order each key first appears. */
export function lanesOf(log: readonly LogLine[]): Lane[] {
  const lanes = new Map<string, Lane>();
  for (const l of log) {
    let lane = lanes.get(l.key);
    if (!lane) lanes.set(l.key, (lane = { key: l.key, lines: [] }));
    lane.lines.push(l);
  }
  return [...lanes.values()];
}

/** How many attempts of each outcome a lane (or any list) holds. */
export function countOutcomes(lines: readonly LogLine[]): Map<Outcome, number> {
  const m = new Map<Outcome, number>();
  for (const l of lines) {
    const o = outcomeOf(l);
    m.set(o, (m.get(o) ?? 0) + 1);
  }
  return m;
}

/** A key as shown: its first 8 and last 4 characters. */
export function shortKey(key: string): string {
  return key.length > 13 ? `${key.slice(0, 8)}…${key.slice(-4)}` : key;
}

/** What a screen reader hears for one attempt (and the timeline's detail line shows). */
export function describe(l: LogLine): string {
  const parts = [
    `#${l.n}`,
    outcomeLabel(outcomeOf(l)),
    l.status === 0 ? '' : `status ${l.status}`,
    `key ${shortKey(l.key)}`,
    `${l.latencyMs.toFixed(1)} ms`,
    l.attempt > 0 ? `attempt ${l.attempt}` : '',
    l.retryInMs !== undefined ? `retry in ${l.retryInMs} ms` : '',
    `answered at ${l.at}`,
  ];
  return parts.filter(Boolean).join(', ');
}
