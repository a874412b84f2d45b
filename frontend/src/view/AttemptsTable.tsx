// The attempt log as a table: one row per attempt, the row the timeline points at highlighted.
import { memo } from 'react';
import { outcomeLabel, outcomeOf, shortKey, type LogLine } from './attempts';

function sourceLabel(s: string) {
  return s === 'cache'
    ? 'client cache'
    : s === 'queue'
      ? 'offline queue'
      : s === 'shared'
        ? 'shared in-flight'
        : 'network';
}

export const AttemptsTable = memo(function AttemptsTable({
  log,
  selected,
}: {
  log: readonly LogLine[];
  selected: number | null;
}) {
  return (
    <table>
      <caption className="visually-hidden">Every attempt, in the order the answers came</caption>
      <thead>
        <tr>
          <th scope="col">#</th>
          <th scope="col">time</th>
          <th scope="col">key</th>
          <th scope="col">source</th>
          <th scope="col">status</th>
          <th scope="col">outcome</th>
          <th scope="col">latency</th>
          <th scope="col">note</th>
        </tr>
      </thead>
      <tbody data-testid="attempts">
        {log.map((l) => (
          <tr
            key={l.n}
            data-n={l.n}
            data-status={l.status === 0 ? (l.source === 'queue' ? 'queued' : 'network-error') : String(l.status)}
            data-source={l.source}
            data-replayed={String(l.replayed)}
            data-key={l.key}
            data-latency={l.latencyMs.toFixed(1)}
            data-outcome={outcomeOf(l)}
            data-selected={String(l.n === selected)}
            className={`src-${l.source}${l.n === selected ? ' selected' : ''}`}
          >
            <td>{l.n}</td>
            <td>{l.at}</td>
            <td title={l.key}>
              <code>{shortKey(l.key)}</code>
            </td>
            <td>{sourceLabel(l.source)}</td>
            <td>{l.status === 0 ? (l.source === 'queue' ? 'queued' : 'network error') : l.status}</td>
            <td>{outcomeLabel(outcomeOf(l))}</td>
            <td>{l.latencyMs.toFixed(1)} ms</td>
            <td>
              {[
                l.attempt > 0 ? `attempt ${l.attempt}` : '',
                l.retryInMs !== undefined ? `retry in ${l.retryInMs} ms` : '',
                l.note ?? '',
              ]
                .filter(Boolean)
                .join(' · ')}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
});
