// What the browser tests do on the page: watch its POST /orders, fill the form, wait for it to
// settle, read the attempt log. Shared by orders.test.mjs and auth.test.mjs.

/** The `sub` of a `Bearer <jwt>` header (the payload only; the API checks signatures), or null. */
export function bearerSubject(authorization) {
  const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
  if (!token) return null;
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')).sub ?? null;
}

/**
 * Records the page's POST /orders: `posts` (their keys), `subs` (whose token each carried, null
 * without one), `ids` (distinct order ids in 201 answers) and `created` (201s that were not replays).
 */
export function watchOrders(page) {
  const seen = { posts: [], subs: [], ids: new Set(), created: [] };
  page.on('request', (r) => {
    if (r.method() !== 'POST' || new URL(r.url()).pathname !== '/orders') return;
    seen.posts.push(r.headers()['idempotency-key']);
    seen.subs.push(bearerSubject(r.headers()['authorization']));
  });
  page.on('response', async (r) => {
    if (r.request().method() !== 'POST' || new URL(r.url()).pathname !== '/orders' || r.status() !== 201) return;
    const body = await r.json().catch(() => null);
    if (body?.id) seen.ids.add(body.id);
    if ((await r.allHeaders())['idempotent-replayed'] !== 'true') seen.created.push(body?.id);
  });
  page.on('pageerror', (e) => console.error('page error:', e));
  return seen;
}

export async function fill(page, item, quantity = 1) {
  await page.getByTestId('item').fill(item);
  await page.getByTestId('quantity').fill(String(quantity));
}

/** Waits until the page's client is ready (submit enabled). */
export async function ready(page) {
  await page.getByTestId('submit').waitFor({ state: 'visible' });
  await page.waitForFunction(() => !document.querySelector('[data-testid=submit]').disabled);
}

/** Waits until nothing is in flight or queued, and the order is shown. */
export async function settled(page) {
  await page.getByTestId('order-id').waitFor({ timeout: 30_000 });
  await page.waitForFunction(
    () =>
      document.querySelector('[data-testid=pending]').dataset.count === '0' &&
      document.querySelector('[data-testid=queued]').dataset.count === '0',
    null,
    { timeout: 30_000 },
  );
}

/** The timeline's lanes: each with its key and its marks (`n`, `outcome`) in the order drawn. */
export async function lanes(page) {
  return page.getByTestId('lane').evaluateAll((gs) =>
    gs.map((g) => ({
      key: g.dataset.key,
      picked: g.dataset.picked === 'true',
      marks: [...g.querySelectorAll('[data-testid=mark]')].map((m) => ({
        n: Number(m.dataset.n),
        outcome: m.dataset.outcome,
        label: m.getAttribute('aria-label'),
      })),
      queuedLink: g.querySelector('.queued-link') !== null,
    })),
  );
}

/** What an attempt row's outcome must be, from its status, source and replay header alone. */
export function expectedOutcome(row) {
  if (row.source === 'cache') return 'cache';
  if (row.status === 'queued') return 'queued';
  if (row.status === 'network-error') return 'network-error';
  const status = Number(row.status);
  if (status >= 200 && status < 300) {
    if (row.source === 'shared') return 'shared';
    return row.replayed === 'true' ? 'replayed' : 'created';
  }
  if (status === 409) return 'conflict';
  if (status === 422) return 'mismatch';
  return status >= 500 ? 'server-error' : 'client-error';
}

/**
 * Runs axe-core (the pinned npm package) on the page and fails on any serious or critical
 * violation, naming each with the elements it found.
 */
export async function assertAccessible(page, what) {
  const { createRequire } = await import('node:module');
  const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
  await page.addScriptTag({ path: axePath });
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const report = bad.map(
    (v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`,
  );
  if (bad.length > 0)
    throw new Error(`${what}: axe-core found ${bad.length} serious or critical violation(s):\n${report.join('\n')}`);
  return result.violations.length;
}

/** The attempt log's rows, as their data attributes. */
export async function attempts(page) {
  return page
    .getByTestId('attempts')
    .locator(':scope > *')
    .evaluateAll((rows) => rows.map((r) => ({ ...r.dataset })));
}
