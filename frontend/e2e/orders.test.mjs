// Browser tests: the built page in Debian's Chromium (playwright-core) against `up --local`.
// Run: npm run test:browser  (from frontend/; see harness.mjs for what it starts).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { resultsDir, startStack, stopAll } from './harness.mjs';
import { assertAccessible, attempts, expectedOutcome, fill, lanes, ready, settled, watchOrders } from './page.mjs';

const run = Date.now().toString(36);
let stack;

before(
  async () => {
    stack = await startStack();
  },
  { timeout: 40 * 60_000 },
);

after(async () => {
  await stack?.close();
  await stopAll(); // also when the stack failed half-way up
});

/** A fresh browser context (empty IndexedDB) on the page, recording every POST /orders. */
async function openPage() {
  const context = await stack.browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  // posts, ids, and created: 201 answers that were not replays, the server's own count of new orders
  const { posts, subs, ids, created } = watchOrders(page);
  await page.goto(stack.origin);
  await ready(page);
  assert.equal(await page.getByTestId('api-url').textContent(), stack.apiUrl);
  assert.equal(await page.getByTestId('user-picker').count(), 0, 'no sign-in without api.auth');
  return { context, page, posts, subs, ids, created };
}

async function assertOneOrder(item, seen) {
  const inTable = await stack.countOrders(item);
  if (inTable !== null) assert.equal(inTable, 1, `orders for ${item} in DynamoDB`);
  assert.equal(seen.ids.size, 1, `distinct order ids in the answers: ${[...seen.ids]}`);
  assert.equal(seen.created.length, 1, 'answers that were not replays');
  assert.ok(
    seen.subs.every((sub) => sub === null),
    'no Authorization header without api.auth',
  );
}

