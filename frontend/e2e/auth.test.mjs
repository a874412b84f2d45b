// Browser tests with `api.auth: { cognito: {} }`: `up --local` runs its local issuer, the page
// signs users in with it (the user picker) and keeps each user's client cache and queue apart.
// Run: npm run test:browser  (from frontend/; see harness.mjs for what it starts).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { resultsDir, startStack, stopAll } from './harness.mjs';
import { assertAccessible, attempts, fill, ready, settled, watchOrders } from './page.mjs';

const run = Date.now().toString(36);
let stack;

before(
  async () => {
    stack = await startStack({ auth: true });
  },
  { timeout: 40 * 60_000 },
);

after(async () => {
  await stack?.close();
  await stopAll(); // also when the stack failed half-way up
});

/** Without an issuer there is nothing to test: the deployer predates `api.auth` in `up --local`. */
function skipWithoutIssuer(t) {
  if (stack.authIssuer) return false;
  t.skip(
    'this deployer has no auth support in `up --local`: with `api.auth: { cognito: {} }` it printed no ' +
      '"Auth: local issuer <url>" line and wrote no VITE_AUTH_ISSUER',
  );
  return true;
}

/** Signs `sub` in with the user picker and waits for their client. */
async function signIn(page, sub) {
  await page.getByTestId('user-picker').selectOption(sub);
  await page.locator(`[data-testid=signed-in-as][data-subject="${sub}"]`).waitFor();
  await ready(page);
}

/** Submits and answers the last attempt-log row and the order shown. */
async function submit(page) {
  await page.getByTestId('submit').click();
  await settled(page);
  return { last: (await attempts(page)).at(-1), id: await page.getByTestId('order-id').textContent() };
}

describe('the page with api.auth against up --local', () => {
  test("two users, one intent key: each gets their own order, neither sees the other's cached answer", async (t) => {
    if (skipWithoutIssuer(t)) return;
    const context = await stack.browser.newContext({ viewport: { width: 1200, height: 900 } });
    const page = await context.newPage();
    const seen = watchOrders(page);
    await page.goto(stack.origin);
    await page.getByTestId('user-picker').waitFor();
    assert.equal(await page.getByTestId('signed-in-as').getAttribute('data-subject'), '');
    assert.ok(await page.getByTestId('submit').isDisabled(), 'nothing is sent before someone signs in');

    const item = `e2e-users-${run}`;
    await signIn(page, 'alice');
    await page.getByTestId('mode-fingerprint').check(); // the key is the payload's: the same for both users
    await fill(page, item, 2);
    const a = await submit(page);
    assert.equal(a.last.source, 'network');
    assert.equal(a.last.status, '201');

    await signIn(page, 'bob');
    assert.equal(await page.getByTestId('order-id').count(), 0, "alice's order is not shown to bob");
    assert.deepEqual(await attempts(page), [], "alice's attempt log is not shown to bob");
    await page.getByTestId('mode-fingerprint').check();
    await fill(page, item, 2);
    const b = await submit(page);
    assert.equal(b.last.source, 'network', "bob's request went to the API, not to alice's cached answer");
    assert.equal(b.last.status, '201');
    assert.equal(b.last.replayed, 'false', 'the API did not replay alice’s order to bob');
    assert.notEqual(b.id, a.id, 'two users, two orders');
    assert.equal(seen.posts.length, 2);
    assert.equal(seen.posts[0], seen.posts[1], 'both requests carried the same idempotency key');
    assert.match(seen.posts[0], /^[0-9a-f]{64}$/);
    assert.deepEqual(seen.subs, ['alice', 'bob'], 'each request carried its own user’s token');

    // Back and forth: each is answered from their own cache, with their own order, and no request.
    for (const [sub, id] of [
      ['alice', a.id],
      ['bob', b.id],
    ]) {
      await signIn(page, sub);
      await fill(page, item, 2);
      const again = await submit(page);
      assert.equal(again.last.source, 'cache', `${sub}: from the client cache`);
      assert.equal(again.id, id, `${sub} sees their own order`);
    }
    await page.waitForTimeout(300); // anything stray would have been sent by now
    assert.equal(seen.posts.length, 2, 'the cached answers sent no request');
    assert.deepEqual(new Set(seen.ids), new Set([a.id, b.id]));
    const inTable = await stack.countOrders(item);
    assert.equal(inTable, 2, `orders for ${item} in DynamoDB`);
    await assertAccessible(page, 'the signed-in page');
    await page.screenshot({ path: join(resultsDir, 'auth-two-users.png'), fullPage: true });

    await page.getByTestId('sign-out').click();
    await page.locator('[data-testid=signed-in-as][data-subject=""]').waitFor();
    assert.equal(await page.getByTestId('order-id').count(), 0, 'signed out: no order shown');
    await context.close();
  });

  test("bob never sees nor sends alice's queued request; it goes, as alice, when she is back", async (t) => {
    if (skipWithoutIssuer(t)) return;
    const context = await stack.browser.newContext({ viewport: { width: 1200, height: 900 } });
    const page = await context.newPage();
    const seen = watchOrders(page);
    await page.goto(stack.origin);
    const item = `e2e-user-queue-${run}`;
    await signIn(page, 'alice');
    await fill(page, item, 3);
    await context.setOffline(true);
    await page.getByTestId('online').and(page.locator('[data-online=false]')).waitFor();
    await page.getByTestId('submit').click();
    await page.waitForFunction(() => document.querySelector('[data-testid=queued]').dataset.count === '1');
    // Signing out needs no network; signing bob in does (the issuer), so go back online in between.
    await page.getByTestId('sign-out').click();
    await page.locator('[data-testid=signed-in-as][data-subject=""]').waitFor();
    await context.setOffline(false);
    await page.getByTestId('online').and(page.locator('[data-online=true]')).waitFor();

    await signIn(page, 'bob'); // his client replays his queue at start: empty
    assert.equal(await page.getByTestId('queued').getAttribute('data-count'), '0', "alice's queue is not bob's");
    await page.waitForTimeout(500); // anything stray would have been sent by now
    assert.deepEqual(seen.posts, [], "alice's queued request was not sent, signed out nor while bob is signed in");
    assert.equal(await stack.countOrders(item), 0);

    await signIn(page, 'alice'); // her client replays her queue at start
    await settled(page);
    const replayed = (await attempts(page)).filter((a) => a.source === 'queue' && a.status === '201');
    assert.equal(replayed.length, 1, 'sent once from her offline queue');
    assert.deepEqual(seen.subs, ['alice'], 'with alice’s token');
    assert.equal(await stack.countOrders(item), 1);
    await context.close();
  });
});
