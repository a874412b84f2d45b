// Browser tests: the built page in Debian's Chromium (playwright-core) against `up --local`.
// Run: npm run test:browser  (from frontend/; see harness.mjs for what it starts).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { resultsDir, startStack, stopAll } from './harness.mjs';
import { attempts, fill, ready, settled, watchOrders } from './page.mjs';

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