describe('the page against up --local', () => {
  test('double-clicking submit makes exactly one order', async () => {
    const s = await openPage();
    const item = `e2e-dblclick-${run}`;
    await fill(s.page, item, 2);
    await s.page.getByTestId('submit').dblclick();
    await settled(s.page);
    await s.page.waitForTimeout(300); // anything stray would have been sent by now
    const id = await s.page.getByTestId('order-id').textContent();
    assert.deepEqual([...s.ids], [id]);
    assert.ok(s.posts.length >= 1 && new Set(s.posts).size === 1, `one key for the intent: ${s.posts}`);
    await assertOneOrder(item, s);
    await s.context.close();
  });

  test('a race of 20 identical requests makes exactly one order', async () => {
    const s = await openPage();
    const item = `e2e-race-${run}`;
    await fill(s.page, item, 3);
    await s.page.getByTestId('race-count').fill('20');
    await s.page.getByTestId('work-ms').fill('300'); // the first is still working while the rest arrive
    await s.page.getByTestId('race').click();
    await s.page.getByTestId('message').filter({ hasText: 'Race of 20' }).waitFor({ timeout: 60_000 });
    await settled(s.page);
    assert.ok(s.posts.length >= 20, `20 requests sent (${s.posts.length} with retries)`);
    assert.equal(new Set(s.posts).size, 1, 'all with one key');
    const log = await attempts(s.page);
    assert.ok(
      log.some((a) => a.status === '409'),
      'the requests overlapped on the server (some got 409 + Retry-After)',
    );
    const finals = log.filter((a) => a.source === 'network' && a.status !== '409');
    assert.ok(
      finals.every((a) => a.status === '201'),
      `final statuses: ${finals.map((a) => a.status)}`,
    );
    assert.equal(finals.filter((a) => a.replayed === 'false').length, 1, 'one created, the rest replayed');
    await assertOneOrder(item, s);
    await s.page.screenshot({ path: join(resultsDir, 'race.png'), fullPage: true });
    await s.context.close();
  });

  test('offline, submit, back online: the queued request makes exactly one order', async () => {
    const s = await openPage();
    const item = `e2e-offline-${run}`;
    await fill(s.page, item, 4);
    await s.context.setOffline(true);
    await s.page.getByTestId('online').and(s.page.locator('[data-online=false]')).waitFor();
    await s.page.getByTestId('submit').click();
    await s.page.getByTestId('submit').click(); // the same intent again while offline: still one queued request
    await s.page.waitForFunction(() => document.querySelector('[data-testid=queued]').dataset.count === '1');
    const queued = (await attempts(s.page)).filter((a) => a.source === 'queue' && a.status === 'queued');
    assert.ok(queued.length >= 1, 'the attempt log shows the request queued');
    assert.equal(await s.page.getByTestId('order-id').count(), 0);
    await s.page.screenshot({ path: join(resultsDir, 'offline-queued.png'), fullPage: true });
    await s.context.setOffline(false);
    await settled(s.page);
    const replayed = (await attempts(s.page)).filter((a) => a.source === 'queue' && a.status === '201');
    assert.equal(replayed.length, 1, 'sent once from the offline queue');
    await assertOneOrder(item, s);
    await s.context.close();
  });

  test('the Order panel shows the intent submitted last, not a late answer of an earlier one', async () => {
    const s = await openPage();
    // A race that takes its time (the first request works 1.5 s, the rest wait and retry)...
    await fill(s.page, `e2e-stale-race-${run}`, 1);
    await s.page.getByTestId('race-count').fill('5');
    await s.page.getByTestId('work-ms').fill('1500');
    await s.page.getByTestId('race').click();
    // ...and while it runs, another order, answered first.
    await s.page.getByTestId('work-ms').fill('0');
    const item = `e2e-stale-later-${run}`;
    await fill(s.page, item, 2);
    await s.page.getByTestId('submit').click();
    await s.page.locator('dl.order dd', { hasText: item }).waitFor({ timeout: 30_000 });
    const later = await s.page.getByTestId('order-id').textContent();
    await settled(s.page); // the race has ended too
    assert.ok(s.ids.size === 2, `two orders were made: ${[...s.ids]}`);
    assert.equal(await s.page.getByTestId('order-id').textContent(), later, 'the race did not take the panel back');
    assert.ok(await s.page.locator('dl.order dd', { hasText: item }).isVisible());
    await s.context.close();
  });

  test('the timeline, the Order panel and the stack numbers tell what happened', async () => {
    const s = await openPage();
    const page = s.page;
    const orderItem = () => page.getByTestId('order-item').textContent();
    const item = (name) => `e2e-journey-${name}-${run}`;

    // A double click: one intent.
    await fill(page, item('a'), 1);
    await page.getByTestId('submit').dblclick();
    await settled(page);
    assert.equal(await orderItem(), item('a'));

    // A race of 20: another intent.
    await fill(page, item('b'), 2);
    await page.getByTestId('race-count').fill('20');
    await page.getByTestId('work-ms').fill('300');
    await page.getByTestId('race').click();
    await page.getByTestId('message').filter({ hasText: 'Race of 20' }).waitFor({ timeout: 60_000 });
    await settled(page);
    assert.equal(await orderItem(), item('b'));
    await page.getByTestId('work-ms').fill('0');

    // Offline: the panel has no order for the queued intent until the browser is back.
    await fill(page, item('c'), 3);
    await s.context.setOffline(true);
    await page.getByTestId('online').and(page.locator('[data-online=false]')).waitFor();
    await page.getByTestId('submit').click();
    await page.waitForFunction(() => document.querySelector('[data-testid=queued]').dataset.count === '1');
    assert.equal(await page.getByTestId('order-item').count(), 0, 'no order yet for the queued intent');
    await s.context.setOffline(false);
    await settled(page);
    assert.equal(await orderItem(), item('c'));

    // The last key again with another payload: 422, and the panel keeps that key's order.
    await fill(page, item('d'), 4);
    await page.getByTestId('reuse-key').click();
    await page.getByTestId('message').filter({ hasText: '422' }).waitFor({ timeout: 30_000 });
    assert.equal(await orderItem(), item('c'));

    // The timeline: one lane per key, in order, each mark one attempt row with its outcome.
    const rows = await attempts(page);
    const drawn = await lanes(page);
    const keys = [...new Set(rows.map((r) => r.key))];
    assert.deepEqual(
      drawn.map((l) => l.key),
      keys,
      'one lane per intent, in the order they appeared',
    );
    assert.equal(keys.length, 3, 'the double click, the race, the offline order (reused by the 422)');
    for (const lane of drawn) {
      const mine = rows.filter((r) => r.key === lane.key);
      assert.deepEqual(
        lane.marks.map((m) => m.n).sort((a, b) => a - b),
        mine.map((r) => Number(r.n)),
        `lane ${lane.key}: a mark per attempt`,
      );
      for (const m of lane.marks) {
        const row = mine.find((r) => Number(r.n) === m.n);
        assert.equal(m.outcome, expectedOutcome(row), `attempt ${m.n}: ${JSON.stringify(row)}`);
        assert.equal(row.outcome, m.outcome, `the row and the mark of attempt ${m.n} agree`);
        assert.match(m.label, new RegExp(`^#${m.n}, `), 'each mark has a text alternative');
      }
    }
    const count = (lane, outcome) => lane.marks.filter((m) => m.outcome === outcome).length;
    const [dbl, raced, offline] = drawn;
    assert.equal(count(dbl, 'created'), 1, 'the double click: one created');
    assert.equal(count(raced, 'created'), 1, 'the race: one execution');
    assert.equal(count(raced, 'replayed'), 19, 'the race: nineteen replays');
    assert.ok(count(raced, 'conflict') >= 1, 'the race overlapped on the server (409, retried)');
    assert.ok(count(offline, 'queued') >= 1 && count(offline, 'created') === 1, 'queued, then created');
    assert.ok(offline.queuedLink, 'the queued mark is joined to the request sent when back online');
    assert.equal(count(offline, 'mismatch'), 1, 'the reused key with another payload');

    // Hover a mark: its row is shown. Enter on a mark of the first lane: its order in the panel.
    const first = raced.marks[0].n;
    await page.locator(`[data-testid=mark][data-n="${first}"]`).hover();
    await page.locator(`tr[data-n="${first}"][data-selected=true]`).waitFor();
    assert.match(await page.getByTestId('timeline-detail').textContent(), new RegExp(`^#${first}, `));
    await page.locator(`[data-testid=mark][data-n="${dbl.marks[0].n}"]`).focus();
    await page.keyboard.press('Enter');
    await page.locator(`[data-testid=lane][data-key="${dbl.key}"][data-picked=true]`).waitFor();
    assert.equal(await orderItem(), item('a'), 'the intent picked in the timeline');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    assert.equal(await orderItem(), item('b'), 'the arrow keys move to the next lane');

    // The stack's numbers are the ones `/_oncely/metrics` reports.
    const metricsUrl = `${stack.apiUrl.replace(/\/$/, '')}/_oncely/metrics`;
    const panel = async () =>
      page
        .locator('[data-testid=metrics] dd[data-value]')
        .evaluateAll((dds) => Object.fromEntries(dds.map((d) => [d.dataset.testid.slice(7), Number(d.dataset.value)])));
    let want;
    let shown;
    for (let i = 0; i < 40; i++) {
      const t = (await (await fetch(metricsUrl)).json()).total;
      const c = (k) => t.counts[k] ?? 0;
      want = {
        requests: t.requests,
        created: c('Executed'),
        replayed: c('Replayed') + c('ReplayedFromCache'),
        conflicts: c('Conflict'),
        mismatches: c('Mismatch'),
        failures: c('Failed'),
        rejected: c('Rejected'),
      };
      shown = await panel();
      if (JSON.stringify(shown) === JSON.stringify(want)) break;
      await page.waitForTimeout(500);
    }
    assert.deepEqual(shown, want, 'the panel shows what the endpoint reports');
    assert.ok(want.mismatches >= 1 && want.created >= 3 && want.replayed >= 19, JSON.stringify(want));
    assert.match(await page.getByTestId('metric-latency').textContent(), /^avg \d+\.\d ms, max \d+\.\d ms$/);

    await assertAccessible(page, 'the orders page after a journey');
    await page.screenshot({ path: join(resultsDir, 'timeline.png'), fullPage: true });
    await s.context.close();
  });

  test('fingerprint mode: an identical second submit is answered from the client cache, no request', async () => {
    const s = await openPage();
    const item = `e2e-fingerprint-${run}`;
    await s.page.getByTestId('mode-fingerprint').check();
    await fill(s.page, item, 5);
    await s.page.getByTestId('submit').click();
    await settled(s.page);
    const postsBefore = s.posts.length;
    assert.equal(postsBefore, 1);
    assert.match(s.posts[0], /^[0-9a-f]{64}$/, 'the key is a SHA-256 fingerprint');
    const rowsBefore = (await attempts(s.page)).length;

    await s.page.getByTestId('item').fill(''); // retype the same payload: same fingerprint
    await fill(s.page, item, 5);
    await s.page.getByTestId('submit').click();
    await s.page.waitForFunction(
      (n) => document.querySelector('[data-testid=attempts]').children.length > n,
      rowsBefore,
    );
    const last = (await attempts(s.page)).at(-1);
    assert.equal(last.source, 'cache');
    assert.equal(last.status, '201');
    // Its latency is measured by `npm run bench`, not asserted here.
    await s.page.waitForTimeout(300);
    assert.equal(s.posts.length, postsBefore, 'no network request for the cached answer');
    await assertOneOrder(item, s);
    await s.page.screenshot({ path: join(resultsDir, 'fingerprint-cache.png'), fullPage: true });
    await s.context.close();
  });
});
