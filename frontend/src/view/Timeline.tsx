// The attempt log drawn: one lane per intent (key), time across, each attempt a mark from its send
// to its answer, coloured by outcome. Overlapping attempts of one intent (a race) stack in rows of
// their lane, so a race reads as one created mark and a column of replays; a request queued
// offline is a mark joined by a dashed line to the request sent when the browser was back.
// One tab stop: the arrow keys move between marks, Enter picks the mark's intent for the Order
// panel; hovering or focusing a mark shows its row.
import { memo, useMemo, useRef, type KeyboardEvent, type SyntheticEvent } from 'react';
import {
  OUTCOMES,
  countOutcomes,
  describe,
  lanesOf,
  outcomeColor,
  outcomeLabel,
  outcomeOf,
  shortKey,
  startMs,
  type Lane,
  type LogLine,
} from './attempts';

const WIDTH = 1000;
const LABEL_WIDTH = 150;
const ROW_HEIGHT = 7;
const LANE_PAD = 6;
const LANE_MIN = 30;
const MIN_MARK = 3;

interface Placed {
  line: LogLine;
  row: number;
}

interface LaneLayout {
  lane: Lane;
  top: number;
  height: number;
  placed: Placed[];
}

/** Packs a lane's attempts into rows so that no two overlapping ones share a row. */
function pack(lane: Lane, x: (ms: number) => number): Placed[] {
  const rowEnds: number[] = [];
  const sorted = [...lane.lines].sort((a, b) => startMs(a) - startMs(b) || a.n - b.n);
  return sorted.map((line) => {
    const from = x(startMs(line));
    const to = Math.max(x(line.endMs), from + MIN_MARK);
    let row = rowEnds.findIndex((end) => end <= from);
    if (row === -1) row = rowEnds.push(to) - 1;
    else rowEnds[row] = to;
    return { line, row };
  });
}

function laneSummary(lane: Lane): string {
  return [...countOutcomes(lane.lines)].map(([o, n]) => `${n} ${outcomeLabel(o)}`).join(', ');
}

export interface TimelineProps {
  log: readonly LogLine[];
  /** The attempt whose row is shown (hovered or focused). */
  selected: number | null;
  onSelect: (n: number | null) => void;
  /** The intent the Order panel shows. */
  focusKey: string | null;
  onPickIntent: (key: string) => void;
}

