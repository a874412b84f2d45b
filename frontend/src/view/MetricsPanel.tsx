// The stack's numbers next to the page's own: with `up --local`, the outcome counts and handler
// latency the function's EMF lines report (`GET /_oncely/metrics`), read every few seconds; on a
// deployed stack (no such path) the panel says where the numbers are instead. Without an answer
// (offline, say) it keeps the last numbers, marked as such, and asks again.
import { useEffect, useState } from 'react';
import { readMetrics, type StackNumbers } from './metrics';

type PanelState =
  | { kind: 'loading' }
  | { kind: 'live'; numbers: StackNumbers; stale: string | null }
  | { kind: 'absent'; why: string }
  | { kind: 'unreachable'; why: string };

export function MetricsPanel({ apiUrl, everyMs = 3000 }: { apiUrl: string; everyMs?: number }) {
  const [state, setState] = useState<PanelState>({ kind: 'loading' });
  useEffect(() => {
    if (!apiUrl) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      const next = await readMetrics((url, init) => fetch(url, init), apiUrl);
      if (stopped) return;
      if (next.kind === 'live') setState({ kind: 'live', numbers: next.numbers, stale: null });
      else if (next.kind === 'absent') setState(next);
      else setState((s) => (s.kind === 'live' ? { ...s, stale: next.why } : next));
      // A deployed stack will not grow the path: it is asked once.
      if (next.kind !== 'absent') timer = setTimeout(() => void tick(), everyMs);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [apiUrl, everyMs]);

  if (state.kind === 'absent') {
    return (
      <section aria-labelledby="metrics-title" data-testid="metrics" data-state="absent">
        <h2 id="metrics-title">Stack numbers</h2>
        <p className="meta">
          Only <code>up --local</code> serves them here ({state.why}). For a deployed stack, the function&apos;s metrics
          are in CloudWatch: <code>cargo run -- status</code> shows the alarms and{' '}
          <code>cargo run -- logs --follow</code> the log lines (see{' '}
          <a href="https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format.html">
            CloudWatch&apos;s embedded metric format
          </a>
          ).
        </p>
      </section>
    );
  }
  if (state.kind === 'loading' || state.kind === 'unreachable') {
    return (
      <section aria-labelledby="metrics-title" data-testid="metrics" data-state={state.kind}>
        <h2 id="metrics-title">Stack numbers</h2>
        <p className="meta">{state.kind === 'loading' ? 'reading…' : `not read yet: ${state.why}; trying again`}</p>
      </section>
    );
  }
  const n = state.numbers;
  const cells: [string, string, number][] = [
    ['requests', 'requests', n.requests],
    ['created', 'created', n.created],
    ['replayed', 'replayed', n.replayed],
    ['conflicts', 'conflicts (409)', n.conflicts],
    ['mismatches', 'mismatches (422)', n.mismatches],
    ['failures', 'failures', n.failures],
    ['rejected', 'rejected (400)', n.rejected],
  ];
  return (
    <section aria-labelledby="metrics-title" data-testid="metrics" data-state={state.stale ? 'stale' : 'live'}>
      <h2 id="metrics-title">Stack numbers</h2>
      <p className="meta">
        What the function reported (its EMF lines, summed by the local stack), read every {everyMs / 1000} s
        {state.stale ? ` (the last read: now ${state.stale})` : ''}.
      </p>
      <dl className="numbers">
        {cells.map(([id, label, value]) => (
          <div key={id}>
            <dt>{label}</dt>
            <dd data-testid={`metric-${id}`} data-value={value}>
              {value}
            </dd>
          </div>
        ))}
        <div>
          <dt>handler latency</dt>
          <dd data-testid="metric-latency">
            {n.latency ? `avg ${n.latency.avgMs.toFixed(1)} ms, max ${n.latency.maxMs.toFixed(1)} ms` : '–'}
          </dd>
        </div>
      </dl>
    </section>
  );
}
