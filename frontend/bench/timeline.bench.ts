/**
 * The timeline's cost with many attempts: rendering it (layout of the lanes and rows, and every
 * mark) to markup for 300, 3,000 and 10,000 attempts, side by side in one run. The goal: a few
 * thousand marks within a frame or two (3,000 in under 50 ms here; the browser's own SVG layout
 * comes on top), and no cliff beyond.
 *
 *   cd frontend && NODE_ENV=production npx vitest bench --run bench/timeline.bench.ts
 *
 * (`NODE_ENV=production`: React's production build and JSX runtime, as the page ships; `npm run
 * bench` sets it. Without it vitest loads React's development build, several times slower.)
 */
import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import { bench, describe } from 'vitest';
import { Timeline } from '../src/view/Timeline';
import type { LogLine } from '../src/view/attempts';

/** `n` attempts as a busy page makes them: races of 20 (409s, then replays) and single orders. */
function log(n: number): LogLine[] {
  const out: LogLine[] = [];
  let t = 0;
  for (let i = 0; out.length < n; i++) {
    const key = `${i.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`;
    const race = i % 3 === 0 ? 20 : 1;
    for (let j = 0; j < race && out.length < n; j++) {
      const conflict = j > 0 && j % 4 === 0;
      out.push({
        n: out.length + 1,
        at: '12:00:00.000',
        endMs: t + 30 + j,
        key,
        source: 'network',
        status: conflict ? 409 : 201,
        replayed: j > 0 && !conflict,
        latencyMs: 25 + (j % 7),
        attempt: 1,
      });
    }
    t += 40;
  }
  return out;
}

const render = (lines: LogLine[]) =>
  renderToString(
    createElement(Timeline, { log: lines, selected: null, onSelect: () => {}, focusKey: null, onPickIntent: () => {} }),
  );

describe('timeline render (goal: 3,000 marks < 50 ms)', () => {
  const small = log(300);
  const goal = log(3_000);
  const large = log(10_000);
  bench('300 marks', () => void render(small));
  bench('3,000 marks', () => void render(goal));
  bench('10,000 marks', () => void render(large));
});