export const Timeline = memo(function Timeline({ log, selected, onSelect, focusKey, onPickIntent }: TimelineProps) {
  const svg = useRef<SVGSVGElement>(null);
  const layout = useMemo(() => {
    const lanes = lanesOf(log);
    const t0 = Math.min(...log.map(startMs));
    const t1 = Math.max(...log.map((l) => l.endMs));
    const span = Math.max(t1 - t0, 1);
    const x = (ms: number) => LABEL_WIDTH + ((ms - t0) / span) * (WIDTH - LABEL_WIDTH - MIN_MARK);
    let top = 0;
    const out: LaneLayout[] = lanes.map((lane) => {
      const placed = pack(lane, x);
      const rows = Math.max(...placed.map((p) => p.row)) + 1;
      const height = Math.max(LANE_MIN, rows * ROW_HEIGHT + 2 * LANE_PAD);
      const l = { lane, top, height, placed };
      top += height;
      return l;
    });
    return { lanes: out, x, height: top, span };
  }, [log]);

  if (log.length === 0) return null;
  const tabStop = selected ?? log[log.length - 1].n;
  const selectedLine = log.find((l) => l.n === selected);

  // The marks' events are handled once, on the drawing (thousands of marks, no handler each).
  const markOf = (e: SyntheticEvent) => {
    const el = (e.target as Element).closest('[data-testid=mark]') as SVGElement | null;
    const key = el?.closest('[data-testid=lane]')?.getAttribute('data-key');
    return el && key ? { n: Number(el.dataset.n), key } : null;
  };
  const show = (e: SyntheticEvent) => {
    const m = markOf(e);
    if (m) onSelect(m.n);
  };
  const pick = (e: SyntheticEvent) => {
    const m = markOf(e);
    const lane = (e.target as Element).closest('[data-testid=lane]')?.getAttribute('data-key');
    if (m) onPickIntent(m.key);
    else if (lane) onPickIntent(lane);
  };

  // Enter or Space picks the mark's intent; the arrow keys move left/right along the lane (in
  // time), up/down to the lane above or below, Home/End to the lane's ends.
  const keys = (e: KeyboardEvent<SVGSVGElement>) => {
    if (e.key === 'Enter' || e.key === ' ') {
      const m = markOf(e);
      if (m) {
        e.preventDefault();
        onPickIntent(m.key);
      }
      return;
    }
    const current = selected ?? tabStop;
    const li = layout.lanes.findIndex((l) => l.placed.some((p) => p.line.n === current));
    if (li === -1) return;
    const order = (l: LaneLayout) => l.placed.map((p) => p.line.n);
    const here = order(layout.lanes[li]);
    const at = here.indexOf(current);
    let next: number | undefined;
    if (e.key === 'ArrowRight') next = here[Math.min(at + 1, here.length - 1)];
    else if (e.key === 'ArrowLeft') next = here[Math.max(at - 1, 0)];
    else if (e.key === 'ArrowDown') next = order(layout.lanes[Math.min(li + 1, layout.lanes.length - 1)])[0];
    else if (e.key === 'ArrowUp') next = order(layout.lanes[Math.max(li - 1, 0)])[0];
    else if (e.key === 'Home') next = here[0];
    else if (e.key === 'End') next = here[here.length - 1];
    else return;
    e.preventDefault();
    onSelect(next);
    svg.current?.querySelector<SVGElement>(`[data-testid=mark][data-n="${next}"]`)?.focus();
  };

  return (
    <figure className="timeline" data-testid="timeline">
      <figcaption id="timeline-title">
        Timeline: one lane per intent (key), time across ({layout.span.toFixed(0)} ms); each mark runs from a
        request&apos;s send to its answer. Arrow keys move between marks; Enter shows the intent&apos;s order.
      </figcaption>
      <ul className="legend" aria-label="Outcomes">
        {OUTCOMES.map((o) => (
          <li key={o.outcome}>
            <span className="swatch" style={{ background: o.color }} aria-hidden="true" /> {o.label}
          </li>
        ))}
      </ul>
      <svg
        viewBox={`0 0 ${WIDTH} ${layout.height}`}
        width="100%"
        role="group"
        aria-labelledby="timeline-title"
        ref={svg}
        onKeyDown={keys}
        onMouseOver={show}
        onFocus={show}
        onClick={pick}
        onMouseLeave={() => onSelect(null)}
      >
        {layout.lanes.map(({ lane, top, height, placed }) => {
          const picked = lane.key === focusKey;
          const queued = placed.find((p) => outcomeOf(p.line) === 'queued');
          const sent = queued && placed.find((p) => p.line.n > queued.line.n && outcomeOf(p.line) !== 'queued');
          const y = (row: number) => top + LANE_PAD + row * ROW_HEIGHT;
          return (
            <g
              key={lane.key}
              role="group"
              aria-label={`intent ${shortKey(lane.key)}: ${laneSummary(lane)}`}
              data-testid="lane"
              data-key={lane.key}
              data-picked={String(picked)}
            >
              <rect x={0} y={top} width={WIDTH} height={height} className={picked ? 'lane picked' : 'lane'} />
              <text x={4} y={top + 14} className="lane-key">
                {shortKey(lane.key)}
              </text>
              <text x={4} y={top + 25} className="lane-count">
                {lane.lines.length} attempt{lane.lines.length === 1 ? '' : 's'}
              </text>
              {queued && sent ? (
                <line
                  x1={layout.x(queued.line.endMs)}
                  y1={y(queued.row) + ROW_HEIGHT / 2}
                  x2={layout.x(startMs(sent.line))}
                  y2={y(sent.row) + ROW_HEIGHT / 2}
                  className="queued-link"
                />
              ) : null}
              {placed.map(({ line, row }) => {
                const from = layout.x(startMs(line));
                const outcome = outcomeOf(line);
                return (
                  <rect
                    key={line.n}
                    x={from}
                    y={y(row) + 1}
                    width={Math.max(layout.x(line.endMs) - from, MIN_MARK)}
                    height={ROW_HEIGHT - 2}
                    fill={outcomeColor(outcome)}
                    className={line.n === selected ? 'mark selected' : 'mark'}
                    role="button"
                    tabIndex={line.n === tabStop ? 0 : -1}
                    aria-label={describe(line)}
                    data-testid="mark"
                    data-n={line.n}
                    data-outcome={outcome}
                  />
                );
              })}
            </g>
          );
        })}
      </svg>
      <p data-testid="timeline-detail" className="meta" aria-live="polite">
        {selectedLine ? describe(selectedLine) : 'Hover or focus a mark to see its attempt.'}
      </p>
    </figure>
  );
});
